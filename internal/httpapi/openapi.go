package httpapi

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"slices"
	"sync"

	"gopkg.in/yaml.v3"
)

// openAPIYAML is the API's contract, written by hand: every route,
// parameter, schema, status and error code. The end-to-end tests validate
// every request and response against it, so it cannot drift from the code.
//
//go:embed openapi.yaml
var openAPIYAML []byte

// OpenAPI returns the OpenAPI 3.0 document of the API, as written (YAML).
func OpenAPI() []byte { return slices.Clone(openAPIYAML) }

// OpenAPIJSON returns the OpenAPI document as JSON. It is converted on
// first use, not at init, so that no function's cold start pays for it.
func OpenAPIJSON() []byte { return slices.Clone(openAPIJSON()) }

var openAPIJSON = sync.OnceValue(func() []byte {
	b, err := yamlToJSON(openAPIYAML)
	if err != nil {
		// The document is part of the binary and a test converts it: this
		// cannot happen in a build that passed its tests.
		panic("httpapi: openapi.yaml: " + err.Error())
	}
	return b
})

// yamlToJSON converts a YAML document to JSON. Keys must be strings, as
// OpenAPI's are (status codes are quoted in the document for that reason).
func yamlToJSON(in []byte) ([]byte, error) {
	var doc any
	if err := yaml.Unmarshal(in, &doc); err != nil {
		return nil, err
	}
	v, err := jsonValue(doc)
	if err != nil {
		return nil, err
	}
	return json.Marshal(v)
}

func jsonValue(v any) (any, error) {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			j, err := jsonValue(e)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			v[k] = j
		}
		return v, nil
	case map[any]any:
		return nil, fmt.Errorf("a mapping has a key that is not a string")
	case []any:
		for i, e := range v {
			j, err := jsonValue(e)
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			v[i] = j
		}
		return v, nil
	default:
		return v, nil
	}
}

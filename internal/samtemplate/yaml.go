package samtemplate

import (
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"
)

// Intrinsic is a CloudFormation intrinsic function call, decoded from either
// the short YAML form (!Ref X, !GetAtt A.B, !Sub "...") or the long form
// ({Ref: X}, {"Fn::GetAtt": [A, B]}).
//
// Fn is the long-form name: "Ref", "Condition", or "Fn::<Name>" (for example
// "Fn::GetAtt", "Fn::Sub"). Args is the decoded argument: a string, a []any
// or a map[string]any, whose elements may themselves be Intrinsic values.
// The short form !GetAtt A.B is normalised to Args []any{"A", "B"}, as in the
// long form.
type Intrinsic struct {
	Fn   string
	Args any
}

// Ref returns the logical ID or parameter name of a Ref intrinsic.
func (i Intrinsic) Ref() (string, bool) {
	if i.Fn != "Ref" {
		return "", false
	}
	s, ok := i.Args.(string)
	return s, ok
}

// GetAtt returns the resource logical ID and attribute name of an
// Fn::GetAtt intrinsic.
func (i Intrinsic) GetAtt() (resource, attribute string, ok bool) {
	if i.Fn != "Fn::GetAtt" {
		return "", "", false
	}
	list, isList := i.Args.([]any)
	if !isList || len(list) != 2 {
		return "", "", false
	}
	resource, ok1 := list[0].(string)
	attribute, ok2 := list[1].(string)
	return resource, attribute, ok1 && ok2
}

// String renders the intrinsic in its short YAML form, for messages.
func (i Intrinsic) String() string {
	name := strings.TrimPrefix(i.Fn, "Fn::")
	if r, a, ok := i.GetAtt(); ok {
		return fmt.Sprintf("!GetAtt %s.%s", r, a)
	}
	return fmt.Sprintf("!%s %v", name, i.Args)
}

// shortTags maps the YAML short-form tags to their long-form names.
var shortTags = map[string]string{
	"!Ref":          "Ref",
	"!Condition":    "Condition",
	"!GetAtt":       "Fn::GetAtt",
	"!Sub":          "Fn::Sub",
	"!Join":         "Fn::Join",
	"!Select":       "Fn::Select",
	"!Split":        "Fn::Split",
	"!If":           "Fn::If",
	"!Equals":       "Fn::Equals",
	"!Not":          "Fn::Not",
	"!And":          "Fn::And",
	"!Or":           "Fn::Or",
	"!FindInMap":    "Fn::FindInMap",
	"!ImportValue":  "Fn::ImportValue",
	"!Base64":       "Fn::Base64",
	"!Cidr":         "Fn::Cidr",
	"!GetAZs":       "Fn::GetAZs",
	"!Transform":    "Fn::Transform",
	"!ToJsonString": "Fn::ToJsonString",
	"!Length":       "Fn::Length",
}

// longForms are the single-key mappings that denote an intrinsic.
var longForms = map[string]bool{"Ref": true, "Condition": true}

func isLongForm(key string) bool {
	return longForms[key] || strings.HasPrefix(key, "Fn::")
}

// decodeNode converts a YAML node into plain Go values: map[string]any,
// []any, string, int, float64, bool, nil and Intrinsic.
func decodeNode(n *yaml.Node) (any, error) {
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, nil
		}
		return decodeNode(n.Content[0])
	case yaml.AliasNode:
		return decodeNode(n.Alias)
	}

	if fn, ok := shortTags[n.Tag]; ok {
		return decodeIntrinsic(fn, n)
	}
	if strings.HasPrefix(n.Tag, "!") && !strings.HasPrefix(n.Tag, "!!") {
		return nil, fmt.Errorf("line %d: unknown YAML tag %s", n.Line, n.Tag)
	}

	switch n.Kind {
	case yaml.ScalarNode:
		var v any
		if err := n.Decode(&v); err != nil {
			return nil, fmt.Errorf("line %d: %w", n.Line, err)
		}
		return v, nil
	case yaml.SequenceNode:
		out := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			v, err := decodeNode(c)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	case yaml.MappingNode:
		return decodeMapping(n)
	}
	return nil, fmt.Errorf("line %d: unsupported YAML node kind %d", n.Line, n.Kind)
}

func decodeMapping(n *yaml.Node) (any, error) {
	out := make(map[string]any, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, vn := n.Content[i], n.Content[i+1]
		if k.Tag == "!!merge" { // << merge key
			merged, err := decodeNode(vn)
			if err != nil {
				return nil, err
			}
			var maps []any
			if l, ok := merged.([]any); ok {
				maps = l
			} else {
				maps = []any{merged}
			}
			for _, m := range maps {
				mm, ok := m.(map[string]any)
				if !ok {
					return nil, fmt.Errorf("line %d: merge key needs a mapping", k.Line)
				}
				for mk, mv := range mm {
					if _, exists := out[mk]; !exists {
						out[mk] = mv
					}
				}
			}
			continue
		}
		if k.Kind != yaml.ScalarNode {
			return nil, fmt.Errorf("line %d: mapping keys must be scalars", k.Line)
		}
		if _, dup := out[k.Value]; dup {
			return nil, fmt.Errorf("line %d: duplicate key %q", k.Line, k.Value)
		}
		v, err := decodeNode(vn)
		if err != nil {
			return nil, err
		}
		out[k.Value] = v
	}
	// Long-form intrinsic: a mapping with exactly one key, Ref/Condition/Fn::*.
	if len(out) == 1 {
		for k, v := range out {
			if isLongForm(k) {
				return normaliseIntrinsic(Intrinsic{Fn: k, Args: v}), nil
			}
		}
	}
	return out, nil
}

func decodeIntrinsic(fn string, n *yaml.Node) (any, error) {
	var args any
	switch n.Kind {
	case yaml.ScalarNode:
		args = n.Value
	case yaml.SequenceNode, yaml.MappingNode:
		// Decode the children without the custom tag.
		c := *n
		c.Tag = ""
		v, err := decodeNode(&c)
		if err != nil {
			return nil, err
		}
		args = v
	default:
		return nil, fmt.Errorf("line %d: unsupported argument for %s", n.Line, n.Tag)
	}
	return normaliseIntrinsic(Intrinsic{Fn: fn, Args: args}), nil
}

// normaliseIntrinsic turns the dotted GetAtt form "A.B" into []any{"A", "B"}.
func normaliseIntrinsic(i Intrinsic) Intrinsic {
	if i.Fn == "Fn::GetAtt" {
		if s, ok := i.Args.(string); ok {
			if res, attr, found := strings.Cut(s, "."); found {
				i.Args = []any{res, attr}
			}
		}
	}
	return i
}

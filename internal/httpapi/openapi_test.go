package httpapi_test

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/passport-oss/passport/internal/httpapi"
	"github.com/passport-oss/passport/internal/httpapi/openapitest"
)

func mustOpenAPI(t *testing.T) *openapitest.Validator {
	t.Helper()
	v, err := openapitest.Passport() // loads and validates the document
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// The document is valid OpenAPI 3.0, and its JSON form is the same document.
func TestOpenAPIDocumentIsValid(t *testing.T) {
	doc := mustOpenAPI(t).Doc()
	if doc.OpenAPI != "3.0.3" {
		t.Errorf("openapi = %q, want 3.0.3", doc.OpenAPI)
	}
	fromJSON, err := openapitest.Load(httpapi.OpenAPIJSON())
	if err != nil {
		t.Fatalf("OpenAPIJSON: %v", err)
	}
	got, _ := json.Marshal(fromJSON.Doc())
	want, _ := json.Marshal(doc)
	if string(got) != string(want) {
		t.Errorf("OpenAPIJSON loads to another document than OpenAPI:\n got %s\nwant %s", got, want)
	}
}

// Every route of the route table (and of the fallback) is in the document
// with its method, path and JWT scope, and the document has no other.
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	doc := mustOpenAPI(t).Doc()
	ops := map[string]*openapi3.Operation{}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			ops[method+" "+path] = op
		}
	}
	routes := map[string]httpapi.Route{}
	for _, rt := range slices.Concat(httpapi.Routes, httpapi.FallbackRoutes) {
		routes[rt.Method+" "+rt.Path] = rt
	}
	for _, key := range slices.Sorted(maps.Keys(routes)) {
		op, ok := ops[key]
		if !ok {
			t.Errorf("%s is in the route table, not in the document", key)
			continue
		}
		if got, want := securityOf(op), securityFor(routes[key]); got != want {
			t.Errorf("%s: security = %s, want %s (the route table's scope)", key, got, want)
		}
	}
	for _, key := range slices.Sorted(maps.Keys(ops)) {
		if _, ok := routes[key]; !ok {
			t.Errorf("%s is in the document, not in the route table", key)
		}
	}

	// The scopes the document declares are the route table's.
	declared := doc.Components.SecuritySchemes["jwt"].Value.Flows.ClientCredentials.Scopes
	var used []string
	for _, rt := range httpapi.Routes {
		used = append(used, rt.Scope)
	}
	if got, want := slices.Sorted(maps.Keys(declared)), slices.Compact(slices.Sorted(slices.Values(used))); !slices.Equal(got, want) {
		t.Errorf("jwt scheme's scopes = %v, the route table's = %v", got, want)
	}
}

func securityOf(op *openapi3.Operation) string {
	if op.Security == nil {
		return "none"
	}
	b, _ := json.Marshal(op.Security)
	return string(b)
}

// securityFor is the security every operation has: SigV4 (AuthMode=AWS_IAM)
// or a JWT holding the route's scope (AuthMode=JWT; any valid token when
// the route has no scope, as the $default route).
func securityFor(rt httpapi.Route) string {
	scopes := []string{}
	if rt.Scope != "" {
		scopes = append(scopes, rt.Scope)
	}
	b, _ := json.Marshal([]map[string][]string{{"awsSigV4": {}}, {"jwt": scopes}})
	return string(b)
}

// Every error code is in the document's ErrorCode enum, and every error
// response the document declares admits exactly the codes of its status:
// the code -> status map of internal/httpapi, written out.
func TestOpenAPIDescribesEveryErrorCode(t *testing.T) {
	v := mustOpenAPI(t)
	codes := mustErrorCodes(t)
	enum := map[string]bool{}
	for _, c := range v.Doc().Components.Schemas["ErrorCode"].Value.Enum {
		enum[c.(string)] = true
	}
	if got, want := slices.Sorted(maps.Keys(enum)), slices.Sorted(slices.Values(codes)); !slices.Equal(got, want) {
		t.Errorf("ErrorCode enum = %v, internal/passport/error.go's codes = %v", got, want)
	}

	type response struct {
		where  string
		status int
		ref    *openapi3.ResponseRef
	}
	var responses []response
	for path, item := range v.Doc().Paths.Map() {
		for method, op := range item.Operations() {
			for code, ref := range op.Responses.Map() {
				status, _ := strconv.Atoi(code)
				responses = append(responses, response{method + " " + path, status, ref})
			}
		}
	}
	for status, ref := range v.UnmatchedResponses() {
		responses = append(responses, response{"x-unmatched-requests", status, ref})
	}

	admitted := map[string]bool{}
	for _, r := range responses {
		if r.status < 400 {
			continue
		}
		mt := r.ref.Value.Content.Get("application/json")
		if mt == nil || mt.Schema == nil {
			t.Errorf("%s %d: no application/json schema", r.where, r.status)
			continue
		}
		for _, code := range codes {
			body := map[string]any{"success": false, "error": map[string]any{"code": code, "message": "m"}}
			admits := mt.Schema.Value.VisitJSON(body) == nil
			want := httpapi.StatusOf(code) == r.status
			if admits != want {
				t.Errorf("%s %d: admits %s = %v, but its status is %d", r.where, r.status, code, admits, httpapi.StatusOf(code))
			}
			if admits {
				admitted[code] = true
			}
		}
	}
	for _, code := range codes {
		if !admitted[code] {
			t.Errorf("no response of status %d admits %s", httpapi.StatusOf(code), code)
		}
	}
}

// mustErrorCodes returns the string constants of internal/passport/error.go:
// read from the source, so a code added there is checked without a list
// here to update.
func mustErrorCodes(t *testing.T) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "../passport/error.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var codes []string
	for _, decl := range f.Decls {
		gen, ok := decl.(*ast.GenDecl)
		if !ok || gen.Tok != token.CONST {
			continue
		}
		for _, spec := range gen.Specs {
			for _, value := range spec.(*ast.ValueSpec).Values {
				if lit, ok := value.(*ast.BasicLit); ok && lit.Kind == token.STRING {
					s, _ := strconv.Unquote(lit.Value)
					codes = append(codes, s)
				}
			}
		}
	}
	if len(codes) < 10 {
		t.Fatalf("found %d error codes in error.go: %v", len(codes), codes)
	}
	return codes
}

// The fallback function serves the document, as JSON and as written, and
// only under GET.
func TestFallbackServesOpenAPI(t *testing.T) {
	srv := &httpapi.Server{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	h, err := srv.Handler(httpapi.FallbackFunctionID)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		path, contentType string
		want              []byte
	}{
		{httpapi.OpenAPIJSONPath, "application/json", httpapi.OpenAPIJSON()},
		{httpapi.OpenAPIYAMLPath, "application/yaml", httpapi.OpenAPI()},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", tt.path, nil))
		if rec.Code != 200 || rec.Header().Get("Content-Type") != tt.contentType || rec.Body.String() != string(tt.want) {
			t.Errorf("GET %s = %d %q, %d bytes; want 200 %q, the document (%d bytes)",
				tt.path, rec.Code, rec.Header().Get("Content-Type"), rec.Body.Len(), tt.contentType, len(tt.want))
		}

		rec = httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("POST", tt.path, nil))
		if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != "GET" {
			t.Errorf("POST %s = %d (Allow %q), want 405 with Allow GET", tt.path, rec.Code, rec.Header().Get("Allow"))
		}
	}
}

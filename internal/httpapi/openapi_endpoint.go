package httpapi

import "net/http"

// The paths the OpenAPI document is served at (FallbackRoutes).
const (
	OpenAPIJSONPath = "/api/v1/passport/openapi.json"
	OpenAPIYAMLPath = "/api/v1/passport/openapi.yaml"
)

// serveOpenAPI serves the FallbackRoutes, GET OpenAPIJSONPath and
// OpenAPIYAMLPath, and reports whether r was one of them.
func (s *Server) serveOpenAPI(w http.ResponseWriter, r *http.Request) bool {
	if r.Method != http.MethodGet {
		return false
	}
	var body []byte
	var contentType string
	switch r.URL.Path {
	case OpenAPIJSONPath:
		body, contentType = openAPIJSON(), "application/json"
	case OpenAPIYAMLPath:
		body, contentType = openAPIYAML, "application/yaml" // RFC 9512
	default:
		return false
	}
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
	return true
}

// Package httpapi serves Passport's HTTP API as plain net/http handlers: the
// same handlers run inside each Lambda (through aws-lambda-go-api-proxy) and
// in the local stack.
package httpapi

import "strings"

// Route is one API route, the Lambda function (its logical id in
// template.yaml) that serves it, and the JWT scope a caller needs for it.
type Route struct {
	Method     string
	Path       string
	FunctionID string
	// Scope is the route's AuthorizationScopes in template.yaml: under the
	// JWT authorizer a token must hold it. Under AWS_IAM the caller's
	// execute-api:Invoke on the route decides instead (README, Access
	// control).
	Scope string
}

// Routes is the API's route table. template.yaml declares the same routes,
// one HttpApi event each; tests keep the two in step, scopes included.
var Routes = []Route{
	{"GET", "/api/v1/passport/providers", "ListProvidersFunction", "passport/providers.read"},
	{"POST", "/api/v1/passport/providers", "RegisterProviderFunction", "passport/providers.write"},
	{"GET", "/api/v1/passport/providers/{id}", "GetProviderFunction", "passport/providers.read"},
	{"PATCH", "/api/v1/passport/providers/{id}", "UpdateProviderFunction", "passport/providers.write"},
	{"DELETE", "/api/v1/passport/providers/{id}", "DeleteProviderFunction", "passport/providers.write"},
	{"GET", "/api/v1/passport/authorizations", "ListAuthorizationsFunction", "passport/authorizations.read"},
	{"POST", "/api/v1/passport/authorizations", "CreateAuthorizationFunction", "passport/authorizations.write"},
	{"GET", "/api/v1/passport/authorizations/{id}", "GetAuthorizationFunction", "passport/authorizations.read"},
	{"DELETE", "/api/v1/passport/authorizations/{id}", "RevokeAuthorizationFunction", "passport/authorizations.write"},
	{"GET", "/api/v1/passport/authorizations/{id}/token", "ReadTokenFunction", "passport/tokens.read"},
	{"GET", "/api/v1/passport/audit", "ListAuditFunction", "passport/audit.read"},
}

// match reports whether path matches the route's path, where a segment
// "{name}" matches any one non-empty segment, and returns those segments.
func (rt Route) match(path string) (map[string]string, bool) {
	want, got := strings.Split(rt.Path, "/"), strings.Split(path, "/")
	if len(want) != len(got) {
		return nil, false
	}
	var params map[string]string
	for i, w := range want {
		if strings.HasPrefix(w, "{") && strings.HasSuffix(w, "}") {
			if got[i] == "" {
				return nil, false
			}
			if params == nil {
				params = map[string]string{}
			}
			params[w[1:len(w)-1]] = got[i]
			continue
		}
		if w != got[i] {
			return nil, false
		}
	}
	return params, true
}

// FallbackFunctionID serves the gateway's $default route: every request no
// route matches, answered 404 or 405 in the envelope.
const FallbackFunctionID = "FallbackFunction"

// FallbackRoutes are served by the fallback function through the gateway's
// $default route, not by routes of their own in template.yaml: the API's
// OpenAPI document, which is neither a resource nor worth a function. Being
// reached through $default, they need no scope: under the JWT authorizer
// any valid token reads them, under AWS_IAM any caller allowed
// execute-api:Invoke on $default. The OpenAPI document describes them with
// Routes (tests check both tables against it).
var FallbackRoutes = []Route{
	{"GET", OpenAPIJSONPath, FallbackFunctionID, ""},
	{"GET", OpenAPIYAMLPath, FallbackFunctionID, ""},
}

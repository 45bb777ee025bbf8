// Package httpapi serves Passport's HTTP API as plain net/http handlers: the
// same handlers run inside each Lambda (through aws-lambda-go-api-proxy) and
// in the local stack.
package httpapi

// Route is one API route and the Lambda function (its logical id in
// template.yaml) that serves it.
type Route struct {
	Method     string
	Path       string
	FunctionID string
}

// Routes is the API's route table. template.yaml declares the same routes,
// one HttpApi event each; a test keeps the two in step.
var Routes = []Route{
	{"GET", "/api/v1/passport/providers", "ListProvidersFunction"},
	{"POST", "/api/v1/passport/providers", "RegisterProviderFunction"},
	{"POST", "/api/v1/passport/authorizations", "CreateAuthorizationFunction"},
	{"GET", "/api/v1/passport/audit", "ListAuditFunction"},
}

// FallbackFunctionID serves the gateway's $default route: every request no
// route matches, answered 404 or 405 in the envelope.
const FallbackFunctionID = "FallbackFunction"

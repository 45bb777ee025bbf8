// Package openapitest checks HTTP traffic against Passport's OpenAPI
// document (internal/httpapi/openapi.yaml) with kin-openapi's validator, so
// that the document and the code cannot drift apart: tests send requests
// through Client, and every request and every response that the document
// does not describe fails the test.
//
// A request no operation matches (an unknown path, or a known path under
// another method) is checked against the document's x-unmatched-requests:
// its answer must be one the document gives such requests, a 404 only for a
// path the document does not have, and a 405 only for one it has, with
// Allow naming exactly the document's methods.
package openapitest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/passport-oss/passport/internal/httpapi"
)

// Validator checks requests and responses against one OpenAPI document.
// It is safe for concurrent use.
type Validator struct {
	doc    *openapi3.T
	router routers.Router
	// unmatched holds the document's answers to a request no operation
	// matches, by status (x-unmatched-requests).
	unmatched map[int]*openapi3.ResponseRef
}

// Load parses and validates an OpenAPI 3.0 document and prepares it for
// checking traffic.
func Load(spec []byte) (*Validator, error) {
	doc, err := openapi3.NewLoader().LoadFromData(spec)
	if err != nil {
		return nil, fmt.Errorf("openapitest: load: %w", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("openapitest: the document is not valid OpenAPI: %w", err)
	}
	unmatched, err := unmatchedResponses(doc)
	if err != nil {
		return nil, err
	}
	// Route on paths alone: the servers name the deployed API and
	// localhost:3000, and tests run on other hosts and ports.
	routed := *doc
	routed.Servers = nil
	router, err := gorillamux.NewRouter(&routed)
	if err != nil {
		return nil, fmt.Errorf("openapitest: router: %w", err)
	}
	return &Validator{doc: doc, router: router, unmatched: unmatched}, nil
}

var passport = sync.OnceValues(func() (*Validator, error) { return Load(httpapi.OpenAPI()) })

// Passport returns the Validator of the API's own document, loaded once.
func Passport() (*Validator, error) { return passport() }

// Doc returns the loaded document. Callers must not modify it.
func (v *Validator) Doc() *openapi3.T { return v.doc }

// UnmatchedResponses returns the document's answers to a request no
// operation matches (x-unmatched-requests), by status.
func (v *Validator) UnmatchedResponses() map[int]*openapi3.ResponseRef { return v.unmatched }

// unmatchedResponses reads x-unmatched-requests: {responses: {"404":
// {$ref: "#/components/responses/NotFound"}, ...}}. The loader leaves
// extensions as plain values, so the references are resolved here.
func unmatchedResponses(doc *openapi3.T) (map[int]*openapi3.ResponseRef, error) {
	ext, _ := doc.Extensions["x-unmatched-requests"].(map[string]any)
	responses, _ := ext["responses"].(map[string]any)
	if len(responses) == 0 {
		return nil, errors.New("openapitest: the document has no x-unmatched-requests.responses")
	}
	out := map[int]*openapi3.ResponseRef{}
	for code, r := range responses {
		status, err := strconv.Atoi(code)
		ref, _ := r.(map[string]any)["$ref"].(string)
		name, ok := strings.CutPrefix(ref, "#/components/responses/")
		if err != nil || !ok || doc.Components.Responses[name] == nil {
			return nil, fmt.Errorf("openapitest: x-unmatched-requests.responses[%q] must be a $ref to a response in components", code)
		}
		out[status] = doc.Components.Responses[name]
	}
	return out, nil
}

// Option changes what is checked.
type Option func(*checks)

type checks struct{ skipRequest bool }

// ResponsesOnly skips checking requests: for tests that send deliberately
// invalid requests (the error tests), whose answers are still checked.
func ResponsesOnly() Option { return func(c *checks) { c.skipRequest = true } }

// Client returns an HTTP client that checks every request it sends and
// every response it gets, and fails t on any mismatch (t.Errorf: the test
// goes on with the response as it came).
func Client(t testing.TB, opts ...Option) *http.Client {
	t.Helper()
	v, err := Passport()
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Transport: v.Transport(http.DefaultTransport, func(err error) { t.Error(err) }, opts...)}
}

// Transport returns a RoundTripper that sends requests with next and passes
// report each request/response pair that does not match the document.
func (v *Validator) Transport(next http.RoundTripper, report func(error), opts ...Option) http.RoundTripper {
	return &transport{v: v, next: next, report: report, opts: opts}
}

type transport struct {
	v      *Validator
	next   http.RoundTripper
	report func(error)
	opts   []Option
}

func (rt *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	var reqBody []byte
	if req.Body != nil {
		b, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		reqBody = b
	}
	out := req.Clone(req.Context())
	out.Body, out.GetBody = bodyOf(reqBody)
	resp, err := rt.next.RoundTrip(out)
	if err != nil {
		return nil, err
	}
	respBody, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(respBody))
	if err := rt.v.Check(req, reqBody, resp.StatusCode, resp.Header, respBody, rt.opts...); err != nil {
		rt.report(err)
	}
	return resp, nil
}

func bodyOf(b []byte) (io.ReadCloser, func() (io.ReadCloser, error)) {
	if len(b) == 0 {
		return http.NoBody, func() (io.ReadCloser, error) { return http.NoBody, nil }
	}
	get := func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	body, _ := get()
	return body, get
}

// Check checks one exchange: req (its body given as reqBody; req.Body is
// not read) and the response's status, header and body. It returns nil when
// both match the document, and otherwise an error naming every mismatch.
func (v *Validator) Check(req *http.Request, reqBody []byte, status int, header http.Header, respBody []byte, opts ...Option) error {
	var c checks
	for _, o := range opts {
		o(&c)
	}
	r := req.Clone(req.Context())
	r.Body, r.GetBody = bodyOf(reqBody)

	var problems []string
	route, params, err := v.router.FindRoute(r)
	switch {
	case err == nil:
		problems = v.checkOperation(r, route, params, status, header, respBody, c)
	case errors.Is(err, routers.ErrPathNotFound), errors.Is(err, routers.ErrMethodNotAllowed):
		problems = v.checkUnmatched(r, errors.Is(err, routers.ErrMethodNotAllowed), status, header, respBody)
	default:
		problems = []string{"no operation found: " + err.Error()}
	}
	if len(problems) == 0 {
		return nil
	}
	return fmt.Errorf("%s %s answered %d: does not match the OpenAPI document (internal/httpapi/openapi.yaml):\n  %s\nresponse body: %s",
		req.Method, req.URL.RequestURI(), status, strings.Join(problems, "\n  "), clip(respBody))
}

func (v *Validator) checkOperation(r *http.Request, route *routers.Route, params map[string]string, status int, header http.Header, body []byte, c checks) []string {
	var problems []string
	in := &openapi3filter.RequestValidationInput{
		Request: r, PathParams: params, Route: route,
		Options: &openapi3filter.Options{
			MultiError: true,
			// The local gateway lets every request through unless it runs
			// the JWT authorizer, which checks tokens itself: the document's
			// security is checked statically (the route table's scopes).
			AuthenticationFunc:                openapi3filter.NoopAuthenticationFunc,
			RejectWhenRequestBodyNotSpecified: true,
			SkipSettingDefaults:               true,
			SchemaValidationOptions:           []openapi3.SchemaValidationOption{openapi3.DisableSchemaErrorDetails()},
		},
	}
	if !c.skipRequest {
		if err := openapi3filter.ValidateRequest(r.Context(), in); err != nil {
			problems = append(problems, "request: "+oneLine(err)+" (a deliberately invalid request is sent with openapitest.ResponsesOnly)")
		}
	}
	if err := validateResponse(in, status, header, body); err != nil {
		problems = append(problems, "response: "+oneLine(err))
	}
	return problems
}

// checkUnmatched checks the answer to a request no operation matches.
// methodExists tells whether the document has the path under other methods.
func (v *Validator) checkUnmatched(r *http.Request, methodExists bool, status int, header http.Header, body []byte) []string {
	ref := v.unmatched[status]
	if ref == nil {
		return []string{fmt.Sprintf("the document has no operation %s %s, and %d is not one of its answers to such a request (x-unmatched-requests)", r.Method, r.URL.Path, status)}
	}
	var problems []string
	allow := v.methods(r)
	switch {
	case status == http.StatusNotFound && methodExists:
		problems = append(problems, fmt.Sprintf("404, but the document has the path under %s (a 405 with Allow is due, or the document names a path the API does not serve)", strings.Join(allow, ", ")))
	case status == http.StatusMethodNotAllowed && !methodExists:
		problems = append(problems, "405, but the document has no such path under any method")
	case status == http.StatusMethodNotAllowed:
		if got, want := header.Get("Allow"), strings.Join(allow, ", "); got != want {
			problems = append(problems, fmt.Sprintf("Allow: %q, but the document has the path under %q", got, want))
		}
	}
	// The response is checked as if it were an operation's only answer.
	route := &routers.Route{
		Spec: v.doc, Path: r.URL.Path, Method: r.Method,
		Operation: &openapi3.Operation{Responses: openapi3.NewResponses(openapi3.WithStatus(status, ref))},
	}
	in := &openapi3filter.RequestValidationInput{Request: r, Route: route}
	if err := validateResponse(in, status, header, body); err != nil {
		problems = append(problems, "response: "+oneLine(err))
	}
	return problems
}

// methods returns the methods the document has r's path under, sorted.
func (v *Validator) methods(r *http.Request) []string {
	var out []string
	for _, m := range []string{"DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "TRACE"} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, _, err := v.router.FindRoute(probe); err == nil {
			out = append(out, m)
		}
	}
	slices.Sort(out)
	return out
}

func validateResponse(in *openapi3filter.RequestValidationInput, status int, header http.Header, body []byte) error {
	return openapi3filter.ValidateResponse(in.Request.Context(), &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in,
		Status:                 status,
		Header:                 header,
		Body:                   io.NopCloser(bytes.NewReader(body)),
		Options: &openapi3filter.Options{
			MultiError:              true,
			IncludeResponseStatus:   true, // a status the document does not declare is a mismatch
			SchemaValidationOptions: []openapi3.SchemaValidationOption{openapi3.DisableSchemaErrorDetails()},
		},
	})
}

func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}

func clip(b []byte) string {
	const max = 2048
	if len(b) > max {
		return string(b[:max]) + "..."
	}
	return string(b)
}

package localstack

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/url"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/passport-oss/passport/internal/samtemplate"
)

// APIFunc is the Lambda handler of an HTTP API (payload 2.0) function:
// exactly what functions/<x>/main.go passes to lambda.Start.
type APIFunc = func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error)

// Limits of the services the gateway emulates.
const (
	// MaxHTTPAPIPayload is API Gateway HTTP API's request payload limit.
	MaxHTTPAPIPayload = 10 << 20
	// MaxLambdaPayload is Lambda's synchronous invocation payload limit
	// (request event and response alike).
	MaxLambdaPayload = 6 << 20
	// HTTPAPIIntegrationTimeout is the HTTP API's maximum integration timeout.
	HTTPAPIIntegrationTimeout = 30 * time.Second
)

// Gateway is a local API Gateway HTTP API with Lambda proxy integrations
// (payload format 2.0) on the $default stage.
type Gateway struct {
	// AccountID and APIID appear in requestContext.
	AccountID, APIID string
	// MaxRequestBytes caps the request body (default MaxHTTPAPIPayload).
	MaxRequestBytes int64
	// MaxEventBytes caps the JSON event and response (default MaxLambdaPayload).
	MaxEventBytes int
	// Timeouts per function ID (the template's Timeout); the integration
	// timeout (30s) applies to functions without one.
	Timeouts map[string]time.Duration
	// Logger receives function errors (never the client).
	Logger *slog.Logger
	// Auth authorizes each request before its function runs, as the API's
	// authorizers do, and fills the event's requestContext.authorizer; nil
	// lets every request through (the local default: make run binds
	// 127.0.0.1).
	Auth Authorizer

	routes    []compiledRoute
	def       *compiledRoute
	functions map[string]APIFunc
}

type compiledRoute struct {
	samtemplate.Route
	segments []string // path split on "/", without the leading empty one
	literals int      // number of literal segments
	greedy   bool     // ends with {name+}
}

// NewGateway builds the gateway for the template's routes. A route whose
// function is missing from functions answers 500 (see Missing).
func NewGateway(routes []samtemplate.Route, functions map[string]APIFunc) *Gateway {
	g := &Gateway{AccountID: "123456789012", APIID: "1234567890", functions: functions,
		MaxRequestBytes: MaxHTTPAPIPayload, MaxEventBytes: MaxLambdaPayload}
	for _, r := range routes {
		cr := compiledRoute{Route: r}
		if r.Path == "$default" {
			c := cr
			g.def = &c
			continue
		}
		cr.Method = strings.ToUpper(r.Method)
		cr.segments = strings.Split(strings.TrimPrefix(r.Path, "/"), "/")
		for i, s := range cr.segments {
			if isParam(s) {
				if strings.HasSuffix(s, "+}") && i == len(cr.segments)-1 {
					cr.greedy = true
				}
			} else {
				cr.literals++
			}
		}
		g.routes = append(g.routes, cr)
	}
	return g
}

// Missing lists the function IDs that routes name but functions lacks.
func (g *Gateway) Missing() []string {
	var out []string
	seen := map[string]bool{}
	all := g.routes
	if g.def != nil {
		all = append(append([]compiledRoute(nil), all...), *g.def)
	}
	for _, r := range all {
		if _, ok := g.functions[r.FunctionID]; !ok && !seen[r.FunctionID] {
			seen[r.FunctionID] = true
			out = append(out, r.FunctionID)
		}
	}
	sort.Strings(out)
	return out
}

func isParam(seg string) bool {
	return len(seg) > 2 && seg[0] == '{' && seg[len(seg)-1] == '}'
}

// match selects the route as HTTP API does: a route without path variables
// that matches exactly first, then the most specific route with variables
// (most literal segments; {x} before {x+}; a method before ANY), then
// $default. It returns nil when nothing matches.
func (g *Gateway) match(method, path string) (*compiledRoute, map[string]string) {
	segs := strings.Split(strings.TrimPrefix(path, "/"), "/")
	var best *compiledRoute
	var bestParams map[string]string
	better := func(a, b *compiledRoute) bool { // is a more specific than b?
		if b == nil {
			return true
		}
		if a.literals != b.literals {
			return a.literals > b.literals
		}
		if a.greedy != b.greedy {
			return !a.greedy
		}
		if (a.Method == "ANY") != (b.Method == "ANY") {
			return b.Method == "ANY"
		}
		return false
	}
	for i := range g.routes {
		r := &g.routes[i]
		if r.Method != "ANY" && r.Method != method {
			continue
		}
		params, ok := matchSegments(r, segs)
		if !ok {
			continue
		}
		if better(r, best) {
			best, bestParams = r, params
		}
	}
	if best != nil {
		return best, bestParams
	}
	return g.def, nil
}

func matchSegments(r *compiledRoute, segs []string) (map[string]string, bool) {
	var params map[string]string
	set := func(k, v string) {
		if params == nil {
			params = map[string]string{}
		}
		params[k] = v
	}
	for i, want := range r.segments {
		if r.greedy && i == len(r.segments)-1 {
			if i >= len(segs) {
				return nil, false
			}
			rest := strings.Join(segs[i:], "/")
			if rest == "" {
				return nil, false
			}
			set(strings.TrimSuffix(want[1:len(want)-1], "+"), rest)
			return params, true
		}
		if i >= len(segs) {
			return nil, false
		}
		if isParam(want) {
			if segs[i] == "" {
				return nil, false
			}
			set(want[1:len(want)-1], segs[i])
			continue
		}
		if want != segs[i] {
			return nil, false
		}
	}
	if len(segs) != len(r.segments) {
		return nil, false
	}
	return params, true
}

// ServeHTTP turns the request into the event API Gateway would send, invokes
// the route's function and writes its response.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	started := time.Now()
	requestID := newRequestID()
	w.Header().Set("Apigw-Requestid", requestID)

	route, params := g.match(r.Method, r.URL.Path)
	if route == nil {
		writeEnvelope(w, http.StatusNotFound, "NOT_FOUND", "no route matches "+r.Method+" "+r.URL.Path)
		return
	}
	authz, ok := g.authorize(w, r, route)
	if !ok {
		return
	}
	limit := g.MaxRequestBytes
	if limit <= 0 {
		limit = MaxHTTPAPIPayload
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeEnvelope(w, http.StatusRequestEntityTooLarge, "PAYLOAD_TOO_LARGE",
				fmt.Sprintf("request body exceeds %d bytes", limit))
			return
		}
		writeEnvelope(w, http.StatusBadRequest, "VALIDATION_ERROR", "request body could not be read")
		return
	}
	ev := g.BuildEvent(r, body, route.Route, params, requestID, started)
	ev.RequestContext.Authorizer = authz
	maxEvent := g.MaxEventBytes
	if maxEvent <= 0 {
		maxEvent = MaxLambdaPayload
	}
	raw, err := json.Marshal(ev)
	if err != nil {
		g.fail(w, route.FunctionID, err)
		return
	}
	if len(raw) > maxEvent {
		writeEnvelope(w, http.StatusRequestEntityTooLarge, "PAYLOAD_TOO_LARGE",
			fmt.Sprintf("request exceeds the %d byte invocation payload limit", maxEvent))
		return
	}
	fn, ok := g.functions[route.FunctionID]
	if !ok {
		g.fail(w, route.FunctionID, errors.New("no function registered for the route"))
		return
	}
	// The function gets the event as Lambda decodes it from JSON.
	var in events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(raw, &in); err != nil {
		g.fail(w, route.FunctionID, err)
		return
	}
	resp, err := g.invoke(r.Context(), route.FunctionID, requestID, fn, in)
	if err != nil {
		g.fail(w, route.FunctionID, err)
		return
	}
	if out, err := json.Marshal(resp); err != nil || len(out) > maxEvent {
		g.fail(w, route.FunctionID, fmt.Errorf("response not serialisable or over %d bytes: %v", maxEvent, err))
		return
	}
	if err := WriteResponse(w, resp); err != nil {
		g.fail(w, route.FunctionID, err)
	}
}

func (g *Gateway) fail(w http.ResponseWriter, functionID string, err error) {
	log := g.Logger
	if log == nil {
		log = slog.Default()
	}
	log.Error("integration failed", "function", functionID, "err", err)
	writeEnvelope(w, http.StatusInternalServerError, "INTERNAL_ERROR", "internal server error")
}

type invokeResult struct {
	resp events.APIGatewayV2HTTPResponse
	err  error
}

func (g *Gateway) invoke(ctx context.Context, functionID, requestID string, fn APIFunc, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	timeout := HTTPAPIIntegrationTimeout
	if t, ok := g.Timeouts[functionID]; ok && t > 0 && t < timeout {
		timeout = t
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	ctx = lambdacontext.NewContext(ctx, &lambdacontext.LambdaContext{
		AwsRequestID:       newUUID(),
		InvokedFunctionArn: "arn:aws:lambda:us-east-1:" + g.AccountID + ":function:" + functionID,
	})
	done := make(chan invokeResult, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				done <- invokeResult{err: fmt.Errorf("function panicked: %v\n%s", r, debug.Stack())}
			}
		}()
		resp, err := fn(ctx, ev)
		done <- invokeResult{resp, err}
	}()
	select {
	case res := <-done:
		if res.err == nil && (res.resp.StatusCode < 100 || res.resp.StatusCode > 599) {
			res.err = fmt.Errorf("function returned invalid statusCode %d", res.resp.StatusCode)
		}
		return res.resp, res.err
	case <-ctx.Done():
		return events.APIGatewayV2HTTPResponse{}, fmt.Errorf("function timed out after %s", timeout)
	}
}

// BuildEvent builds the payload 2.0 event API Gateway HTTP API sends for r
// (whose body was already read into body) on route.
func (g *Gateway) BuildEvent(r *http.Request, body []byte, route samtemplate.Route, params map[string]string, requestID string, at time.Time) events.APIGatewayV2HTTPRequest {
	headers := map[string]string{}
	var cookies []string
	for k, vs := range r.Header {
		lk := strings.ToLower(k)
		if lk == "cookie" {
			for _, v := range vs {
				for _, c := range strings.Split(v, ";") {
					if c = strings.TrimSpace(c); c != "" {
						cookies = append(cookies, c)
					}
				}
			}
			continue
		}
		headers[lk] = strings.Join(vs, ",")
	}
	host := r.Host
	headers["host"] = host
	if len(body) > 0 || r.ContentLength >= 0 && r.Method != http.MethodGet && r.Method != http.MethodHead {
		headers["content-length"] = strconv.Itoa(len(body))
	}
	sourceIP := r.RemoteAddr
	if h, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		sourceIP = h
	}
	if xff := headers["x-forwarded-for"]; xff != "" {
		headers["x-forwarded-for"] = xff + ", " + sourceIP
	} else {
		headers["x-forwarded-for"] = sourceIP
	}
	proto, port := "http", "80"
	if r.TLS != nil {
		proto, port = "https", "443"
	}
	if _, p, err := net.SplitHostPort(host); err == nil {
		port = p
	}
	headers["x-forwarded-proto"] = proto
	headers["x-forwarded-port"] = port
	if _, ok := headers["x-amzn-trace-id"]; !ok {
		headers["x-amzn-trace-id"] = fmt.Sprintf("Root=1-%08x-%s", at.Unix(), newID()[:24])
	}

	var qsp map[string]string
	if q, err := url.ParseQuery(r.URL.RawQuery); err == nil && len(q) > 0 {
		qsp = make(map[string]string, len(q))
		for k, vs := range q {
			qsp[k] = strings.Join(vs, ",")
		}
	}
	var pathParams map[string]string
	if len(params) > 0 {
		pathParams = make(map[string]string, len(params))
		for k, v := range params {
			if dv, err := url.PathUnescape(v); err == nil {
				v = dv
			}
			pathParams[k] = v
		}
	}
	domain := host
	if h, _, err := net.SplitHostPort(host); err == nil {
		domain = h
	}
	prefix := domain
	if i := strings.IndexByte(domain, '.'); i > 0 {
		prefix = domain[:i]
	}
	routeKey := route.RouteKey()
	ev := events.APIGatewayV2HTTPRequest{
		Version:               "2.0",
		RouteKey:              routeKey,
		RawPath:               r.URL.Path, // HTTP API delivers the path percent-decoded
		RawQueryString:        r.URL.RawQuery,
		Cookies:               cookies,
		Headers:               headers,
		QueryStringParameters: qsp,
		PathParameters:        pathParams,
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RouteKey:     routeKey,
			AccountID:    g.AccountID,
			Stage:        "$default",
			RequestID:    requestID,
			APIID:        g.APIID,
			DomainName:   domain,
			DomainPrefix: prefix,
			Time:         at.UTC().Format("02/Jan/2006:15:04:05 -0700"),
			TimeEpoch:    at.UnixMilli(),
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{
				Method:    r.Method,
				Path:      r.URL.Path,
				Protocol:  r.Proto,
				SourceIP:  sourceIP,
				UserAgent: r.UserAgent(),
			},
		},
	}
	if len(body) > 0 {
		if isTextBody(r.Header.Get("Content-Type"), body) {
			ev.Body = string(body)
		} else {
			ev.Body = base64.StdEncoding.EncodeToString(body)
			ev.IsBase64Encoded = true
		}
	}
	return ev
}

// isTextBody reports whether HTTP API passes the body as text: a textual
// media type and valid UTF-8. Everything else arrives base64-encoded.
func isTextBody(contentType string, body []byte) bool {
	if !utf8.Valid(body) {
		return false
	}
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	switch {
	case strings.HasPrefix(mt, "text/"),
		mt == "application/json", strings.HasSuffix(mt, "+json"),
		mt == "application/xml", strings.HasSuffix(mt, "+xml"),
		mt == "application/javascript", mt == "application/graphql":
		return true
	}
	return false
}

// WriteResponse writes a function's payload 2.0 response as API Gateway
// does: status, headers, multiValueHeaders, cookies as Set-Cookie, and a
// base64 body decoded.
func WriteResponse(w http.ResponseWriter, resp events.APIGatewayV2HTTPResponse) error {
	body := []byte(resp.Body)
	if resp.IsBase64Encoded {
		b, err := base64.StdEncoding.DecodeString(resp.Body)
		if err != nil {
			return fmt.Errorf("response body is not valid base64: %w", err)
		}
		body = b
	}
	h := w.Header()
	for k, v := range resp.Headers {
		h.Set(k, v)
	}
	for k, vs := range resp.MultiValueHeaders {
		if _, ok := resp.Headers[k]; ok {
			continue
		}
		for _, v := range vs {
			h.Add(k, v)
		}
	}
	for _, c := range resp.Cookies {
		h.Add("Set-Cookie", c)
	}
	if h.Get("Content-Type") == "" && len(body) > 0 {
		h.Set("Content-Type", "application/json")
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(resp.StatusCode)
	_, err := w.Write(body)
	if err != nil {
		return nil // the client went away; nothing more to answer
	}
	return nil
}

// ErrorEnvelope is the API's error body.
type ErrorEnvelope struct {
	Success bool `json:"success"`
	Error   struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func writeEnvelope(w http.ResponseWriter, status int, code, message string) {
	var e ErrorEnvelope
	e.Error.Code, e.Error.Message = code, message
	b, _ := json.Marshal(e)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// newRequestID makes an id shaped like HTTP API's (e.g. "JKJaXmPLvHcESHA=").
func newRequestID() string {
	return base64.StdEncoding.EncodeToString([]byte(newID()[:10]))
}

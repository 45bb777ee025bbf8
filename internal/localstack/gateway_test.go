package localstack_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/passport-oss/passport/internal/localstack"
	"github.com/passport-oss/passport/internal/samtemplate"
)

// recorder is an APIFunc that keeps the events it received.
type recorder struct {
	mu     sync.Mutex
	events []events.APIGatewayV2HTTPRequest
	resp   events.APIGatewayV2HTTPResponse
}

func (r *recorder) fn(_ context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, ev)
	if r.resp.StatusCode == 0 {
		return events.APIGatewayV2HTTPResponse{StatusCode: 200, Body: `{"success":true}`}, nil
	}
	return r.resp, nil
}

func (r *recorder) last(t *testing.T) events.APIGatewayV2HTTPRequest {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.events) == 0 {
		t.Fatal("function was not invoked")
	}
	return r.events[len(r.events)-1]
}

var testRoutes = []samtemplate.Route{
	{Method: "GET", Path: "/api/v1/passport/providers", FunctionID: "List"},
	{Method: "POST", Path: "/api/v1/passport/providers", FunctionID: "Register"},
	{Method: "GET", Path: "/api/v1/passport/providers/{id}", FunctionID: "GetProvider"},
	{Method: "GET", Path: "/api/v1/passport/providers/default", FunctionID: "GetDefault"},
	{Method: "ANY", Path: "/files/{proxy+}", FunctionID: "Files"},
	{Method: "ANY", Path: "$default", FunctionID: "Fallback"},
}

type gatewayFixture struct {
	srv  *httptest.Server
	fns  map[string]*recorder
	gw   *localstack.Gateway
	logs *bytes.Buffer
}

func MustGateway(t *testing.T, routes []samtemplate.Route) *gatewayFixture {
	t.Helper()
	f := &gatewayFixture{fns: map[string]*recorder{}, logs: &bytes.Buffer{}}
	fns := map[string]localstack.APIFunc{}
	for _, r := range routes {
		rec := &recorder{}
		f.fns[r.FunctionID] = rec
		fns[r.FunctionID] = rec.fn
	}
	f.gw = localstack.NewGateway(routes, fns)
	f.gw.Logger = slog.New(slog.NewTextHandler(f.logs, nil))
	f.srv = httptest.NewServer(f.gw)
	t.Cleanup(f.srv.Close)
	return f
}

func MustDo(t *testing.T, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func MustRequest(t *testing.T, method, url string, body io.Reader) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func TestGatewayGETEvent(t *testing.T) {
	f := MustGateway(t, testRoutes)
	req := MustRequest(t, "GET", f.srv.URL+"/api/v1/passport/providers?limit=10&tag=a&tag=b%20c&cursor=", nil)
	req.Header.Add("X-Thing", "one")
	req.Header.Add("X-Thing", "two")
	req.Header.Set("User-Agent", "passport-test/1.0")
	req.Header.Add("Cookie", "session=abc; theme=dark")
	req.Header.Add("Cookie", "lang=en")
	before := time.Now()
	resp, _ := MustDo(t, req)
	if got, want := resp.StatusCode, 200; got != want {
		t.Fatalf("status = %d, want %d", got, want)
	}
	ev := f.fns["List"].last(t)

	if got, want := ev.Version, "2.0"; got != want {
		t.Errorf("version = %q, want %q", got, want)
	}
	if got, want := ev.RouteKey, "GET /api/v1/passport/providers"; got != want {
		t.Errorf("routeKey = %q, want %q", got, want)
	}
	if got, want := ev.RequestContext.RouteKey, ev.RouteKey; got != want {
		t.Errorf("requestContext.routeKey = %q, want %q", got, want)
	}
	if got, want := ev.RawPath, "/api/v1/passport/providers"; got != want {
		t.Errorf("rawPath = %q, want %q", got, want)
	}
	if got, want := ev.RawQueryString, "limit=10&tag=a&tag=b%20c&cursor="; got != want {
		t.Errorf("rawQueryString = %q, want %q", got, want)
	}
	if got, want := ev.QueryStringParameters, map[string]string{"limit": "10", "tag": "a,b c", "cursor": ""}; !reflect.DeepEqual(got, want) {
		t.Errorf("queryStringParameters = %v, want %v", got, want)
	}
	if got, want := ev.Headers["x-thing"], "one,two"; got != want {
		t.Errorf("headers[x-thing] = %q, want %q", got, want)
	}
	if got, want := ev.Cookies, []string{"session=abc", "theme=dark", "lang=en"}; !reflect.DeepEqual(got, want) {
		t.Errorf("cookies = %v, want %v", got, want)
	}
	if _, ok := ev.Headers["cookie"]; ok {
		t.Errorf("headers carry cookie; HTTP API moves cookies to the cookies field")
	}
	for k := range ev.Headers {
		if k != strings.ToLower(k) {
			t.Errorf("header %q is not lower case", k)
		}
	}
	if got, want := ev.Headers["user-agent"], "passport-test/1.0"; got != want {
		t.Errorf("headers[user-agent] = %q, want %q", got, want)
	}
	if got, want := ev.Headers["x-forwarded-for"], "127.0.0.1"; got != want {
		t.Errorf("headers[x-forwarded-for] = %q, want %q", got, want)
	}
	rc := ev.RequestContext
	if got, want := rc.HTTP, (events.APIGatewayV2HTTPRequestContextHTTPDescription{
		Method: "GET", Path: "/api/v1/passport/providers", Protocol: "HTTP/1.1", SourceIP: "127.0.0.1", UserAgent: "passport-test/1.0",
	}); got != want {
		t.Errorf("requestContext.http = %+v, want %+v", got, want)
	}
	if got, want := rc.Stage, "$default"; got != want {
		t.Errorf("stage = %q, want %q", got, want)
	}
	if rc.AccountID == "" || rc.APIID == "" || rc.RequestID == "" {
		t.Errorf("requestContext ids missing: %+v", rc)
	}
	if got, want := rc.DomainName, "127.0.0.1"; got != want {
		t.Errorf("domainName = %q, want %q", got, want)
	}
	if got, want := resp.Header.Get("Apigw-Requestid"), rc.RequestID; got != want {
		t.Errorf("apigw-requestid header = %q, want %q", got, want)
	}
	at, err := time.Parse("02/Jan/2006:15:04:05 -0700", rc.Time)
	if err != nil {
		t.Fatalf("requestContext.time %q: %v", rc.Time, err)
	}
	if d := at.Sub(before.Truncate(time.Second)); d < 0 || d > time.Minute {
		t.Errorf("requestContext.time = %v, request sent at %v", at, before)
	}
	if got := time.UnixMilli(rc.TimeEpoch); got.Before(before.Add(-time.Second)) || got.After(time.Now().Add(time.Second)) {
		t.Errorf("timeEpoch = %v, request sent at %v", got, before)
	}
	if ev.Body != "" || ev.IsBase64Encoded {
		t.Errorf("GET body = %q (base64 %v), want none", ev.Body, ev.IsBase64Encoded)
	}
	if ev.PathParameters != nil {
		t.Errorf("pathParameters = %v, want none", ev.PathParameters)
	}

	// Request ids are unique.
	MustDo(t, MustRequest(t, "GET", f.srv.URL+"/api/v1/passport/providers", nil))
	if got := f.fns["List"].last(t).RequestContext.RequestID; got == rc.RequestID {
		t.Errorf("two requests share requestId %q", got)
	}
}

func TestGatewayPOSTJSON(t *testing.T) {
	f := MustGateway(t, testRoutes)
	body := `{"name":"github","scopes":["repo"]}`
	req := MustRequest(t, "POST", f.srv.URL+"/api/v1/passport/providers", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	MustDo(t, req)
	ev := f.fns["Register"].last(t)
	if got, want := ev.RouteKey, "POST /api/v1/passport/providers"; got != want {
		t.Errorf("routeKey = %q, want %q", got, want)
	}
	if got, want := ev.Body, body; got != want {
		t.Errorf("body = %q, want %q", got, want)
	}
	if ev.IsBase64Encoded {
		t.Errorf("JSON body arrived base64-encoded")
	}
	if got, want := ev.Headers["content-type"], "application/json; charset=utf-8"; got != want {
		t.Errorf("content-type = %q, want %q", got, want)
	}
	if got, want := ev.Headers["content-length"], "35"; got != want {
		t.Errorf("content-length = %q, want %q", got, want)
	}
}

func TestGatewayBinaryBody(t *testing.T) {
	f := MustGateway(t, testRoutes)
	body := []byte{0x00, 0xff, 0xfe, 'a', 0x80}
	req := MustRequest(t, "POST", f.srv.URL+"/api/v1/passport/providers", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/octet-stream")
	MustDo(t, req)
	ev := f.fns["Register"].last(t)
	if !ev.IsBase64Encoded {
		t.Fatalf("binary body not base64-encoded")
	}
	got, err := base64.StdEncoding.DecodeString(ev.Body)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, body) {
		t.Errorf("decoded body = %v, want %v", got, body)
	}
}

func TestGatewayRouting(t *testing.T) {
	f := MustGateway(t, testRoutes)
	tests := []struct {
		method, path   string
		wantFunction   string
		wantRouteKey   string
		wantPathParams map[string]string
	}{
		{"GET", "/api/v1/passport/providers", "List", "GET /api/v1/passport/providers", nil},
		{"DELETE", "/api/v1/passport/providers", "Fallback", "$default", nil},
		{"GET", "/nope", "Fallback", "$default", nil},
		{"GET", "/api/v1/passport/providers/p1q2", "GetProvider", "GET /api/v1/passport/providers/{id}", map[string]string{"id": "p1q2"}},
		{"GET", "/api/v1/passport/providers/a%20b", "GetProvider", "GET /api/v1/passport/providers/{id}", map[string]string{"id": "a b"}},
		{"GET", "/api/v1/passport/providers/default", "GetDefault", "GET /api/v1/passport/providers/default", nil},
		{"GET", "/api/v1/passport/providers/p1/extra", "Fallback", "$default", nil},
		{"PUT", "/files/a/b/c.txt", "Files", "ANY /files/{proxy+}", map[string]string{"proxy": "a/b/c.txt"}},
		{"GET", "/files/", "Fallback", "$default", nil},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			for _, r := range f.fns {
				r.mu.Lock()
				r.events = nil
				r.mu.Unlock()
			}
			MustDo(t, MustRequest(t, tt.method, f.srv.URL+tt.path, nil))
			ev := f.fns[tt.wantFunction].last(t)
			if got := ev.RouteKey; got != tt.wantRouteKey {
				t.Errorf("routeKey = %q, want %q", got, tt.wantRouteKey)
			}
			if got := ev.PathParameters; !reflect.DeepEqual(got, tt.wantPathParams) {
				t.Errorf("pathParameters = %v, want %v", got, tt.wantPathParams)
			}
			if got, want := ev.RequestContext.HTTP.Method, tt.method; got != want {
				t.Errorf("method = %q, want %q", got, want)
			}
		})
	}
}

func TestGatewayWritesResponse(t *testing.T) {
	f := MustGateway(t, testRoutes)
	f.fns["List"].resp = events.APIGatewayV2HTTPResponse{
		StatusCode:        201,
		Headers:           map[string]string{"Content-Type": "application/json", "X-One": "1"},
		MultiValueHeaders: map[string][]string{"X-Many": {"a", "b"}},
		Cookies:           []string{"a=1; Path=/", "b=2; HttpOnly"},
		Body:              `{"success":true,"data":[]}`,
	}
	resp, body := MustDo(t, MustRequest(t, "GET", f.srv.URL+"/api/v1/passport/providers", nil))
	if got, want := resp.StatusCode, 201; got != want {
		t.Errorf("status = %d, want %d", got, want)
	}
	if got, want := string(body), `{"success":true,"data":[]}`; got != want {
		t.Errorf("body = %q, want %q", got, want)
	}
	if got, want := resp.Header.Get("Content-Type"), "application/json"; got != want {
		t.Errorf("content-type = %q, want %q", got, want)
	}
	if got, want := resp.Header.Get("X-One"), "1"; got != want {
		t.Errorf("x-one = %q, want %q", got, want)
	}
	if got, want := resp.Header.Values("X-Many"), []string{"a", "b"}; !reflect.DeepEqual(got, want) {
		t.Errorf("x-many = %v, want %v", got, want)
	}
	if got, want := resp.Header.Values("Set-Cookie"), []string{"a=1; Path=/", "b=2; HttpOnly"}; !reflect.DeepEqual(got, want) {
		t.Errorf("set-cookie = %v, want %v", got, want)
	}

	png := []byte{0x89, 'P', 'N', 'G', 0x00, 0xff}
	f.fns["List"].resp = events.APIGatewayV2HTTPResponse{
		StatusCode: 200, Headers: map[string]string{"Content-Type": "image/png"},
		Body: base64.StdEncoding.EncodeToString(png), IsBase64Encoded: true,
	}
	_, body = MustDo(t, MustRequest(t, "GET", f.srv.URL+"/api/v1/passport/providers", nil))
	if !bytes.Equal(body, png) {
		t.Errorf("base64 body written as %v, want %v", body, png)
	}
}

// envelope decodes the error envelope, failing when the body is not one.
func envelope(t *testing.T, body []byte) localstack.ErrorEnvelope {
	t.Helper()
	var e localstack.ErrorEnvelope
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		t.Fatalf("body %q is not the error envelope: %v", body, err)
	}
	if e.Success || e.Error.Code == "" || e.Error.Message == "" {
		t.Fatalf("body %q is not a failure envelope", body)
	}
	return e
}

func TestGatewayFunctionFailures(t *testing.T) {
	secret := "dial tcp 10.0.0.1: secret-internal-detail"
	tests := []struct {
		name string
		fn   localstack.APIFunc
	}{
		{"error", func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
			return events.APIGatewayV2HTTPResponse{}, errors.New(secret)
		}},
		{"panic", func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
			panic(secret)
		}},
		{"no status code", func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
			return events.APIGatewayV2HTTPResponse{Body: secret}, nil
		}},
		{"bad base64", func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
			return events.APIGatewayV2HTTPResponse{StatusCode: 200, Body: "%%%" + secret, IsBase64Encoded: true}, nil
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gw := localstack.NewGateway(testRoutes[:1], map[string]localstack.APIFunc{"List": tt.fn})
			gw.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
			srv := httptest.NewServer(gw)
			defer srv.Close()
			resp, body := MustDo(t, MustRequest(t, "GET", srv.URL+"/api/v1/passport/providers", nil))
			if got, want := resp.StatusCode, 500; got != want {
				t.Errorf("status = %d, want %d", got, want)
			}
			if got, want := envelope(t, body).Error.Code, "INTERNAL_ERROR"; got != want {
				t.Errorf("code = %q, want %q", got, want)
			}
			if strings.Contains(string(body), "secret") {
				t.Errorf("500 body leaks the error: %s", body)
			}
		})
	}
}

func TestGatewayOwnErrors(t *testing.T) {
	t.Run("body over the limit", func(t *testing.T) {
		f := MustGateway(t, testRoutes)
		f.gw.MaxRequestBytes = 1024
		req := MustRequest(t, "POST", f.srv.URL+"/api/v1/passport/providers", strings.NewReader(strings.Repeat("x", 2048)))
		req.Header.Set("Content-Type", "application/json")
		resp, body := MustDo(t, req)
		if got, want := resp.StatusCode, 413; got != want {
			t.Errorf("status = %d, want %d", got, want)
		}
		if got, want := envelope(t, body).Error.Code, "PAYLOAD_TOO_LARGE"; got != want {
			t.Errorf("code = %q, want %q", got, want)
		}
		if n := len(f.fns["Register"].events); n != 0 {
			t.Errorf("function invoked %d times for an oversized body", n)
		}
	})
	t.Run("event over the Lambda payload limit", func(t *testing.T) {
		f := MustGateway(t, testRoutes)
		f.gw.MaxEventBytes = 4096
		req := MustRequest(t, "POST", f.srv.URL+"/api/v1/passport/providers", bytes.NewReader(bytes.Repeat([]byte{0xff}, 4096)))
		resp, body := MustDo(t, req)
		if got, want := resp.StatusCode, 413; got != want {
			t.Errorf("status = %d, want %d", got, want)
		}
		envelope(t, body)
	})
	t.Run("unreadable body", func(t *testing.T) {
		gw := localstack.NewGateway(testRoutes, map[string]localstack.APIFunc{})
		req := httptest.NewRequest("POST", "/api/v1/passport/providers", io.MultiReader(strings.NewReader("{"), errReader{}))
		rec := httptest.NewRecorder()
		gw.ServeHTTP(rec, req)
		if got, want := rec.Code, 400; got != want {
			t.Errorf("status = %d, want %d", got, want)
		}
		envelope(t, rec.Body.Bytes())
	})
	t.Run("no route and no $default", func(t *testing.T) {
		f := MustGateway(t, testRoutes[:2])
		resp, body := MustDo(t, MustRequest(t, "GET", f.srv.URL+"/elsewhere", nil))
		if got, want := resp.StatusCode, 404; got != want {
			t.Errorf("status = %d, want %d", got, want)
		}
		if got, want := envelope(t, body).Error.Code, "NOT_FOUND"; got != want {
			t.Errorf("code = %q, want %q", got, want)
		}
	})
	t.Run("route without a function", func(t *testing.T) {
		gw := localstack.NewGateway(testRoutes, map[string]localstack.APIFunc{})
		gw.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
		if got, want := gw.Missing(), []string{"Fallback", "Files", "GetDefault", "GetProvider", "List", "Register"}; !reflect.DeepEqual(got, want) {
			t.Errorf("Missing() = %v, want %v", got, want)
		}
		rec := httptest.NewRecorder()
		gw.ServeHTTP(rec, httptest.NewRequest("GET", "/api/v1/passport/providers", nil))
		if got, want := rec.Code, 500; got != want {
			t.Errorf("status = %d, want %d", got, want)
		}
		envelope(t, rec.Body.Bytes())
	})
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("connection reset") }

// TestGatewayTemplateRoutes serves template.yaml's routes: every route
// reaches its function with its route key.
func TestGatewayTemplateRoutes(t *testing.T) {
	routes := MustTemplate(t).Routes()
	f := MustGateway(t, routes)
	for _, r := range routes {
		if r.Path == "$default" {
			continue
		}
		MustDo(t, MustRequest(t, r.Method, f.srv.URL+r.Path, nil))
		if got, want := f.fns[r.FunctionID].last(t).RouteKey, r.RouteKey(); got != want {
			t.Errorf("%s: routeKey = %q, want %q", r.FunctionID, got, want)
		}
	}
}

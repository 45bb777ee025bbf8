package localstack_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/passport-oss/passport/internal/httpapi"
	"github.com/passport-oss/passport/internal/localstack"
	"github.com/passport-oss/passport/internal/testenv"
)

// FuzzGateway sends arbitrary requests (method, target, one header of any
// name, Content-Type, body) as bytes to a real net/http server, so they are
// parsed and screened as `make run` parses them, and the server hands what
// it accepts to the local gateway serving template.yaml's routes. The
// $default route is the API's own fallback (404 or 405 in the envelope)
// through the Lambda adapter (httpapi.LambdaHandler), as deployed; every other function is an echo
// that checks the event it gets: the body as the server read it (text, or
// base64 when not textual), the raw query, the method, lower-case header
// names. The gateway must never panic and must answer every request it gets
// in the envelope: the function's response unchanged, or an error with a
// known code and that code's status; never a 500, since these functions
// never fail.
func FuzzGateway(f *testing.F) {
	f.Add("GET", "/api/v1/passport/providers?limit=2&cursor=abc", "X-Custom", "v", "application/json", []byte(nil))
	f.Add("POST", "/api/v1/passport/providers", "Cookie", "a=1; b=2;;", "application/json", []byte(`{"name":"github"}`))
	f.Add("POST", "/api/v1/passport/authorizations", "X-Forwarded-For", "198.51.100.7", "application/octet-stream", []byte{0xff, 0x00, 0xfe})
	f.Add("GET", "/api/v1/passport/authorizations/a%2Fb%zz/token", "Host", "api.example.com:8443", "", []byte(nil))
	f.Add("DELETE", "/api/v1/passport/audit?since=2026-01-01T00:00:00Z&&=&x", "Authorization", "Bearer x", "text/plain; charset=utf-8", []byte("héllo"))
	f.Add("PATCH", "//api//v1/../passport/providers/p1", "Content-Encoding", "gzip", "application/merge-patch+json", []byte(`{}`))
	f.Add("OPTIONS", "*", "Origin", "https://evil.example", "", []byte(nil))
	f.Add("GET", "http://other.example/api/v1/passport/audit", "X-Amzn-Trace-Id", "Root=1-abc", "", []byte(nil))
	f.Add("PUT", "/nope", "Transfer-Encoding", "chunked", "application/json", []byte("0\r\n\r\n"))
	f.Add("0", "*", " ", "0", "0", []byte(nil)) // a folded header line: the server refuses it

	routes := testenv.Template(f).Routes()
	discard := slog.New(slog.NewTextHandler(io.Discard, nil))
	fallback, err := (&httpapi.Server{Logger: discard}).Handler(httpapi.FallbackFunctionID)
	if err != nil {
		f.Fatal(err)
	}
	fallbackFn := httpapi.LambdaHandler(fallback) // as app.APIFunction wires it

	// One server for the whole run; each input sets the handler it reaches.
	var current atomic.Pointer[http.Handler]
	ln := newPipeListener()
	srv := &http.Server{
		Handler:  http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { (*current.Load()).ServeHTTP(w, r) }),
		ErrorLog: log.New(io.Discard, "", 0),
	}
	go func() { _ = srv.Serve(ln) }()
	f.Cleanup(func() { _ = srv.Close() })

	f.Fuzz(func(t *testing.T, method, target, headerName, headerValue, contentType string, body []byte) {
		const echoBody = `{"success":true,"data":{"echo":true}}`
		var (
			reached atomic.Bool // the server passed the request on
			echoed  atomic.Bool // an echo function answered
			sent    []byte      // the body it read
			req     *http.Request
		)
		echo := func(_ context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
			echoed.Store(true)
			checkEvent(t, req, sent, ev)
			return events.APIGatewayV2HTTPResponse{StatusCode: 200, Body: echoBody,
				Headers: map[string]string{"Content-Type": "application/json"}}, nil
		}
		fns := map[string]localstack.APIFunc{}
		for _, r := range routes {
			fns[r.FunctionID] = echo
		}
		fns[httpapi.FallbackFunctionID] = fallbackFn
		g := localstack.NewGateway(routes, fns)
		g.Logger = discard
		var h http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var err error
			if sent, err = io.ReadAll(r.Body); err != nil {
				return // the client sent less than it announced; nothing to answer
			}
			req = r
			reached.Store(true)
			r.Body = io.NopCloser(bytes.NewReader(sent))
			g.ServeHTTP(w, r)
		})
		current.Store(&h)

		raw := fmt.Sprintf("%s %s HTTP/1.1\r\nHost: localhost:3000\r\n%s: %s\r\nContent-Type: %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n",
			method, target, headerName, headerValue, contentType, len(body))
		conn := ln.dial()
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
		go func() { _, _ = conn.Write(append([]byte(raw), body...)) }()
		resp, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: method})
		if err != nil {
			if reached.Load() {
				t.Fatalf("%s %q: no response from the gateway: %v", method, target, err)
			}
			return // refused or incomplete before the gateway: not its request
		}
		defer resp.Body.Close()
		got, err := io.ReadAll(resp.Body)
		if !reached.Load() {
			return // the server's own 400 or 431
		}
		if err != nil {
			t.Fatalf("%s %q: response body: %v", method, target, err)
		}
		if method == http.MethodHead {
			return // no body to check
		}
		if resp.StatusCode == http.StatusOK && !echoed.Load() && strings.HasPrefix(path.Base(req.URL.Path), "openapi.") {
			return // the fallback serves the API's OpenAPI document, not an envelope
		}
		if resp.StatusCode == http.StatusOK {
			if string(got) != echoBody {
				t.Fatalf("%s %q: the function's response changed on the way: %q", method, target, got)
			}
			return
		}
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			t.Fatalf("%s %q: %d with Content-Type %q", method, target, resp.StatusCode, ct)
		}
		var env struct {
			Success *bool `json:"success"`
			Error   struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		if err := json.Unmarshal(got, &env); err != nil || env.Success == nil || *env.Success {
			t.Fatalf("%s %q: %d, not an error envelope: %q", method, target, resp.StatusCode, got)
		}
		if env.Error.Code == "" || env.Error.Message == "" || httpapi.StatusOf(env.Error.Code) != resp.StatusCode {
			t.Fatalf("%s %q: %d with code %q (status %d): %q", method, target, resp.StatusCode, env.Error.Code, httpapi.StatusOf(env.Error.Code), got)
		}
		if resp.StatusCode == http.StatusInternalServerError {
			t.Fatalf("%s %q: the gateway failed: %q", method, target, got)
		}
	})
}

// pipeListener is a net.Listener of in-memory connections: the fuzzer
// reaches a real server without using a port per input.
type pipeListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newPipeListener() *pipeListener {
	return &pipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *pipeListener) dial() net.Conn {
	client, server := net.Pipe()
	l.conns <- server
	return client
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *pipeListener) Addr() net.Addr { return pipeAddr{} }

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }

// checkEvent fails t unless ev is the event of req, whose body was sent. It
// runs in the server's handler goroutine, so it reports with Errorf: a
// Fatalf there would leave the request unanswered.
func checkEvent(t *testing.T, req *http.Request, sent []byte, ev events.APIGatewayV2HTTPRequest) {
	t.Helper()
	got := []byte(ev.Body)
	if ev.IsBase64Encoded {
		var err error
		if got, err = base64.StdEncoding.DecodeString(ev.Body); err != nil {
			t.Errorf("event body is not base64: %v", err)
			return
		}
	}
	if !bytes.Equal(got, sent) {
		t.Errorf("event body %q (base64 %v), want %q", got, ev.IsBase64Encoded, sent)
	}
	// An event is JSON: bytes that are not UTF-8 arrive as U+FFFD, as
	// Lambda would decode them.
	if want := viaJSON(req.URL.RawQuery); ev.RawQueryString != want {
		t.Errorf("event query %q, want %q", ev.RawQueryString, want)
	}
	if ev.RequestContext.HTTP.Method != viaJSON(req.Method) || ev.Version != "2.0" || ev.RequestContext.RequestID == "" {
		t.Errorf("event method %q version %q request id %q, want %q 2.0 and an id", ev.RequestContext.HTTP.Method, ev.Version, ev.RequestContext.RequestID, req.Method)
	}
	for k := range ev.Headers {
		if k != strings.ToLower(k) {
			t.Errorf("event header %q is not lower case", k)
		}
	}
}

// viaJSON is s after a trip through JSON.
func viaJSON(s string) string {
	b, _ := json.Marshal(s)
	var out string
	_ = json.Unmarshal(b, &out)
	return out
}

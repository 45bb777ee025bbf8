package metrics_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"

	"github.com/passport-oss/passport/internal/metrics"
)

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(s.b.Bytes()))
	for sc.Scan() {
		var doc map[string]any
		if err := json.Unmarshal(sc.Bytes(), &doc); err != nil {
			t.Fatalf("line %q is not one JSON object: %v", sc.Text(), err)
		}
		mustBeEMF(t, doc)
		out = append(out, doc)
	}
	return out
}

// mustBeEMF checks doc against the EMF specification: _aws.Timestamp in
// epoch milliseconds, and directives whose dimensions and metrics are
// members of the root (dimensions strings, metrics numbers).
func mustBeEMF(t *testing.T, doc map[string]any) {
	t.Helper()
	aws, ok := doc["_aws"].(map[string]any)
	if !ok {
		t.Fatalf("no _aws metadata: %v", doc)
	}
	ts, ok := aws["Timestamp"].(float64)
	if !ok || ts != float64(int64(ts)) || time.Since(time.UnixMilli(int64(ts))).Abs() > time.Minute {
		t.Errorf("_aws.Timestamp %v is not the current time in epoch milliseconds", aws["Timestamp"])
	}
	directives, ok := aws["CloudWatchMetrics"].([]any)
	if !ok || len(directives) == 0 {
		t.Fatalf("no CloudWatchMetrics directive: %v", aws)
	}
	for _, d := range directives {
		d := d.(map[string]any)
		if d["Namespace"] != metrics.Namespace {
			t.Errorf("Namespace %v", d["Namespace"])
		}
		for _, set := range d["Dimensions"].([]any) {
			for _, k := range set.([]any) {
				if _, ok := doc[k.(string)].(string); !ok {
					t.Errorf("dimension %v is not a string member of the root: %v", k, doc)
				}
			}
		}
		for _, m := range d["Metrics"].([]any) {
			m := m.(map[string]any)
			if _, ok := doc[m["Name"].(string)].(float64); !ok {
				t.Errorf("metric %v has no number at the root: %v", m["Name"], doc)
			}
			switch m["Unit"] {
			case "Count", "Milliseconds":
			default:
				t.Errorf("metric %v: unit %v", m["Name"], m["Unit"])
			}
		}
	}
}

// serve sends one request through the middleware behind the API Gateway v2
// adapter, as a function serves it.
func serve(t *testing.T, w *syncBuffer, routeKey string, status int) {
	t.Helper()
	h := metrics.Requests(w, http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if status == -1 {
			panic("handler bug")
		}
		rw.WriteHeader(status)
		fmt.Fprint(rw, `{"success":true}`)
	}))
	ev := events.APIGatewayV2HTTPRequest{
		Version: "2.0", RouteKey: routeKey, RawPath: "/api/v1/passport/providers",
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RouteKey: routeKey, Stage: "$default", RequestID: "req-1",
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: "GET", Path: "/api/v1/passport/providers"},
		},
	}
	if _, err := httpadapter.NewV2(h).ProxyWithContext(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
}

func TestRequestsCountsByRouteAndClass(t *testing.T) {
	cases := []struct {
		route               string
		status              int
		want4xx, want5xx    float64
		wantStatusInTheLine float64
	}{
		{"GET /api/v1/passport/providers", 200, 0, 0, 200},
		{"POST /api/v1/passport/providers", 409, 1, 0, 409},
		{"$default", 404, 1, 0, 404},
		{"POST /api/v1/passport/authorizations", 503, 0, 1, 503},
	}
	for _, c := range cases {
		t.Run(fmt.Sprint(c.status), func(t *testing.T) {
			var w syncBuffer
			serve(t, &w, c.route, c.status)
			lines := w.lines(t)
			if len(lines) != 1 {
				t.Fatalf("%d lines, want 1", len(lines))
			}
			l := lines[0]
			if l["Route"] != c.route || l["Function"] != "local" || l["Requests"] != 1.0 ||
				l["4xx"] != c.want4xx || l["5xx"] != c.want5xx || l["Status"] != c.wantStatusInTheLine {
				t.Errorf("line %v", l)
			}
			if lat, _ := l["Latency"].(float64); lat < 0 {
				t.Errorf("Latency %v", l["Latency"])
			}
			dims := l["_aws"].(map[string]any)["CloudWatchMetrics"].([]any)[0].(map[string]any)["Dimensions"]
			if fmt.Sprint(dims) != "[[Function Route]]" {
				t.Errorf("Dimensions %v, want [[Function Route]]", dims)
			}
		})
	}
}

// A panic that escapes the handler counts as a 5xx, and still panics.
func TestRequestsCountsAPanicAsA5xx(t *testing.T) {
	var w syncBuffer
	func() {
		defer func() {
			if recover() == nil {
				t.Error("the panic was swallowed")
			}
		}()
		serve(t, &w, "GET /api/v1/passport/audit", -1)
	}()
	lines := w.lines(t)
	if len(lines) != 1 || lines[0]["5xx"] != 1.0 {
		t.Errorf("lines %v, want one with 5xx 1", lines)
	}
}

// Concurrent requests write whole lines.
func TestRequestsLinesDoNotInterleave(t *testing.T) {
	var w syncBuffer
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			serve(t, &w, "GET /api/v1/passport/providers", 200)
		}()
	}
	wg.Wait()
	if n := len(w.lines(t)); n != 50 {
		t.Errorf("%d lines, want 50", n)
	}
}

func TestAuditBatch(t *testing.T) {
	var w syncBuffer
	if err := metrics.AuditBatch(&w, 7, 1, 1500*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	lines := w.lines(t)
	if len(lines) != 1 {
		t.Fatalf("%d lines", len(lines))
	}
	l := lines[0]
	if l["AuditRecordsWritten"] != 7.0 || l["AuditRecordsFailed"] != 1.0 || l["AuditLag"] != 1500.0 || l["Function"] != "local" {
		t.Errorf("line %v", l)
	}
	if strings.Contains(fmt.Sprint(l), "Route") {
		t.Errorf("audit line has a Route: %v", l)
	}
}

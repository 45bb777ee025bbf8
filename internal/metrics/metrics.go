// Package metrics writes CloudWatch metrics in Embedded Metric Format (EMF):
// one JSON line per event on the function's standard output, which Lambda
// sends to CloudWatch Logs and CloudWatch Logs turns into metrics. No API
// call, no agent, no dependency.
//
// Every metric is in the Namespace "Passport" with the dimension Function
// (the Lambda function's name, which differs per stack), so two stacks in one
// account do not mix:
//
//	Requests, 4xx, 5xx (Count), Latency (Milliseconds)  by Function, Route
//	AuditRecordsWritten, AuditRecordsFailed (Count),
//	AuditLag (Milliseconds)                              by Function
//
// Lambda's log-level filtering (LoggingConfig ApplicationLogLevel) counts a
// JSON line without a "level" as INFO, so at WARN or ERROR these lines, and
// the metrics, are dropped.
package metrics

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/awslabs/aws-lambda-go-api-proxy/core"
)

// Namespace is the CloudWatch namespace of every metric.
const Namespace = "Passport"

// function is the Function dimension: the Lambda function's name, or
// "local" outside Lambda.
var function = func() string {
	if name := os.Getenv("AWS_LAMBDA_FUNCTION_NAME"); name != "" {
		return name
	}
	return "local"
}()

// Requests wraps next and writes one EMF line to w per request: the route
// (API Gateway's route key, "$default" for the catch-all), whether the
// answer was a 4xx or a 5xx, and the handler's latency.
func Requests(w io.Writer, next http.Handler) http.Handler {
	out := &lineWriter{w: w}
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: rw, status: http.StatusOK}
		defer func() {
			// A panic the handler let through is a 500 to the caller.
			if v := recover(); v != nil {
				rec.status = http.StatusInternalServerError
				defer panic(v)
			}
			out.write(document(time.Now(), []string{"Function", "Route"}, []metric{
				{"Requests", "Count", 1},
				{"4xx", "Count", flag(rec.status >= 400 && rec.status < 500)},
				{"5xx", "Count", flag(rec.status >= 500)},
				{"Latency", "Milliseconds", millis(time.Since(start))},
			}, map[string]any{"Route": route(r), "Status": rec.status}))
		}()
		next.ServeHTTP(rec, r)
	})
}

// AuditBatch writes one EMF line to w for a batch of the audit function:
// records written and failed, and the lag behind the stream (the age of the
// batch's oldest record when handled).
func AuditBatch(w io.Writer, written, failed int, lag time.Duration) error {
	return (&lineWriter{w: w}).write(document(time.Now(), []string{"Function"}, []metric{
		{"AuditRecordsWritten", "Count", float64(written)},
		{"AuditRecordsFailed", "Count", float64(failed)},
		{"AuditLag", "Milliseconds", millis(lag)},
	}, nil))
}

type metric struct {
	name, unit string
	value      float64
}

// document builds an EMF document: the _aws metadata naming the metrics and
// their dimensions, and the values as members of the root, beside props.
func document(at time.Time, dimensions []string, metrics []metric, props map[string]any) map[string]any {
	defs := make([]map[string]string, len(metrics))
	doc := map[string]any{"Function": function}
	for k, v := range props {
		doc[k] = v
	}
	for i, m := range metrics {
		defs[i] = map[string]string{"Name": m.name, "Unit": m.unit}
		doc[m.name] = m.value
	}
	doc["_aws"] = map[string]any{
		"Timestamp": at.UnixMilli(),
		"CloudWatchMetrics": []any{map[string]any{
			"Namespace":  Namespace,
			"Dimensions": [][]string{dimensions},
			"Metrics":    defs,
		}},
	}
	return doc
}

// lineWriter writes each document as one line in one Write, so lines from
// concurrent requests never interleave.
type lineWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lineWriter) write(doc map[string]any) error {
	b, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	_, err = l.w.Write(append(b, '\n'))
	return err
}

// route is the request's route key from the API Gateway event, so the Route
// dimension has one value per route, never one per path.
func route(r *http.Request) string {
	if rc, ok := core.GetAPIGatewayV2ContextFromContext(r.Context()); ok && rc.RouteKey != "" {
		return rc.RouteKey
	}
	return "unknown"
}

func flag(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func millis(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

type statusRecorder struct {
	http.ResponseWriter
	status  int
	written bool
}

func (r *statusRecorder) WriteHeader(status int) {
	if !r.written {
		r.status, r.written = status, true
	}
	r.ResponseWriter.WriteHeader(status)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	r.written = true
	return r.ResponseWriter.Write(b)
}

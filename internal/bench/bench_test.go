package bench_test

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/passport-oss/passport/internal/app"
	"github.com/passport-oss/passport/internal/bench"
	"github.com/passport-oss/passport/internal/bench/canned"
	"github.com/passport-oss/passport/internal/httpapi"
	"github.com/passport-oss/passport/internal/testenv"
)

func TestMain(m *testing.M) {
	bench.MaybeRunLoadClient() // the quick run's load client is this binary
	os.Exit(m.Run())
}

// TestQuickRun runs the whole bench in quick mode, so that it cannot rot,
// and checks the table's structure: every area, every route and function
// with its rows, numbers in every value cell. It checks no time.
func TestQuickRun(t *testing.T) {
	testenv.Require(t, "AWS_ENDPOINT_URL_DYNAMODB")
	testenv.Require(t, "PASSPORT_KMS_KEY_ID")
	if testing.Short() {
		t.Skip("builds every function and two test binaries")
	}
	report, err := bench.Run(context.Background(), bench.Options{Quick: true, UseExisting: true, Progress: logWriter{t}})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := report.WriteMarkdown(&out, "test"); err != nil {
		t.Fatal(err)
	}
	header, rows, err := bench.ParseMarkdown(out.String())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(header, bench.Columns) {
		t.Fatalf("header = %q, want %q", header, bench.Columns)
	}
	got := map[string]bool{} // "area|subject|metric"
	var areas []string
	for _, r := range rows {
		got[r[0]+"|"+r[1]+"|"+r[2]] = true
		if len(areas) == 0 || areas[len(areas)-1] != r[0] {
			areas = append(areas, r[0])
		}
		if v, err := strconv.ParseFloat(r[3], 64); err != nil || v < 0 || math.IsInf(v, 0) {
			t.Errorf("row %q: value %q is not a number", r, r[3])
		}
		// Every time is measured beside its floor.
		if (r[0] == bench.AreaLatency || r[2] == "init ms") && r[4] == "" {
			t.Errorf("row %q has no floor", r)
		}
	}
	if !slices.Equal(areas, bench.Areas) {
		t.Errorf("areas in order = %q, want %q", areas, bench.Areas)
	}
	for _, want := range wantRows(t) {
		if !got[want] {
			t.Errorf("no row %q", want)
		}
	}
	if t.Failed() {
		t.Logf("table:\n%s", out.String())
	}
}

// wantRows lists the rows every run must have.
func wantRows(t *testing.T) []string {
	var want []string
	add := func(area, subject string, metrics ...string) {
		for _, m := range metrics {
			want = append(want, area+"|"+subject+"|"+m)
		}
	}
	for _, rt := range httpapi.Routes {
		route := rt.Method + " " + rt.Path
		add(bench.AreaRoundTrips, route, "DynamoDB calls/request", "KMS calls/request")
		add(bench.AreaLatency, route, "p50 ms", "p95 ms", "p99 ms")
		add(bench.AreaHandler, route, "µs/op", "KB/op", "allocs/op")
	}
	for _, id := range testenv.Template(t).FunctionIDs() {
		add(bench.AreaColdStart, id, "init ms", "first invoke ms", "peak RSS MB", "binary MB")
	}
	add(bench.AreaAudit, "AuditStreamFunction", "records/s", "BatchWriteItem calls/record")
	add(bench.AreaAudit, "change → audit entry", "lag p50 ms", "lag p99 ms")
	for _, route := range []string{"POST /api/v1/passport/authorizations", "GET /api/v1/passport/providers"} {
		for _, c := range []int{1, 8, 32} {
			add(bench.AreaLoad, fmt.Sprintf("%s, concurrency %d", route, c), "requests/s", "errors", "stack CPU cores", "functions peak RSS MB")
		}
	}
	return want
}

type logWriter struct{ t *testing.T }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// BenchmarkAuditFunction measures the audit function's in-process cost per
// batch of 100 stream records (the template's BatchSize), as its Lambda
// runs it, with DynamoDB's BatchWriteItem answered by a canned response at
// the SDK's HTTP transport. `make bench` reports it.
func BenchmarkAuditFunction(b *testing.B) {
	b.Run("AuditStreamFunction", func(b *testing.B) {
		responses, err := canned.ForFunction("AuditStreamFunction")
		if err != nil {
			b.Fatal(err)
		}
		awsCfg, err := config.LoadDefaultConfig(context.Background(), config.WithRegion("us-east-1"),
			config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("bench", "bench", "")))
		if err != nil {
			b.Fatal(err)
		}
		awsCfg.HTTPClient = &http.Client{Transport: &canned.Transport{Responses: responses}}
		devNull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
		if err != nil {
			b.Fatal(err)
		}
		defer devNull.Close()
		// What is built here logs to /dev/null, as in httpapi's bench_test.go.
		stdout := os.Stdout
		os.Stdout = devNull
		a, err := app.NewWithAWS(app.Config{Table: "passport"}, awsCfg)
		var handle func(context.Context, events.DynamoDBEvent) (events.DynamoDBEventResponse, error)
		if err == nil {
			handle = a.AuditFunction()
		}
		os.Stdout = stdout
		if err != nil {
			b.Fatal(err)
		}
		ev, err := bench.AuditEvent(testenv.RepoRoot(b), 100, 0)
		if err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		b.ReportAllocs()
		for b.Loop() {
			resp, err := handle(ctx, ev)
			if err != nil || len(resp.BatchItemFailures) > 0 {
				b.Fatalf("%v %v", err, resp.BatchItemFailures)
			}
		}
	})
}

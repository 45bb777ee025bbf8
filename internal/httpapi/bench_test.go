package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/passport-oss/passport/internal/app"
	"github.com/passport-oss/passport/internal/bench/canned"
	"github.com/passport-oss/passport/internal/httpapi"
	"github.com/passport-oss/passport/internal/testenv"
)

// BenchmarkFunction measures each API function's in-process cost per
// request, as its Lambda runs it: the example event of events/ through the
// API Gateway adapter, the handler, the store and the whole AWS SDK path,
// with DynamoDB and KMS answered at the SDK's HTTP transport by responses
// recorded from the local stack (internal/bench/canned). `make bench`
// reports them; compare runs with benchstat.
func BenchmarkFunction(b *testing.B) {
	for _, rt := range httpapi.Routes {
		b.Run(rt.FunctionID, func(b *testing.B) {
			fn := mustCannedFunction(b, rt.FunctionID)
			ev := mustEvent(b, rt.FunctionID)
			ctx := context.Background()
			// The lifecycle writes' example events name fixed ids that the
			// recordings do not hold, so they measure their not-found path;
			// anything but a 5xx is a real path of the function.
			if resp, err := fn(ctx, ev); err != nil || resp.StatusCode >= 500 {
				b.Fatalf("first invoke: %d %v: %s", resp.StatusCode, err, resp.Body)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := fn(ctx, ev); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// mustCannedFunction builds the Lambda handler of functionID as
// app.StartAPIFunction does, over canned AWS responses.
func mustCannedFunction(b *testing.B, functionID string) func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	b.Helper()
	responses, err := canned.ForFunction(functionID)
	if err != nil {
		b.Fatal(err)
	}
	awsCfg, err := config.LoadDefaultConfig(context.Background(),
		config.WithRegion("us-east-1"),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("bench", "bench", "")))
	if err != nil {
		b.Fatal(err)
	}
	awsCfg.HTTPClient = &http.Client{Transport: &canned.Transport{Responses: responses}}
	cfg := app.Config{Table: "passport", KMSKeyID: "alias/passport-bench",
		AuthorizationRetention: 30 * 24 * time.Hour, AuditRetention: 400 * 24 * time.Hour}
	// The function logs each request (and its metrics) to stdout, as Lambda
	// wants; here stdout is the benchmark's report, so what is built here
	// gets /dev/null (still a write per request, as in Lambda).
	devNull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { devNull.Close() })
	stdout := os.Stdout
	os.Stdout = devNull
	defer func() { os.Stdout = stdout }()
	a, err := app.NewWithAWS(cfg, awsCfg)
	if err != nil {
		b.Fatal(err)
	}
	fn, err := a.APIFunction(functionID)
	if err != nil {
		b.Fatal(err)
	}
	return fn
}

// mustEvent reads the function's example event, events/<folder>.json.
func mustEvent(b *testing.B, functionID string) events.APIGatewayV2HTTPRequest {
	b.Helper()
	f, ok := testenv.Template(b).Function(functionID)
	if !ok {
		b.Fatalf("no function %s in template.yaml", functionID)
	}
	raw, err := os.ReadFile(filepath.Join(testenv.RepoRoot(b), "events", filepath.Base(f.SourceDir)+".json"))
	if err != nil {
		b.Fatal(err)
	}
	var ev events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(raw, &ev); err != nil {
		b.Fatal(err)
	}
	return ev
}

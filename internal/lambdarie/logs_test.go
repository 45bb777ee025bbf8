package lambdarie_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/passport-oss/passport/internal/lambdarie"
	"github.com/passport-oss/passport/internal/testenv"
)

// The built create-authorization function, as Lambda runs it, writes one
// JSON log line per request (request id, route, status, latency, caller) and
// one EMF metrics line, for a success, a client error and a server error
// alike; no line ever holds the token it was sent.
func TestRequestLogsAndMetricsOfTheBuiltFunction(t *testing.T) {
	f := mustFunctions(t)
	db := testenv.DynamoDB(t)
	table := testenv.NewTable(t, db)
	const token = "gho_logtest_5f3c9a0d7e"

	register := mustStart(t, f.config(t, "RegisterProviderFunction", table))
	res := mustInvoke(t, register, mustEventFile(t, "register-provider.json"))
	var created events.APIGatewayV2HTTPResponse
	_ = json.Unmarshal(res.Payload, &created)
	var provider struct{ Data struct{ ID string } }
	if err := json.Unmarshal([]byte(created.Body), &provider); err != nil || provider.Data.ID == "" {
		t.Fatalf("register provider: %s", res.Payload)
	}

	create := mustStart(t, f.config(t, "CreateAuthorizationFunction", table))
	broken := f.config(t, "CreateAuthorizationFunction", "no-such-table")
	brokenCreate := mustStart(t, broken)

	cases := []struct {
		name       string
		fn         func() *lambdaResult
		status     int
		level      string // of the request's own line
		want4xx    float64
		want5xx    float64
		wantErrMsg string // a further line, for a server error
	}{
		{"created", func() *lambdaResult { return invokeCreate(t, create, provider.Data.ID, token) }, 201, "INFO", 0, 0, ""},
		{"unknown provider", func() *lambdaResult { return invokeCreate(t, create, "nosuchprovider", token) }, 404, "INFO", 1, 0, ""},
		{"table missing", func() *lambdaResult { return invokeCreate(t, brokenCreate, provider.Data.ID, token) }, 500, "INFO", 0, 1, "internal error"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := c.fn()
			logs := strings.Join(r.res.Logs, "\n")
			if r.resp.StatusCode != c.status {
				t.Fatalf("status %d %s, want %d\n%s", r.resp.StatusCode, r.resp.Body, c.status, logs)
			}
			if strings.Contains(logs, token) || strings.Contains(logs, "gho_") {
				t.Errorf("the token reached the logs:\n%s", logs)
			}

			line := findLine(r.res.Logs, "request")
			if line == nil {
				t.Fatalf("no request line:\n%s", logs)
			}
			want := map[string]any{
				"level":        c.level,
				"method":       "POST",
				"route":        "POST /api/v1/passport/authorizations",
				"status":       float64(c.status),
				"requestId":    r.gatewayRequestID,
				"awsRequestId": r.res.RequestID,
				"caller":       "user-42",
				"callerType":   "user",
			}
			for k, v := range want {
				if line[k] != v {
					t.Errorf("request line %s = %v, want %v\n%s", k, line[k], v, logs)
				}
			}
			if ms, ok := line["latencyMs"].(float64); !ok || ms < 0 {
				t.Errorf("request line latencyMs = %v", line["latencyMs"])
			}
			if _, err := time.Parse(time.RFC3339Nano, fmt.Sprint(line["time"])); err != nil {
				t.Errorf("request line time %v: %v", line["time"], err)
			}
			if c.wantErrMsg != "" && findLine(r.res.Logs, c.wantErrMsg) == nil {
				t.Errorf("no %q line for the server error:\n%s", c.wantErrMsg, logs)
			}

			var emf map[string]any
			for _, m := range jsonLines(r.res.Logs) {
				if m["_aws"] != nil {
					emf = m
				}
			}
			if emf == nil {
				t.Fatalf("no EMF line:\n%s", logs)
			}
			if emf["Route"] != "POST /api/v1/passport/authorizations" || emf["Function"] != "CreateAuthorizationFunction" ||
				emf["Requests"] != 1.0 || emf["4xx"] != c.want4xx || emf["5xx"] != c.want5xx {
				t.Errorf("EMF line %v", emf)
			}
		})
	}
}

type lambdaResult struct {
	res              *lambdarie.Result
	resp             events.APIGatewayV2HTTPResponse
	gatewayRequestID string
}

// invokeCreate posts an authorization holding token, as a JWT-authorized
// caller (sub user-42) through API Gateway.
func invokeCreate(t *testing.T, e *lambdarie.Emulator, providerID, token string) *lambdaResult {
	t.Helper()
	ev := mustEventFile(t, "create-authorization.json")
	body := strings.Replace(ev["body"].(string), "p1q2r3s4", providerID, 1)
	ev["body"] = strings.Replace(body, "gho_xxxxxxxxxxxx", token, 1)
	rc := ev["requestContext"].(map[string]any)
	rc["authorizer"] = map[string]any{"jwt": map[string]any{
		"claims": map[string]any{"sub": "user-42", "scope": "passport/authorizations.write"},
		"scopes": nil,
	}}
	res := mustInvoke(t, e, ev)
	r := &lambdaResult{res: res, gatewayRequestID: rc["requestId"].(string)}
	if res.Status != 200 || res.FunctionError != "" {
		t.Fatalf("invocation: %d %s\n%s", res.Status, res.FunctionError, strings.Join(res.Logs, "\n"))
	}
	if err := json.Unmarshal(res.Payload, &r.resp); err != nil {
		t.Fatal(err)
	}
	return r
}

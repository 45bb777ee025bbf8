package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/passport-oss/passport/internal/app"
	"github.com/passport-oss/passport/internal/httpapi"
	"github.com/passport-oss/passport/internal/testenv"
)

// The route table in code and the routes in template.yaml are the same.
func TestTemplateRoutesMatchRouteTable(t *testing.T) {
	var got []string
	for _, r := range testenv.Template(t).Routes() {
		got = append(got, r.RouteKey()+" -> "+r.FunctionID)
	}
	var want []string
	for _, r := range httpapi.Routes {
		want = append(want, r.Method+" "+r.Path+" -> "+r.FunctionID)
	}
	want = append(want, "$default -> "+httpapi.FallbackFunctionID)
	slices.Sort(got)
	slices.Sort(want)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("template routes:\n %v\nroute table:\n %v", got, want)
	}
}

// Every function in the template has a source folder with a main.go, and
// every API function builds its handler.
func TestEveryTemplateFunctionIsBuilt(t *testing.T) {
	tmpl := testenv.Template(t)
	a := mustApp(t, "unused-table")
	for _, id := range tmpl.FunctionIDs() {
		fn, _ := tmpl.Function(id)
		if _, err := os.Stat(filepath.Join(testenv.RepoRoot(t), fn.SourceDir, "main.go")); err != nil {
			t.Errorf("%s: %v", id, err)
		}
		if id == "AuditStreamFunction" {
			continue
		}
		if _, err := a.APIFunction(id); err != nil {
			t.Errorf("%s: %v", id, err)
		}
	}
}

func TestLoadConfig(t *testing.T) {
	env := map[string]string{"TABLE_NAME": "t", "AUTHORIZATION_RETENTION_DAYS": "7", "AWS_LAMBDA_LOG_LEVEL": "DEBUG"}
	cfg, err := app.LoadConfig(func(k string) string { return env[k] })
	if err != nil || cfg.Table != "t" || cfg.AuthorizationRetention.Hours() != 7*24 || cfg.AuditRetention.Hours() != 400*24 {
		t.Fatalf("cfg %+v err %v", cfg, err)
	}
	bad := map[string]string{"AUTHORIZATION_RETENTION_DAYS": "-1", "AWS_LAMBDA_LOG_LEVEL": "LOUD"}
	_, err = app.LoadConfig(func(k string) string { return bad[k] })
	for _, name := range []string{"TABLE_NAME", "AUTHORIZATION_RETENTION_DAYS", "AWS_LAMBDA_LOG_LEVEL"} {
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("error %v does not name %s", err, name)
		}
	}
}

func TestTokenFunctionRequiresKMSKey(t *testing.T) {
	a, err := app.NewWithAWS(app.Config{Table: "t"}, testenv.AWSConfig(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.APIFunction("CreateAuthorizationFunction"); err == nil || !strings.Contains(err.Error(), "KMS_KEY_ID") {
		t.Errorf("err = %v, want one naming KMS_KEY_ID", err)
	}
}

func mustApp(t *testing.T, table string) *app.App {
	t.Helper()
	_, keyID := testenv.KMS(t)
	a, err := app.NewWithAWS(app.Config{Table: table, KMSKeyID: keyID}, testenv.AWSConfig(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func mustAPIEvent(t *testing.T, name string) events.APIGatewayV2HTTPRequest {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testenv.RepoRoot(t), "events", name))
	if err != nil {
		t.Fatal(err)
	}
	var ev events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatal(err)
	}
	return ev
}

type envelope struct {
	Success bool            `json:"success"`
	Data    json.RawMessage `json:"data"`
	Error   struct{ Code string }
}

func invoke(t *testing.T, a *app.App, functionID string, ev events.APIGatewayV2HTTPRequest) (int, envelope) {
	t.Helper()
	fn, err := a.APIFunction(functionID)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := fn(context.Background(), ev)
	if err != nil {
		t.Fatalf("%s: %v", functionID, err)
	}
	if ct := resp.Headers["Content-Type"]; ct != "application/json" {
		t.Errorf("%s: Content-Type %q", functionID, ct)
	}
	var env envelope
	if err := json.Unmarshal([]byte(resp.Body), &env); err != nil {
		t.Fatalf("%s: body %q", functionID, resp.Body)
	}
	return resp.StatusCode, env
}

// Each API event in events/ through its function's Lambda handler, the
// aws-lambda-go-api-proxy adapter included, against DynamoDB Local.
func TestAPIFunctionsWithEventFiles(t *testing.T) {
	db := testenv.DynamoDB(t)
	a := mustApp(t, testenv.NewTable(t, db))

	status, env := invoke(t, a, "RegisterProviderFunction", mustAPIEvent(t, "register-provider.json"))
	var provider struct{ ID, Name string }
	_ = json.Unmarshal(env.Data, &provider)
	if status != 201 || provider.Name != "github" {
		t.Fatalf("register: %d %s", status, env.Data)
	}

	ev := mustAPIEvent(t, "create-authorization.json")
	ev.Body = strings.Replace(ev.Body, "p1q2r3s4", provider.ID, 1)
	status, env = invoke(t, a, "CreateAuthorizationFunction", ev)
	var authz struct{ ProviderID, Token, Status string }
	_ = json.Unmarshal(env.Data, &authz)
	if status != 201 || authz.ProviderID != provider.ID || authz.Token != "gho_xxxxxxxxxxxx" || authz.Status != "expired" {
		t.Fatalf("create authorization: %d %s", status, env.Data)
	}

	status, env = invoke(t, a, "ListProvidersFunction", mustAPIEvent(t, "list-providers.json"))
	if status != 200 || !strings.Contains(string(env.Data), provider.ID) {
		t.Fatalf("list providers: %d %s", status, env.Data)
	}

	status, env = invoke(t, a, "ListAuditFunction", mustAPIEvent(t, "list-audit.json"))
	if status != 200 || !env.Success {
		t.Fatalf("list audit: %d %s", status, env.Data)
	}

	status, env = invoke(t, a, "FallbackFunction", mustAPIEvent(t, "fallback.json"))
	if (status != 404 && status != 405) || env.Success || (env.Error.Code != "NOT_FOUND" && env.Error.Code != "METHOD_NOT_ALLOWED") {
		t.Fatalf("fallback: %d %+v", status, env)
	}
}

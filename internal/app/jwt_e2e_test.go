package app_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/passport-oss/passport/internal/httpapi/openapitest"
	"github.com/passport-oss/passport/internal/localapp"
	"github.com/passport-oss/passport/internal/localstack"
	"github.com/passport-oss/passport/internal/samtemplate"
	"github.com/passport-oss/passport/internal/testenv"
)

// jwtStack is the whole API as `passport-local run -jwt-dev-key` serves it:
// template.yaml's routes in JWT mode, tokens checked against a dev key.
type jwtStack struct {
	*stack
	key *localstack.DevKey
}

func mustJWTStack(t *testing.T) *jwtStack {
	t.Helper()
	key, err := localstack.NewDevKey()
	if err != nil {
		t.Fatal(err)
	}
	auths, err := testenv.Template(t).RouteAuths(map[string]string{
		"AuthMode": "JWT", "JwtIssuer": localstack.DevIssuer, "JwtAudience": localstack.DevAudience,
	})
	if err != nil {
		t.Fatal(err)
	}
	auth, err := localstack.NewRouteAuthorizer(auths, func(samtemplate.JWTConfig) (localstack.KeySet, error) { return key.JWKS(), nil })
	if err != nil {
		t.Fatal(err)
	}
	return &jwtStack{stack: mustStackWith(t, localapp.LocalOptions{Auth: auth}), key: key}
}

// token mints a token for sub holding scopes.
func (s *jwtStack) token(t *testing.T, sub string, scopes ...string) string {
	t.Helper()
	now := time.Now()
	tok, err := s.key.Mint(map[string]any{
		"iss": localstack.DevIssuer, "aud": localstack.DevAudience, "sub": sub,
		"scope": strings.Join(scopes, " "), "iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// call sends a request with token (none when empty) and returns the status
// and the decoded envelope.
func (s *jwtStack) call(t *testing.T, token, method, path, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, s.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := openapitest.Client(t).Do(req) // checked against the OpenAPI document
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var env map[string]any
	if err := json.Unmarshal(raw, &env); err != nil {
		t.Fatalf("%s %s: not JSON: %q", method, path, raw)
	}
	return resp.StatusCode, env
}

func errorCode(env map[string]any) string {
	e, _ := env["error"].(map[string]any)
	code, _ := e["code"].(string)
	return code
}

// In JWT mode each role gets what its scopes allow, nothing else, and the
// audit trail names the token's subject as the actor of each change.
func TestJWTModeEndToEnd(t *testing.T) {
	s := mustJWTStack(t)
	admin := s.token(t, "admin-alice", "passport/providers.read", "passport/providers.write", "passport/authorizations.write")
	agent := s.token(t, "agent-runtime", "passport/providers.read", "passport/tokens.read")
	auditor := s.token(t, "auditor-ann", "passport/audit.read")
	provider := `{"name":"github","type":"oauth2","clientId":"Iv1.abc123def456","scopes":["repo","user"],"redirectUri":"https://app.example.com/auth/callback"}`

	refusals := []struct {
		name, token, method, path, body string
		status                          int
		code                            string
	}{
		{"anonymous list", "", "GET", "/api/v1/passport/providers", "", 401, "UNAUTHORIZED"},
		{"anonymous unknown path", "", "GET", "/api/v1/nothing", "", 401, "UNAUTHORIZED"},
		{"agent registers", agent, "POST", "/api/v1/passport/providers", provider, 403, "FORBIDDEN"},
		{"auditor lists providers", auditor, "GET", "/api/v1/passport/providers", "", 403, "FORBIDDEN"},
		{"admin reads the audit", admin, "GET", "/api/v1/passport/audit", "", 403, "FORBIDDEN"},
		{"forged token", strings.TrimSuffix(admin, admin[len(admin)-4:]) + "AAAA", "GET", "/api/v1/passport/providers", "", 401, "UNAUTHORIZED"},
	}
	for _, tt := range refusals {
		status, env := s.call(t, tt.token, tt.method, tt.path, tt.body)
		if status != tt.status || env["success"] != false || errorCode(env) != tt.code {
			t.Errorf("%s: %d %v, want %d %s in the envelope", tt.name, status, env, tt.status, tt.code)
		}
	}

	status, env := s.call(t, admin, "POST", "/api/v1/passport/providers", provider)
	data, _ := env["data"].(map[string]any)
	if status/100 != 2 || data["id"] == nil {
		t.Fatalf("admin registers: %d %v", status, env)
	}
	if status, env := s.call(t, agent, "GET", "/api/v1/passport/providers", ""); status != 200 {
		t.Errorf("agent lists providers: %d %v", status, env)
	}
	if status, env := s.call(t, s.token(t, "nobody"), "GET", "/api/v1/nothing", ""); status != 404 || errorCode(env) != "NOT_FOUND" {
		t.Errorf("any valid token on an unknown path: %d %v, want the fallback's 404", status, env)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.local.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	for {
		status, env := s.call(t, auditor, "GET", "/api/v1/passport/audit", "")
		entries, _ := env["data"].([]any)
		if status == 200 && len(entries) == 1 {
			actor, _ := entries[0].(map[string]any)["actor"].(map[string]any)
			if actor["type"] != "user" || actor["id"] != "admin-alice" {
				t.Errorf("audit actor = %v, want the token's subject admin-alice", actor)
			}
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("audit: %d %v, want one entry", status, env)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

package app_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/passport-oss/passport/internal/httpapi"
	"github.com/passport-oss/passport/internal/httpapi/openapitest"
)

// The local stack serves the OpenAPI document through the gateway's
// $default route, as `make run` does, and the answers match the document.
func TestOpenAPIServedThroughTheGateway(t *testing.T) {
	s := mustStack(t)
	client := openapitest.Client(t)
	for _, tt := range []struct {
		path, contentType string
		want              []byte
	}{
		{"/api/v1/passport/openapi.json", "application/json", httpapi.OpenAPIJSON()},
		{"/api/v1/passport/openapi.yaml", "application/yaml", httpapi.OpenAPI()},
	} {
		resp, err := client.Get(s.url + tt.path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != tt.contentType || string(body) != string(tt.want) {
			t.Errorf("GET %s = %d %q, %d bytes; want 200 %q, the document (%d bytes)",
				tt.path, resp.StatusCode, resp.Header.Get("Content-Type"), len(body), tt.contentType, len(tt.want))
		}
	}
	status, hdr, env := s.curl(t, "POST", "/api/v1/passport/openapi.json", "")
	if status != 405 || hdr.Get("Allow") != "GET" || errorCode(env) != "METHOD_NOT_ALLOWED" {
		t.Errorf("POST openapi.json = %d (Allow %q) %v, want 405 with Allow GET", status, hdr.Get("Allow"), env)
	}
}

// Requests the document does not admit are refused as it says: the
// answers (not the requests) are checked against it.
func TestInvalidRequestsAnswerAsTheDocumentSays(t *testing.T) {
	s := mustStack(t)
	for _, tt := range []struct {
		name, method, path, contentType, body string
		status                                int
		code                                  string
	}{
		{"a missing field", "POST", "/api/v1/passport/providers", "application/json", `{"name":"github"}`, 400, "VALIDATION_ERROR"},
		{"an unknown field", "POST", "/api/v1/passport/providers", "application/json",
			strings.Replace(githubProvider, `{`, `{"colour":"red",`, 1), 400, "VALIDATION_ERROR"},
		{"not a JSON object", "POST", "/api/v1/passport/authorizations", "application/json", `[1]`, 400, "INVALID_JSON"},
		{"another media type", "POST", "/api/v1/passport/providers", "text/plain", githubProvider, 415, "UNSUPPORTED_MEDIA_TYPE"},
		{"a body over 64 KiB", "POST", "/api/v1/passport/providers", "application/json",
			`{"name":"` + strings.Repeat("a", httpapi.MaxBodyBytes) + `"}`, 413, "PAYLOAD_TOO_LARGE"},
		{"a limit out of range", "GET", "/api/v1/passport/providers?limit=0", "", "", 400, "VALIDATION_ERROR"},
		{"a time that is not RFC 3339", "GET", "/api/v1/passport/audit?since=yesterday", "", "", 400, "VALIDATION_ERROR"},
		{"an unknown action", "GET", "/api/v1/passport/audit?action=provider.renamed", "", "", 400, "VALIDATION_ERROR"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, s.url+tt.path, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if tt.contentType != "" {
				req.Header.Set("Content-Type", tt.contentType)
			}
			resp, err := openapitest.Client(t, openapitest.ResponsesOnly()).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var env map[string]any
			_ = json.NewDecoder(resp.Body).Decode(&env)
			if resp.StatusCode != tt.status || errorCode(env) != tt.code {
				t.Errorf("%d %v, want %d %s", resp.StatusCode, env, tt.status, tt.code)
			}
		})
	}
}

// Every operation, with the answers the lifecycle gives, through the
// checking client: each request and response is checked against the
// document, so every operation's shapes, headers and statuses are, whatever
// the other end-to-end tests happen to send. Statuses are asserted here;
// what the changes do is for the lifecycle tests.
func TestEveryOperationMatchesTheDocument(t *testing.T) {
	s := mustStack(t)
	const providers, authorizations = "/api/v1/passport/providers", "/api/v1/passport/authorizations"
	expect := func(what string, status, want int, env map[string]any) {
		t.Helper()
		if status != want {
			t.Fatalf("%s: %d %v, want %d", what, status, env, want)
		}
	}
	key := map[string]string{"Idempotency-Key": "contract-" + t.Name()}

	status, hdr, env := s.sendWith(t, "POST", providers, githubProvider, key)
	expect("register", status, 201, env)
	providerID, providerTag := data(t, env)["id"].(string), hdr.Get("ETag")
	status, hdr, env = s.sendWith(t, "POST", providers, githubProvider, key)
	expect("register, retried", status, 201, env)
	if hdr.Get("Idempotent-Replayed") != "true" {
		t.Errorf("register, retried: Idempotent-Replayed = %q, want true", hdr.Get("Idempotent-Replayed"))
	}
	status, _, env = s.sendWith(t, "POST", providers, strings.Replace(githubProvider, `"github"`, `"gitlab"`, 1), key)
	expect("register, key reused", status, 422, env)
	status, _, env = s.sendWith(t, "POST", providers, strings.Replace(githubProvider, `"github"`, `"GitHub"`, 1), nil)
	expect("register, name taken", status, 409, env)
	status, _, env = s.sendWith(t, "POST", providers, strings.Replace(githubProvider, `"github"`, `"gitlab"`, 1), nil)
	expect("register another", status, 201, env)

	status, _, env = s.sendWith(t, "GET", providers+"?limit=1", "", nil)
	expect("list, first page", status, 200, env)
	cursor, _ := env["nextCursor"].(string)
	if cursor == "" {
		t.Fatalf("list, first page: no nextCursor: %v", env)
	}
	status, _, env = s.sendWith(t, "GET", providers+"?limit=1&cursor="+url.QueryEscape(cursor), "", nil)
	expect("list, second page", status, 200, env)

	status, _, env = s.sendWith(t, "GET", providers+"/"+providerID, "", nil)
	expect("read provider", status, 200, env)
	status, _, env = s.sendWith(t, "GET", providers+"/nope", "", nil)
	expect("read unknown provider", status, 404, env)
	patch := `{"scopes":["repo","user","read:org","gist"]}`
	status, hdr, env = s.sendWith(t, "PATCH", providers+"/"+providerID, patch,
		map[string]string{"Content-Type": "application/merge-patch+json", "If-Match": providerTag})
	expect("update provider", status, 200, env)
	if hdr.Get("ETag") == providerTag {
		t.Errorf("update provider: ETag %s unchanged", providerTag)
	}
	status, _, env = s.sendWith(t, "PATCH", providers+"/"+providerID, patch, map[string]string{"If-Match": providerTag})
	expect("update provider, stale If-Match", status, 412, env)
	status, _, env = s.sendWith(t, "PATCH", providers+"/"+providerID, `{"name":"gitlab"}`, nil)
	expect("update provider, name taken", status, 409, env)

	grant := func(label string) string {
		b := `{"providerId":"` + providerID + `","userId":"user-abc","scopes":["repo"],"token":"gho_contract","expiresAt":"2999-01-01T00:00:00Z"`
		if label != "" {
			b += `,"accountLabel":"` + label + `"`
		}
		return b + "}"
	}
	grantKey := map[string]string{"Idempotency-Key": "contract-grant-" + t.Name()}
	status, _, env = s.sendWith(t, "POST", authorizations, grant(""), grantKey)
	expect("create authorization", status, 201, env)
	authzID := data(t, env)["id"].(string)
	status, hdr, env = s.sendWith(t, "POST", authorizations, grant(""), grantKey)
	expect("create authorization, retried", status, 201, env)
	if hdr.Get("Idempotent-Replayed") != "true" {
		t.Errorf("create authorization, retried: Idempotent-Replayed = %q, want true", hdr.Get("Idempotent-Replayed"))
	}
	status, _, env = s.sendWith(t, "POST", authorizations, grant(""), nil)
	expect("reconnect", status, 200, env)
	status, _, env = s.sendWith(t, "POST", authorizations, grant("work"), nil)
	expect("create authorization, second account", status, 201, env)
	status, _, env = s.sendWith(t, "POST", authorizations, strings.Replace(grant(""), providerID, "nope", 1), nil)
	expect("create authorization, unknown provider", status, 404, env)

	status, _, env = s.sendWith(t, "GET", authorizations+"?userId=user-abc", "", nil)
	expect("list a user's authorizations", status, 200, env)
	status, _, env = s.sendWith(t, "GET", authorizations+"?providerId="+providerID+"&status=active&limit=1", "", nil)
	expect("list a provider's active authorizations", status, 200, env)
	status, _, env = s.sendWith(t, "GET", authorizations, "", nil)
	expect("list authorizations without a filter", status, 400, env)
	status, hdr, env = s.sendWith(t, "GET", authorizations+"/"+authzID, "", nil)
	expect("read authorization", status, 200, env)
	authzTag := hdr.Get("ETag")
	status, _, env = s.sendWith(t, "GET", authorizations+"/nope", "", nil)
	expect("read unknown authorization", status, 404, env)
	status, _, env = s.sendWith(t, "GET", authorizations+"/"+authzID+"/token", "", nil)
	expect("read token", status, 200, env)

	status, _, env = s.sendWith(t, "DELETE", authorizations+"/"+authzID, "", map[string]string{"If-Match": `"v999"`})
	expect("revoke, stale If-Match", status, 412, env)
	status, _, env = s.sendWith(t, "DELETE", authorizations+"/"+authzID, "", map[string]string{"If-Match": authzTag})
	expect("revoke", status, 200, env)
	status, _, env = s.sendWith(t, "GET", authorizations+"/"+authzID+"/token", "", nil)
	expect("read a revoked token", status, 410, env)

	status, _, env = s.sendWith(t, "DELETE", providers+"/"+providerID, "", nil)
	expect("delete a provider with authorizations", status, 409, env)
	status, _, env = s.sendWith(t, "DELETE", providers+"/"+providerID+"?cascade=true", "", nil)
	expect("delete, cascading", status, 200, env)
	status, _, env = s.sendWith(t, "DELETE", providers+"/"+providerID, "", nil)
	expect("delete a deleted provider", status, 404, env)

	// Every action's entry, each checked against the document.
	s.mustDrain(t)
	seen := map[string]bool{}
	for _, e := range s.mustAllAudit(t) {
		seen[e["action"].(string)] = true
	}
	for _, action := range []string{"provider.created", "provider.updated", "provider.deleted", "authorization.created",
		"authorization.updated", "authorization.revoked", "authorization.token_read"} {
		if !seen[action] {
			t.Errorf("no %s entry in the audit trail: %v", action, seen)
		}
	}
	status, _, env = s.sendWith(t, "GET", "/api/v1/passport/audit?providerId="+providerID+"&action=provider.updated&limit=5", "", nil)
	expect("a provider's audit trail", status, 200, env)
}

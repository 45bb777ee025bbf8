package app_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/passport-oss/passport/internal/httpapi/openapitest"
)

// send is curl with headers, for If-Match and Idempotency-Key.
func (s *stack) sendWith(t *testing.T, method, path, body string, headers map[string]string) (int, http.Header, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, s.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	return s.do(t, openapitest.Client(t), req)
}

func (s *stack) mustAuthorization(t *testing.T, providerID, user, label string) map[string]any {
	t.Helper()
	body := fmt.Sprintf(`{"providerId":%q,"userId":%q,"scopes":["repo"],"token":"gho_%s","expiresAt":"2999-01-01T00:00:00Z"`, providerID, user, user)
	if label != "" {
		body += fmt.Sprintf(`,"accountLabel":%q`, label)
	}
	status, _, env := s.curl(t, "POST", "/api/v1/passport/authorizations", body+"}")
	if status != 201 {
		t.Fatalf("create authorization: %d %v", status, env)
	}
	return data(t, env)
}

func TestProviderLifecycle(t *testing.T) {
	s := mustStack(t)
	p, id := s.mustProvider(t)
	path := "/api/v1/passport/providers/" + id

	status, hdr, env := s.curl(t, "GET", path, "")
	if status != 200 || hdr.Get("ETag") != `"v1"` {
		t.Fatalf("get: %d ETag %q %v", status, hdr.Get("ETag"), env)
	}
	checkFields(t, "read provider", data(t, env), p)

	// A stale If-Match loses; the current one wins and bumps the version.
	status, _, env = s.sendWith(t, "PATCH", path, `{"name":"github-enterprise","scopes":["repo"]}`, map[string]string{"If-Match": `"v7"`})
	if status != 412 || errorCode(env) != "PRECONDITION_FAILED" {
		t.Fatalf("stale patch: %d %v", status, env)
	}
	status, hdr, env = s.sendWith(t, "PATCH", path, `{"name":"github-enterprise","scopes":["repo"]}`, map[string]string{"If-Match": `"v1"`})
	if status != 200 || hdr.Get("ETag") != `"v2"` || data(t, env)["name"] != "github-enterprise" {
		t.Fatalf("patch: %d %q %v", status, hdr.Get("ETag"), env)
	}
	// The old name is free again; a taken one is refused.
	if status, _, env := s.curl(t, "POST", "/api/v1/passport/providers", githubProvider); status != 201 {
		t.Fatalf("reuse the old name: %d %v", status, env)
	}
	if status, _, env := s.curlInvalid(t, "PATCH", path, `{"name":"GitHub"}`); status != 409 {
		t.Fatalf("rename onto a taken name: %d %v", status, env)
	}
	if status, _, env := s.curlInvalid(t, "PATCH", path, `{}`); status != 400 {
		t.Fatalf("empty patch: %d %v", status, env)
	}

	// Narrowed scopes: the existing grant keeps its own; a new one must fit.
	grant := s.mustAuthorization(t, id, "user-1", "")
	if status, _, env := s.curlInvalid(t, "DELETE", path, ""); status != 409 || errorCode(env) != "CONFLICT" {
		t.Fatalf("delete with a grant: %d %v", status, env)
	}
	status, _, env = s.curl(t, "DELETE", path+"?cascade=true", "")
	if status != 200 || data(t, env)["revokedAuthorizations"] != 1.0 || data(t, env)["deleted"] != true {
		t.Fatalf("cascade delete: %d %v", status, env)
	}
	if status, _, _ := s.curlInvalid(t, "GET", path, ""); status != 404 {
		t.Errorf("get a deleted provider: %d", status)
	}
	_, _, env = s.curl(t, "GET", "/api/v1/passport/authorizations/"+grant["id"].(string), "")
	if data(t, env)["status"] != "revoked" {
		t.Errorf("the cascade left the grant %v", env)
	}
	_, _, env = s.curl(t, "GET", "/api/v1/passport/providers", "")
	for _, item := range env["data"].([]any) {
		if item.(map[string]any)["id"] == id {
			t.Error("the deleted provider is still listed")
		}
	}

	byAction := map[string]int{}
	for _, e := range s.mustAllAuditAfterDrain(t) {
		if e["providerId"] == id {
			byAction[e["action"].(string)]++
		}
	}
	for action, n := range map[string]int{"provider.created": 1, "provider.updated": 1, "provider.deleted": 1, "authorization.created": 1, "authorization.revoked": 1} {
		if byAction[action] != n {
			t.Errorf("%s: %d entries, want %d (all: %v)", action, byAction[action], n, byAction)
		}
	}
}

func (s *stack) mustAllAuditAfterDrain(t *testing.T) []map[string]any {
	t.Helper()
	s.mustDrain(t)
	return s.mustAllAudit(t)
}

func TestAuthorizationLifecycle(t *testing.T) {
	s := mustStack(t)
	_, pid := s.mustProvider(t)
	first := s.mustAuthorization(t, pid, "user-1", "")
	id := first["id"].(string)

	// Reconnecting replaces the grant in place: same id, 200, new token.
	status, _, env := s.curl(t, "POST", "/api/v1/passport/authorizations",
		fmt.Sprintf(`{"providerId":%q,"userId":"user-1","scopes":["repo","user"],"token":"gho_second","expiresAt":"2999-02-01T00:00:00Z"}`, pid))
	if status != 200 || data(t, env)["id"] != id || data(t, env)["token"] != "gho_second" {
		t.Fatalf("reconnect: %d %v", status, env)
	}
	work := s.mustAuthorization(t, pid, "user-1", "work") // a second account: a second grant
	if work["id"] == id || work["accountLabel"] != "work" {
		t.Fatalf("labelled grant %v", work)
	}

	status, hdr, env := s.curl(t, "GET", "/api/v1/passport/authorizations/"+id, "")
	got := data(t, env)
	if status != 200 || hdr.Get("ETag") != `"v2"` || fmt.Sprint(got["scopes"]) != "[repo user]" || got["token"] != nil {
		t.Fatalf("get: %d %q %v", status, hdr.Get("ETag"), got)
	}
	for _, q := range []string{"userId=user-1", "providerId=" + pid, "userId=user-1&providerId=" + pid} {
		_, _, env := s.curl(t, "GET", "/api/v1/passport/authorizations?"+q, "")
		if list := env["data"].([]any); len(list) != 2 || strings.Contains(fmt.Sprint(env), "gho_") {
			t.Errorf("list %s = %v", q, env)
		}
	}

	status, hdr, env = s.sendWith(t, "DELETE", "/api/v1/passport/authorizations/"+id, "", map[string]string{"If-Match": `"v2"`})
	if status != 200 || data(t, env)["status"] != "revoked" || hdr.Get("ETag") != `"v3"` {
		t.Fatalf("revoke: %d %v", status, env)
	}
	if status, _, env := s.curlInvalid(t, "GET", "/api/v1/passport/authorizations/"+id+"/token", ""); status != 410 || errorCode(env) != "AUTHORIZATION_REVOKED" {
		t.Errorf("token of a revoked grant: %d %v", status, env)
	}
	for _, tt := range []struct{ status, want string }{{"revoked", id}, {"active", work["id"].(string)}} {
		_, _, env := s.curl(t, "GET", "/api/v1/passport/authorizations?userId=user-1&status="+tt.status, "")
		list := env["data"].([]any)
		if len(list) != 1 || list[0].(map[string]any)["id"] != tt.want {
			t.Errorf("status=%s: %v", tt.status, env)
		}
	}
	// After revocation the pair may connect anew: a new grant.
	if again := s.mustAuthorization(t, pid, "user-1", ""); again["id"] == id {
		t.Error("a new grant after revocation reused the revoked id")
	}
	s.assertNoPlaintext(t, "gho_second")

	actions := map[string]int{}
	for _, e := range s.mustAllAuditAfterDrain(t) {
		if e["authorizationId"] == id {
			actions[e["action"].(string)]++
		}
	}
	if fmt.Sprint(actions) != "map[authorization.created:1 authorization.revoked:1 authorization.updated:1]" {
		t.Errorf("audit of the grant: %v", actions)
	}
}

func TestIdempotencyKey(t *testing.T) {
	s := mustStack(t)
	key := map[string]string{"Idempotency-Key": "create-github-1"}
	status, hdr, first := s.sendWith(t, "POST", "/api/v1/passport/providers", githubProvider, key)
	if status != 201 || hdr.Get("Idempotent-Replayed") != "" {
		t.Fatalf("first: %d %v", status, first)
	}
	status, hdr, again := s.sendWith(t, "POST", "/api/v1/passport/providers", githubProvider, key)
	if status != 201 || hdr.Get("Idempotent-Replayed") != "true" || fmt.Sprint(again) != fmt.Sprint(first) {
		t.Fatalf("replay: %d %v, want %v", status, again, first)
	}
	other := strings.Replace(githubProvider, `"github"`, `"gitlab"`, 1)
	status, _, env := s.sendWith(t, "POST", "/api/v1/passport/providers", other, key)
	if status != 422 || errorCode(env) != "IDEMPOTENCY_KEY_REUSED" {
		t.Fatalf("reused key: %d %v", status, env)
	}

	// An authorization's replay gives back the token of the identical request,
	// though the stored response never held it.
	pid := data(t, first)["id"].(string)
	body := fmt.Sprintf(`{"providerId":%q,"userId":"u","scopes":["repo"],"token":"gho_idem","expiresAt":"2999-01-01T00:00:00Z"}`, pid)
	akey := map[string]string{"Idempotency-Key": "grant-u-1"}
	_, _, a1 := s.sendWith(t, "POST", "/api/v1/passport/authorizations", body, akey)
	status, hdr, a2 := s.sendWith(t, "POST", "/api/v1/passport/authorizations", body, akey)
	if status != 201 || hdr.Get("Idempotent-Replayed") != "true" || fmt.Sprint(a1) != fmt.Sprint(a2) || data(t, a2)["token"] != "gho_idem" {
		t.Fatalf("authorization replay: %d %v, want %v", status, a2, a1)
	}
	s.assertNoPlaintext(t, "gho_idem")

	// One change each, one audit entry each.
	entries := s.mustAllAuditAfterDrain(t)
	if len(entries) != 2 {
		t.Errorf("audit entries = %d, want 2: %v", len(entries), entries)
	}
}

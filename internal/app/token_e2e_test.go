package app_test

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/passport-oss/passport/internal/localapp"
	"github.com/passport-oss/passport/internal/testenv"
)

// syncBuffer is a bytes.Buffer the functions may log to concurrently.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// The token read returns the token once per call, audited with its caller,
// and never lets a cache keep it; everything else keeps it out of sight.
func TestTokenRead(t *testing.T) {
	logs := &syncBuffer{}
	s := mustStackWith(t, localapp.LocalOptions{LogOutput: logs})
	_, providerID := s.mustProvider(t)
	const token = "gho_tokenReadSecret42"
	status, _, env := s.curl(t, "POST", "/api/v1/passport/authorizations",
		fmt.Sprintf(`{"providerId":%q,"userId":"user-abc","scopes":["repo","user"],"token":%q,"expiresAt":"2999-01-01T00:00:00Z"}`, providerID, token))
	if status != 201 {
		t.Fatalf("create: %d %v", status, env)
	}
	authzID := data(t, env)["id"].(string)

	status, hdr, env := s.curl(t, "GET", "/api/v1/passport/authorizations/"+authzID+"/token", "")
	if status != 200 {
		t.Fatalf("read: %d %v", status, env)
	}
	checkFields(t, "token read", data(t, env), map[string]any{
		"token": token, "expiresAt": "2999-01-01T00:00:00.000Z", "scopes": []any{"repo", "user"}, "status": "active",
	})
	if got := hdr.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", got)
	}

	byAction := map[string]map[string]any{}
	for _, e := range s.mustAudit(t, 3) {
		byAction[e["action"].(string)] = e
	}
	checkFields(t, "token_read entry", byAction["authorization.token_read"], map[string]any{
		"id": "<id>", "action": "authorization.token_read", "authorizationId": authzID, "providerId": providerID,
		"userId": "user-abc", "timestamp": "<time>", "actor": map[string]any{"type": "anonymous", "id": "anonymous"}, "request": "<any>",
	})

	// Nowhere else: not the table, the stream, the logs, the audit trail or
	// the lists.
	s.assertNoPlaintext(t, token)
	for _, rec := range testenv.StreamJSON(t, s.db, s.table) {
		if strings.Contains(rec, token) {
			t.Errorf("a stream record holds the token: %s", rec)
		}
	}
	for _, path := range []string{"/api/v1/passport/audit", "/api/v1/passport/providers", "/api/v1/passport/audit?userId=user-abc"} {
		if _, _, env := s.curl(t, "GET", path, ""); strings.Contains(fmt.Sprint(env), token) {
			t.Errorf("GET %s holds the token", path)
		}
	}
	if strings.Contains(logs.String(), token) {
		t.Errorf("the logs hold the token")
	}
	if !strings.Contains(logs.String(), `"route":"GET /api/v1/passport/authorizations/{id}/token"`) {
		t.Errorf("no request line for the token read in the logs:\n%s", logs.String())
	}
}

func TestTokenReadErrors(t *testing.T) {
	s := mustStack(t)
	_, providerID := s.mustProvider(t)
	status, _, env := s.curl(t, "POST", "/api/v1/passport/authorizations",
		fmt.Sprintf(`{"providerId":%q,"userId":"u","scopes":["repo"],"token":"gho_old","expiresAt":"2020-01-01T00:00:00Z"}`, providerID))
	if status != 201 {
		t.Fatalf("create: %d %v", status, env)
	}
	expired := data(t, env)["id"].(string)
	for _, tt := range []struct {
		path   string
		status int
		code   string
	}{
		{"/api/v1/passport/authorizations/nope/token", 404, "NOT_FOUND"},
		{"/api/v1/passport/authorizations/" + expired + "/token", 410, "AUTHORIZATION_EXPIRED"},
	} {
		status, hdr, env := s.curl(t, "GET", tt.path, "")
		e, _ := env["error"].(map[string]any)
		if status != tt.status || e["code"] != tt.code || hdr.Get("Cache-Control") != "no-store" {
			t.Errorf("GET %s = %d %v (Cache-Control %q), want %d %s", tt.path, status, env, hdr.Get("Cache-Control"), tt.status, tt.code)
		}
	}
	s.mustDrain(t)
	for _, e := range s.mustAllAudit(t) {
		if e["action"] == "authorization.token_read" {
			t.Errorf("a refused read was audited as a read: %v", e)
		}
	}
}

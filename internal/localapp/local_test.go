package localapp_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/passport-oss/passport/internal/localapp"
	"github.com/passport-oss/passport/internal/samtemplate"
	"github.com/passport-oss/passport/internal/testenv"
)

// TestCursorsAreSignedWithTheStacksKey pages the providers through one local
// stack and replays its cursor to another stack on the same table, loaded
// from its own copy of template.yaml. The first takes it; the second, whose
// CursorKeySecret stands for another random key, refuses it. With the key
// derived from the table's name (no CURSOR_SIGNING_KEY) both would take it.
func TestCursorsAreSignedWithTheStacksKey(t *testing.T) {
	db := testenv.DynamoDB(t)
	_, keyID := testenv.KMS(t)
	table := testenv.NewTable(t, db)
	stack := func(tmpl *samtemplate.Template) http.Handler {
		t.Helper()
		local, err := localapp.NewLocal(context.Background(), tmpl, testenv.AWSConfig(t, nil), localapp.LocalOptions{
			Table: table, KMSKeyID: keyID,
			Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
			LogOutput: io.Discard,
		})
		if err != nil {
			t.Fatal(err)
		}
		return local.Gateway
	}
	other, err := samtemplate.Load(filepath.Join(testenv.RepoRoot(t), "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	mine, theirs := stack(testenv.Template(t)), stack(other)

	send := func(h http.Handler, method, path, body string) (int, map[string]any) {
		t.Helper()
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		var env map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &env); err != nil {
			t.Fatalf("%s %s: %d %q is not the JSON envelope", method, path, rec.Code, rec.Body)
		}
		return rec.Code, env
	}
	for _, name := range []string{"github", "gitlab"} {
		status, env := send(mine, "POST", "/api/v1/passport/providers", `{"name": "`+name+`", "type": "oauth2",
			"clientId": "client-`+name+`", "scopes": ["read"], "redirectUri": "https://app.example.com/callback"}`)
		if status != 201 {
			t.Fatalf("register %s: %d %v", name, status, env)
		}
	}
	status, env := send(mine, "GET", "/api/v1/passport/providers?limit=1", "")
	cursor, _ := env["nextCursor"].(string)
	if status != 200 || cursor == "" {
		t.Fatalf("first page: %d %v, want 200 with a nextCursor", status, env)
	}
	next := "/api/v1/passport/providers?limit=1&cursor=" + url.QueryEscape(cursor)
	if status, env := send(mine, "GET", next, ""); status != 200 {
		t.Errorf("second page from the same stack: %d %v, want 200", status, env)
	}
	status, env = send(theirs, "GET", next, "")
	if errObj, _ := env["error"].(map[string]any); status != 400 || errObj["code"] != "VALIDATION_ERROR" {
		t.Errorf("the cursor replayed to another stack: %d %v, want 400 VALIDATION_ERROR", status, env)
	}
}

package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/passport-oss/passport/internal/dynamo"
	"github.com/passport-oss/passport/internal/httpapi"
	"github.com/passport-oss/passport/internal/kmsenvelope"
	"github.com/passport-oss/passport/internal/testenv"
)

// api is the whole API over a fresh table of DynamoDB Local.
type api struct {
	handler http.Handler
	db      *dynamodb.Client
	table   string
	logs    *bytes.Buffer
}

func mustAPI(t *testing.T) *api {
	t.Helper()
	db := testenv.DynamoDB(t)
	kmsClient, keyID := testenv.KMS(t)
	env, err := kmsenvelope.New(kmsClient, kmsenvelope.Options{KeyID: keyID})
	if err != nil {
		t.Fatal(err)
	}
	a := &api{db: db, table: testenv.NewTable(t, db), logs: &bytes.Buffer{}}
	store := dynamo.New(db, dynamo.Config{Table: a.table, Sealer: env})
	srv := &httpapi.Server{Providers: store, Authorizations: store, Audit: store,
		Logger: slog.New(slog.NewJSONHandler(a.logs, nil))}
	a.handler = srv.All()
	return a
}

// response is a decoded envelope.
type response struct {
	Status     int
	Header     http.Header
	Success    bool            `json:"success"`
	Data       json.RawMessage `json:"data"`
	NextCursor string          `json:"nextCursor"`
	Error      struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Details []struct {
			Field   string `json:"field"`
			Message string `json:"message"`
		} `json:"details"`
	} `json:"error"`
}

func (a *api) do(t *testing.T, method, path, contentType, body string) response {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	rec := httptest.NewRecorder()
	a.handler.ServeHTTP(rec, req)
	if got := rec.Header().Get("Content-Type"); got != "application/json" {
		t.Fatalf("%s %s: Content-Type = %q", method, path, got)
	}
	var r response
	if err := json.Unmarshal(rec.Body.Bytes(), &r); err != nil {
		t.Fatalf("%s %s: body is not JSON: %q", method, path, rec.Body.String())
	}
	r.Status, r.Header = rec.Code, rec.Header()
	return r
}

func (a *api) post(t *testing.T, path, body string) response {
	return a.do(t, "POST", path, "application/json", body)
}

const githubJSON = `{"name":"github","type":"oauth2","clientId":"Iv1.abc123def456","scopes":["repo","user","read:org"],"redirectUri":"https://app.example.com/auth/callback"}`

func (a *api) mustProviderID(t *testing.T) string {
	t.Helper()
	r := a.post(t, "/api/v1/passport/providers", githubJSON)
	if r.Status != 201 {
		t.Fatalf("register: %d %+v", r.Status, r.Error)
	}
	var p struct{ ID string }
	_ = json.Unmarshal(r.Data, &p)
	return p.ID
}

func authorizationJSON(providerID, expiresAt string) string {
	return fmt.Sprintf(`{"providerId":%q,"userId":"user-abc","scopes":["repo","user"],"token":"gho_xxxxxxxxxxxx","expiresAt":%q}`, providerID, expiresAt)
}

func TestRegisterProvider(t *testing.T) {
	a := mustAPI(t)
	r := a.post(t, "/api/v1/passport/providers", githubJSON)
	if r.Status != 201 || !r.Success {
		t.Fatalf("status %d success %v: %+v", r.Status, r.Success, r.Error)
	}
	var got map[string]any
	_ = json.Unmarshal(r.Data, &got)
	var sent map[string]any
	_ = json.Unmarshal([]byte(githubJSON), &sent)
	for k, v := range sent {
		if fmt.Sprint(got[k]) != fmt.Sprint(v) {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	if _, err := time.Parse("2006-01-02T15:04:05.000Z", fmt.Sprint(got["createdAt"])); err != nil {
		t.Errorf("createdAt %v: %v", got["createdAt"], err)
	}
	if len(got) != 7 {
		t.Errorf("fields = %v, want the reference's 7", got)
	}

	list := a.do(t, "GET", "/api/v1/passport/providers", "", "")
	var providers []map[string]any
	_ = json.Unmarshal(list.Data, &providers)
	if list.Status != 200 || len(providers) != 1 || fmt.Sprint(providers[0]) != fmt.Sprint(got) {
		t.Fatalf("list = %d %s, want the registered provider", list.Status, list.Data)
	}
}

func TestListIsEmptyArrayNotNull(t *testing.T) {
	a := mustAPI(t)
	for _, path := range []string{"/api/v1/passport/providers", "/api/v1/passport/audit"} {
		r := a.do(t, "GET", path, "", "")
		if r.Status != 200 || string(r.Data) != "[]" || r.NextCursor != "" {
			t.Errorf("GET %s = %d %s %q", path, r.Status, r.Data, r.NextCursor)
		}
	}
}

func TestCreateAuthorization(t *testing.T) {
	a := mustAPI(t)
	pid := a.mustProviderID(t)
	for _, tt := range []struct{ expiresAt, status, label string }{
		{"2999-06-05T12:00:00.000Z", "active", ""},
		{"2026-01-05T12:00:00Z", "expired", "work"}, // in the past: stored, and reported as expired
	} {
		body := authorizationJSON(pid, tt.expiresAt)
		if tt.label != "" { // a second account of the same user: a second grant
			body = strings.Replace(body, `{`, `{"accountLabel":"`+tt.label+`",`, 1)
		}
		r := a.post(t, "/api/v1/passport/authorizations", body)
		if r.Status != 201 {
			t.Fatalf("status %d: %+v", r.Status, r.Error)
		}
		var got map[string]any
		_ = json.Unmarshal(r.Data, &got)
		want := map[string]any{"providerId": pid, "userId": "user-abc", "scopes": []any{"repo", "user"},
			"token": "gho_xxxxxxxxxxxx", "status": tt.status, "expiresAt": strings.Replace(tt.expiresAt, ":00Z", ":00.000Z", 1)}
		for k, v := range want {
			if fmt.Sprint(got[k]) != fmt.Sprint(v) {
				t.Errorf("%s = %v, want %v", k, got[k], v)
			}
		}
		if got["id"] == "" || got["id"] == pid || got["createdAt"] == nil {
			t.Errorf("id %v createdAt %v", got["id"], got["createdAt"])
		}
	}
	if strings.Contains(a.logs.String(), "gho_") {
		t.Errorf("logs hold the token: %s", a.logs.String())
	}
}

func TestErrors(t *testing.T) {
	a := mustAPI(t)
	pid := a.mustProviderID(t)
	tests := []struct {
		name, method, path, contentType, body string
		status                                int
		code                                  string
		fields                                []string
	}{
		{"malformed JSON", "POST", "/api/v1/passport/providers", "application/json", `{"name":`, 400, "INVALID_JSON", nil},
		{"not an object", "POST", "/api/v1/passport/providers", "application/json", `[1,2]`, 400, "INVALID_JSON", nil},
		{"empty body", "POST", "/api/v1/passport/providers", "application/json", ``, 400, "INVALID_JSON", nil},
		{"unknown fields", "POST", "/api/v1/passport/providers", "application/json",
			strings.Replace(githubJSON, `{`, `{"zeta":1,"alpha":2,`, 1), 400, "VALIDATION_ERROR", []string{"alpha", "zeta"}},
		{"wrong types", "POST", "/api/v1/passport/providers", "application/json",
			`{"name":1,"type":"oauth2","clientId":"c","scopes":"repo","redirectUri":"https://a.example/cb"}`, 400, "VALIDATION_ERROR", []string{"name", "scopes"}},
		{"invalid fields", "POST", "/api/v1/passport/providers", "application/json",
			`{"name":"bad name","type":"saml","clientId":"c","scopes":["a","a"],"redirectUri":"http://a.example/cb"}`, 400, "VALIDATION_ERROR", []string{"name", "type", "scopes[1]", "redirectUri"}},
		{"duplicate name", "POST", "/api/v1/passport/providers", "application/json", strings.Replace(githubJSON, `"github"`, `"GitHub"`, 1), 409, "CONFLICT", nil},
		{"too large", "POST", "/api/v1/passport/providers", "application/json", `{"name":"` + strings.Repeat("a", 70000) + `"}`, 413, "PAYLOAD_TOO_LARGE", nil},
		{"form content type", "POST", "/api/v1/passport/providers", "application/x-www-form-urlencoded", githubJSON, 415, "UNSUPPORTED_MEDIA_TYPE", nil},
		{"no content type", "POST", "/api/v1/passport/providers", "", githubJSON, 415, "UNSUPPORTED_MEDIA_TYPE", nil},
		{"unknown provider", "POST", "/api/v1/passport/authorizations", "application/json", authorizationJSON("nope", "2999-01-01T00:00:00Z"), 404, "NOT_FOUND", nil},
		{"scope not offered", "POST", "/api/v1/passport/authorizations", "application/json",
			strings.Replace(authorizationJSON(pid, "2999-01-01T00:00:00Z"), `"user"]`, `"gist"]`, 1), 400, "VALIDATION_ERROR", []string{"scopes"}},
		{"bad expiresAt", "POST", "/api/v1/passport/authorizations", "application/json", authorizationJSON(pid, "next tuesday"), 400, "VALIDATION_ERROR", []string{"expiresAt"}},
		{"missing fields", "POST", "/api/v1/passport/authorizations", "application/json", `{}`, 400, "VALIDATION_ERROR", []string{"providerId", "userId", "scopes", "token", "expiresAt"}},
		{"bad limit", "GET", "/api/v1/passport/providers?limit=0", "", "", 400, "VALIDATION_ERROR", []string{"limit"}},
		{"unknown parameter", "GET", "/api/v1/passport/audit?sort=asc", "", "", 400, "VALIDATION_ERROR", []string{"sort"}},
		{"bad cursor", "GET", "/api/v1/passport/audit?cursor=abc", "", "", 400, "VALIDATION_ERROR", []string{"cursor"}},
		{"audit bad since", "GET", "/api/v1/passport/audit?since=yesterday", "", "", 400, "VALIDATION_ERROR", []string{"since"}},
		{"audit until before since", "GET", "/api/v1/passport/audit?since=2026-03-05T12:00:00Z&until=2026-03-04T12:00:00Z", "", "", 400, "VALIDATION_ERROR", []string{"until"}},
		{"audit unknown action", "GET", "/api/v1/passport/audit?action=token.stolen", "", "", 400, "VALIDATION_ERROR", []string{"action"}},
		{"audit empty providerId", "GET", "/api/v1/passport/audit?providerId=", "", "", 400, "VALIDATION_ERROR", []string{"providerId"}},
		{"audit limit too big", "GET", "/api/v1/passport/audit?limit=201&userId=u", "", "", 400, "VALIDATION_ERROR", []string{"limit"}},
		{"unknown route", "GET", "/api/v1/passport/nothing", "", "", 404, "NOT_FOUND", nil},
		{"trailing slash", "GET", "/api/v1/passport/providers/", "", "", 404, "NOT_FOUND", nil},
		{"wrong method", "DELETE", "/api/v1/passport/providers", "", "", 405, "METHOD_NOT_ALLOWED", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(testenv.Items(t, a.db, a.table))
			r := a.do(t, tt.method, tt.path, tt.contentType, tt.body)
			if r.Status != tt.status || r.Success || r.Error.Code != tt.code || r.Error.Message == "" {
				t.Fatalf("got %d %v %+v, want %d %s", r.Status, r.Success, r.Error, tt.status, tt.code)
			}
			var fields []string
			for _, d := range r.Error.Details {
				fields = append(fields, d.Field)
			}
			if fmt.Sprint(fields) != fmt.Sprint(tt.fields) && tt.fields != nil {
				t.Errorf("fields = %v, want %v", fields, tt.fields)
			}
			if after := len(testenv.Items(t, a.db, a.table)); after != before {
				t.Errorf("items %d -> %d: a rejected request wrote", before, after)
			}
		})
	}
}

func TestMethodNotAllowedNamesAllowedMethods(t *testing.T) {
	a := mustAPI(t)
	for path, want := range map[string]string{
		"/api/v1/passport/providers":      "GET, POST",
		"/api/v1/passport/authorizations": "GET, POST",
		"/api/v1/passport/audit":          "GET",
	} {
		r := a.do(t, "PUT", path, "", "")
		if r.Status != 405 || r.Header.Get("Allow") != want {
			t.Errorf("PUT %s = %d Allow %q, want 405 %q", path, r.Status, r.Header.Get("Allow"), want)
		}
	}
}

func TestFunctionHandlerServesOnlyItsRoute(t *testing.T) {
	srv := &httpapi.Server{}
	h, err := srv.Handler("ListAuditFunction")
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/api/v1/passport/providers", nil))
	// The audit function has no business listing providers: it answers as
	// the fallback would, without touching the (nil) provider service.
	if rec.Code != 404 {
		t.Errorf("status = %d, want 404", rec.Code)
	}
	if _, err := srv.Handler("NoSuchFunction"); err == nil {
		t.Error("unknown function: no error")
	}
}

func TestPanicAnswersInternalErrorWithoutDetail(t *testing.T) {
	srv := &httpapi.Server{Logger: slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil))} // nil services: the endpoint panics
	rec := httptest.NewRecorder()
	srv.All().ServeHTTP(rec, httptest.NewRequest("GET", "/api/v1/passport/providers", nil).WithContext(context.Background()))
	if rec.Code != 500 || !strings.Contains(rec.Body.String(), `"code":"INTERNAL_ERROR"`) || strings.Contains(rec.Body.String(), "nil pointer") {
		t.Errorf("got %d %s", rec.Code, rec.Body.String())
	}
}

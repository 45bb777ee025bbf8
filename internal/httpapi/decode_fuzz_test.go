package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/passport-oss/passport/internal/httpapi"
	"github.com/passport-oss/passport/internal/passport"
)

// Service fakes that accept whatever passes validation and store nothing:
// the fuzz target below exercises request decoding and validation, not
// storage. Each embeds its interface, so methods the fuzzed routes never
// call need no fake (and the lead's new methods do not break this file).
type (
	acceptProviders      struct{ passport.ProviderService }
	acceptAuthorizations struct{ passport.AuthorizationService }
	acceptAudit          struct{ passport.AuditService }
)

var fuzzNow = time.Date(2026, 3, 5, 12, 0, 0, 0, time.UTC)

func (acceptProviders) CreateProvider(_ context.Context, p *passport.Provider) error {
	if err := p.Validate(); err != nil {
		return err
	}
	p.ID, p.CreatedAt = "fuzzprovider0000", fuzzNow
	return nil
}

func (acceptProviders) ListProviders(context.Context, passport.Page) ([]*passport.Provider, string, error) {
	return []*passport.Provider{{ID: "fuzzprovider0000", Name: "github", Type: "oauth2", Scopes: []string{"repo"}, CreatedAt: fuzzNow}}, "", nil
}

func (acceptAuthorizations) CreateAuthorization(_ context.Context, a *passport.Authorization) error {
	if err := a.Validate(); err != nil {
		return err
	}
	a.ID, a.CreatedAt = "fuzzauthorization", fuzzNow
	return nil
}

func (acceptAuthorizations) ReadToken(_ context.Context, id string) (*passport.Authorization, error) {
	return &passport.Authorization{ID: id, ProviderID: "p", UserID: "u", Scopes: []string{"repo"},
		Token: "gho_fuzz", ExpiresAt: fuzzNow.Add(time.Hour), CreatedAt: fuzzNow}, nil
}

func (acceptAudit) ListAuditEntries(context.Context, passport.AuditFilter, passport.Page) ([]*passport.AuditEntry, string, error) {
	return nil, "", nil
}

// fuzzRoutes are the routes FuzzRequest sends to; the first byte of its
// input picks one.
var fuzzRoutes = []struct{ method, path string }{
	{"POST", "/api/v1/passport/providers"},
	{"POST", "/api/v1/passport/authorizations"},
	{"GET", "/api/v1/passport/audit"},
	{"GET", "/api/v1/passport/providers"},
	{"GET", "/api/v1/passport/authorizations/fuzzauthorization/token"},
}

// envelope is the API's answer, success or error, as a client decodes it.
type envelope struct {
	Success    *bool            `json:"success"`
	Data       *json.RawMessage `json:"data"`
	NextCursor string           `json:"nextCursor"`
	Error      *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Details []struct {
			Field   string `json:"field"`
			Message string `json:"message"`
		} `json:"details"`
	} `json:"error"`
}

// FuzzRequest sends arbitrary query strings, Content-Types, Idempotency-Keys
// and bodies to the handlers of POST providers, POST authorizations, GET
// audit (and the other reads). Whatever arrives, the answer is the
// envelope: JSON, a known code whose status is the answer's, never a 500
// (a panic would be one: the server recovers it into a 500).
func FuzzRequest(f *testing.F) {
	f.Add(uint8(0), "", "application/json", "", []byte(`{"name":"github","type":"oauth2","clientId":"Iv1.abc","scopes":["repo","user"],"redirectUri":"https://app.example.com/cb"}`))
	f.Add(uint8(0), "", "application/json; charset=utf-8", "key-1", []byte(`{"name":"","type":"saml","scopes":[1],"redirectUri":"javascript:x","extra":null}`))
	f.Add(uint8(0), "", "text/plain", "", []byte(`{}`))
	f.Add(uint8(0), "", "application/json", "", []byte(`[1,2]`))
	f.Add(uint8(0), "", "application/json", "", []byte(`{"name":"a"`))
	f.Add(uint8(0), "", "application/json", "", []byte(`null`))
	f.Add(uint8(0), "", "application/json", "", []byte(`{"name":"\ud800","scopes":null}`))
	f.Add(uint8(1), "", "application/json", "", []byte(`{"providerId":"p1","userId":"user-abc","scopes":["repo"],"token":"gho_x","expiresAt":"2026-06-05T12:00:00.000Z"}`))
	f.Add(uint8(1), "", "application/json", "k\x00", []byte(`{"providerId":1,"userId":{},"scopes":"repo","token":[],"expiresAt":"yesterday","accountLabel":7}`))
	f.Add(uint8(1), "", "application/json", "", []byte(`{"expiresAt":"2026-13-45T99:99:99Z"}`))
	f.Add(uint8(2), "providerId=p1&userId=u1&action=provider.created&since=2026-01-01T00:00:00Z&until=2026-12-31T00:00:00Z&limit=10", "", "", []byte(nil))
	f.Add(uint8(2), "limit=0&cursor=%zz&since=2027-01-01T00:00:00Z&until=2026-01-01T00:00:00Z&action=nope&x=1", "", "", []byte(nil))
	f.Add(uint8(2), "providerId=&userId="+strings.Repeat("u", 300), "", "", []byte(nil))
	f.Add(uint8(3), "limit=201&limit=1", "", "", []byte(nil))
	f.Add(uint8(3), ";;&&==", "", "", []byte(nil))
	f.Add(uint8(4), "", "", "", []byte("ignored"))

	srv := &httpapi.Server{
		Providers: acceptProviders{}, Authorizations: acceptAuthorizations{}, Audit: acceptAudit{},
		Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)), Now: func() time.Time { return fuzzNow },
	}
	h := srv.All()

	f.Fuzz(func(t *testing.T, which uint8, query, contentType, idempotencyKey string, body []byte) {
		rt := fuzzRoutes[int(which)%len(fuzzRoutes)]
		req := httptest.NewRequest(rt.method, rt.path, bytes.NewReader(body))
		req.URL.RawQuery = query
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		if idempotencyKey != "" {
			req.Header.Set("Idempotency-Key", idempotencyKey)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		checkEnvelope(t, rt.method+" "+rt.path, rec)
	})
}

// checkEnvelope fails t unless rec holds the envelope: JSON, success with
// data and a 2xx, or an error with a known code, a message and the code's
// own status; never a 500, and a 503 only with Retry-After.
func checkEnvelope(t *testing.T, what string, rec *httptest.ResponseRecorder) {
	t.Helper()
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("%s: %d with Content-Type %q: %q", what, rec.Code, ct, rec.Body.String())
	}
	var env envelope
	dec := json.NewDecoder(bytes.NewReader(rec.Body.Bytes()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&env); err != nil || env.Success == nil {
		t.Fatalf("%s: %d, not the envelope (%v): %q", what, rec.Code, err, rec.Body.String())
	}
	if rec.Code == http.StatusInternalServerError {
		t.Fatalf("%s: 500: %q", what, rec.Body.String())
	}
	switch {
	case *env.Success:
		if rec.Code < 200 || rec.Code > 299 || env.Data == nil || env.Error != nil {
			t.Fatalf("%s: %d success: %q", what, rec.Code, rec.Body.String())
		}
	case env.Error == nil || env.Error.Code == "" || env.Error.Message == "" || env.Data != nil:
		t.Fatalf("%s: %d error without code and message: %q", what, rec.Code, rec.Body.String())
	case httpapi.StatusOf(env.Error.Code) != rec.Code:
		t.Fatalf("%s: %d with code %s, whose status is %d", what, rec.Code, env.Error.Code, httpapi.StatusOf(env.Error.Code))
	case rec.Code == http.StatusServiceUnavailable && rec.Header().Get("Retry-After") == "":
		t.Fatalf("%s: 503 without Retry-After", what)
	}
	if env.Error != nil {
		for _, d := range env.Error.Details {
			// The field may be empty: a query parameter can be named "".
			if d.Message == "" {
				t.Fatalf("%s: a detail without a message: %q", what, rec.Body.String())
			}
		}
	}
}

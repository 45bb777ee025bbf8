package openapitest_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/passport-oss/passport/internal/httpapi/openapitest"
)

// answer is what the server under check answers: a stand-in for the API
// that answers as told, so that each drift the validator must catch can be
// produced on purpose.
type answer struct {
	status int
	header map[string]string
	body   string
}

// exchange sends one request through the validating transport to a server
// giving ans, and returns what the transport reported.
func exchange(t *testing.T, method, path, contentType, body string, ans answer, opts ...openapitest.Option) []string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		for k, v := range ans.header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(ans.status)
		_, _ = w.Write([]byte(ans.body))
	}))
	defer srv.Close()
	v, err := openapitest.Passport()
	if err != nil {
		t.Fatal(err)
	}
	var reports []string
	client := &http.Client{Transport: v.Transport(http.DefaultTransport, func(err error) { reports = append(reports, err.Error()) }, opts...)}
	req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return reports
}

const (
	provider     = `{"id":"kjbjhl457lileon46ohaccwhtm","name":"github","type":"oauth2","clientId":"Iv1.abc123def456","scopes":["repo","user"],"redirectUri":"https://app.example.com/auth/callback","createdAt":"2026-03-05T12:00:00.000Z"}`
	registration = `{"name":"github","type":"oauth2","clientId":"Iv1.abc123def456","scopes":["repo","user"],"redirectUri":"https://app.example.com/auth/callback"}`
	token        = `{"success":true,"data":{"token":"gho_x","expiresAt":"2999-01-01T00:00:00.000Z","scopes":["repo"],"status":"active"}}`
)

func envelope(status int, code string) answer {
	return answer{status: status, body: `{"success":false,"error":{"code":"` + code + `","message":"m"}}`}
}

// What the document describes passes, requests and responses alike.
func TestTransportPassesWhatTheDocumentDescribes(t *testing.T) {
	notFound, methodNotAllowed := envelope(404, "NOT_FOUND"), envelope(405, "METHOD_NOT_ALLOWED")
	methodNotAllowed.header = map[string]string{"Allow": "GET, POST"}
	unavailable := envelope(503, "SERVICE_UNAVAILABLE")
	unavailable.header = map[string]string{"Retry-After": "1"}
	for _, tt := range []struct {
		name, method, path, contentType, body string
		ans                                   answer
		opts                                  []openapitest.Option
	}{
		{"a list", "GET", "/api/v1/passport/providers?limit=10", "", "", answer{status: 200, body: `{"success":true,"data":[` + provider + `],"nextCursor":"abc"}`}, nil},
		{"a registration", "POST", "/api/v1/passport/providers", "application/json", registration,
			answer{status: 201, header: map[string]string{"ETag": `"v1"`}, body: `{"success":true,"data":` + provider + `}`}, nil},
		{"a merge patch", "PATCH", "/api/v1/passport/providers/kjbjhl457lileon46ohaccwhtm", "application/merge-patch+json", `{"scopes":["repo"]}`,
			answer{status: 200, header: map[string]string{"ETag": `"v2"`}, body: `{"success":true,"data":` + provider + `}`}, nil},
		{"a token read", "GET", "/api/v1/passport/authorizations/dsv6iww4ug4afkm3ho4hgecvpq/token", "", "",
			answer{status: 200, header: map[string]string{"Cache-Control": "no-store"}, body: token}, nil},
		{"a 503", "GET", "/api/v1/passport/audit", "", "", unavailable, nil},
		{"an unknown path", "GET", "/api/v1/passport/nothing", "", "", notFound, nil},
		{"a known path under another method", "DELETE", "/api/v1/passport/providers", "", "", methodNotAllowed, nil},
		{"an invalid request, deliberately", "POST", "/api/v1/passport/providers", "application/json", `{"name":"github","colour":"red"}`,
			envelope(400, "VALIDATION_ERROR"), []openapitest.Option{openapitest.ResponsesOnly()}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := exchange(t, tt.method, tt.path, tt.contentType, tt.body, tt.ans, tt.opts...); len(got) != 0 {
				t.Errorf("reports = %q, want none", got)
			}
		})
	}
}

// Each way the code can drift from the document is reported.
func TestTransportReportsDrift(t *testing.T) {
	withoutETag := answer{status: 201, body: `{"success":true,"data":` + provider + `}`}
	methodNotAllowed := envelope(405, "METHOD_NOT_ALLOWED")
	methodNotAllowed.header = map[string]string{"Allow": "GET"}
	for _, tt := range []struct {
		name, method, path, contentType, body string
		ans                                   answer
		opts                                  []openapitest.Option
		want                                  string
	}{
		{"a required header missing", "POST", "/api/v1/passport/providers", "application/json", registration, withoutETag, nil,
			`response header "ETag" missing`},
		{"a required field missing", "GET", "/api/v1/passport/providers", "", "",
			answer{status: 200, body: `{"success":true,"data":[` + strings.Replace(provider, `,"createdAt":"2026-03-05T12:00:00.000Z"`, "", 1) + `]}`}, nil,
			`"createdAt"`},
		{"a field the document does not have", "GET", "/api/v1/passport/providers", "", "",
			answer{status: 200, body: `{"success":true,"data":[` + strings.Replace(provider, `{`, `{"version":3,`, 1) + `]}`}, nil,
			`"version" is unsupported`},
		{"a timestamp without milliseconds", "GET", "/api/v1/passport/providers", "", "",
			answer{status: 200, body: `{"success":true,"data":[` + strings.Replace(provider, `12:00:00.000Z`, `12:00:00Z`, 1) + `]}`}, nil,
			`createdAt`},
		{"a status the operation does not declare", "GET", "/api/v1/passport/providers", "", "", envelope(404, "NOT_FOUND"), nil,
			"status is not supported"},
		{"an error code of another status", "POST", "/api/v1/passport/providers", "application/json", registration, envelope(409, "NOT_FOUND"), nil,
			"response body doesn't match"},
		{"a token read a cache may keep", "GET", "/api/v1/passport/authorizations/dsv6iww4ug4afkm3ho4hgecvpq/token", "", "",
			answer{status: 200, body: token}, nil, `"Cache-Control" missing`},
		{"a 503 without Retry-After", "GET", "/api/v1/passport/audit", "", "", envelope(503, "SERVICE_UNAVAILABLE"), nil,
			`"Retry-After" missing`},
		{"an invalid request body", "POST", "/api/v1/passport/providers", "application/json", `{"name":"github","colour":"red"}`,
			envelope(400, "VALIDATION_ERROR"), nil, "request: request body has an error"},
		{"an invalid query parameter", "GET", "/api/v1/passport/audit?since=yesterday", "", "", envelope(400, "VALIDATION_ERROR"), nil,
			`request: parameter "since"`},
		{"a Content-Type the operation does not take", "POST", "/api/v1/passport/providers", "text/plain", registration,
			envelope(415, "UNSUPPORTED_MEDIA_TYPE"), nil, "request:"},
		{"an unknown path answered", "GET", "/api/v1/passport/nothing", "", "", answer{status: 200, body: `{"success":true,"data":[]}`}, nil,
			"not one of its answers"},
		{"a path the document has answered 404 for another method", "DELETE", "/api/v1/passport/providers", "", "", envelope(404, "NOT_FOUND"), nil,
			"a 405 with Allow is due"},
		{"an Allow that differs from the document", "DELETE", "/api/v1/passport/providers", "", "", methodNotAllowed, nil,
			`Allow: "GET", but the document has the path under "GET, POST"`},
		{"a deliberately invalid request's response is still checked", "POST", "/api/v1/passport/providers", "application/json", `{"colour":"red"}`,
			envelope(400, "NOT_FOUND"), []openapitest.Option{openapitest.ResponsesOnly()}, "response body doesn't match"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := exchange(t, tt.method, tt.path, tt.contentType, tt.body, tt.ans, tt.opts...)
			if len(got) != 1 || !strings.Contains(got[0], tt.want) {
				t.Errorf("reports = %q, want one containing %q", got, tt.want)
			}
		})
	}
}

// The checked request reaches the server whole, and the response reaches
// the caller whole.
func TestTransportPassesBodiesThrough(t *testing.T) {
	var received string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		received = string(b)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("ETag", `"v1"`)
		w.WriteHeader(201)
		_, _ = w.Write([]byte(`{"success":true,"data":` + provider + `}`))
	}))
	defer srv.Close()
	resp, err := openapitest.Client(t).Post(srv.URL+"/api/v1/passport/providers", "application/json", strings.NewReader(registration))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	if received != registration {
		t.Errorf("server received %q, want %q", received, registration)
	}
	if want := `{"success":true,"data":` + provider + `}`; string(got) != want {
		t.Errorf("caller got %q, want %q", got, want)
	}
}

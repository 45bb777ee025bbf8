package passport_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/passport-oss/passport/internal/passport"
)

func validProvider() *passport.Provider {
	return &passport.Provider{
		Name:        "github",
		Type:        "oauth2",
		ClientID:    "Iv1.abc123def456",
		Scopes:      []string{"repo", "user", "read:org"},
		RedirectURI: "https://app.example.com/auth/callback",
	}
}

func validAuthorization() *passport.Authorization {
	return &passport.Authorization{
		ProviderID: "p1q2r3s4",
		UserID:     "user-abc",
		Scopes:     []string{"repo", "user"},
		Token:      "gho_xxxxxxxxxxxx",
		ExpiresAt:  time.Date(2026, 6, 5, 12, 0, 0, 0, time.UTC),
	}
}

// fields returns the field names of err's details, in order.
func fields(err error) []string {
	var got []string
	for _, d := range passport.ErrorDetails(err) {
		got = append(got, d.Field)
	}
	return got
}

func TestProviderValidate(t *testing.T) {
	if err := validProvider().Validate(); err != nil {
		t.Fatalf("valid provider: %v", err)
	}
	tests := []struct {
		name   string
		mutate func(*passport.Provider)
		want   string // the one field expected to be named
	}{
		{"empty name", func(p *passport.Provider) { p.Name = "" }, "name"},
		{"name with space", func(p *passport.Provider) { p.Name = "git hub" }, "name"},
		{"name too long", func(p *passport.Provider) { p.Name = strings.Repeat("a", 65) }, "name"},
		{"name unicode", func(p *passport.Provider) { p.Name = "gïthub" }, "name"},
		{"type unknown", func(p *passport.Provider) { p.Type = "saml" }, "type"},
		{"type missing", func(p *passport.Provider) { p.Type = "" }, "type"},
		{"clientId blank", func(p *passport.Provider) { p.ClientID = "  " }, "clientId"},
		{"scopes empty", func(p *passport.Provider) { p.Scopes = nil }, "scopes"},
		{"scope empty", func(p *passport.Provider) { p.Scopes = []string{"repo", ""} }, "scopes[1]"},
		{"scope duplicate", func(p *passport.Provider) { p.Scopes = []string{"repo", "repo"} }, "scopes[1]"},
		{"scope with space", func(p *passport.Provider) { p.Scopes = []string{"a b"} }, "scopes[0]"},
		{"redirect http", func(p *passport.Provider) { p.RedirectURI = "http://app.example.com/cb" }, "redirectUri"},
		{"redirect relative", func(p *passport.Provider) { p.RedirectURI = "/auth/callback" }, "redirectUri"},
		{"redirect fragment", func(p *passport.Provider) { p.RedirectURI = "https://a.example/cb#x" }, "redirectUri"},
		{"redirect ftp", func(p *passport.Provider) { p.RedirectURI = "ftp://a.example/cb" }, "redirectUri"},
		{"redirect missing", func(p *passport.Provider) { p.RedirectURI = "" }, "redirectUri"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := validProvider()
			tt.mutate(p)
			err := p.Validate()
			if got, want := passport.ErrorCode(err), passport.EINVALID; got != want {
				t.Fatalf("code = %q, want %q", got, want)
			}
			if got := fields(err); len(got) != 1 || got[0] != tt.want {
				t.Fatalf("fields = %v, want [%s]", got, tt.want)
			}
		})
	}
}

func TestProviderValidate_LoopbackHTTP(t *testing.T) {
	for _, uri := range []string{"http://localhost:8080/cb", "http://127.0.0.1/cb", "http://[::1]:3000/cb", "https://a.example/cb?x=1"} {
		p := validProvider()
		p.RedirectURI = uri
		if err := p.Validate(); err != nil {
			t.Errorf("%s: %v", uri, err)
		}
	}
}

func TestProviderValidate_AllFieldsAtOnce(t *testing.T) {
	err := (&passport.Provider{}).Validate()
	got := fields(err)
	want := []string{"name", "type", "clientId", "scopes", "redirectUri"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("fields = %v, want %v", got, want)
	}
}

func TestAuthorizationValidate(t *testing.T) {
	if err := validAuthorization().Validate(); err != nil {
		t.Fatalf("valid authorization: %v", err)
	}
	err := (&passport.Authorization{}).Validate()
	got := fields(err)
	want := []string{"providerId", "userId", "scopes", "token", "expiresAt"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("fields = %v, want %v", got, want)
	}
}

func TestAuthorizationStatus(t *testing.T) {
	a := validAuthorization()
	if got, want := a.Status(a.ExpiresAt.Add(-time.Millisecond)), passport.StatusActive; got != want {
		t.Errorf("before expiry: %q, want %q", got, want)
	}
	if got, want := a.Status(a.ExpiresAt), passport.StatusExpired; got != want {
		t.Errorf("at expiry: %q, want %q", got, want)
	}
}

func TestSecretNeverPrints(t *testing.T) {
	a := validAuthorization()
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("x", "token", a.Token, "authz", a)
	js, _ := json.Marshal(a)
	for name, out := range map[string]string{
		"%v": fmt.Sprintf("%v", a), "%+v": fmt.Sprintf("%+v", a), "%#v": fmt.Sprintf("%#v", a),
		"%s": fmt.Sprintf("%s", a.Token), "json": string(js), "slog": logs.String(),
	} {
		if strings.Contains(out, "gho_") {
			t.Errorf("%s leaks the token: %s", name, out)
		}
	}
	if got, want := a.Token.Reveal(), "gho_xxxxxxxxxxxx"; got != want {
		t.Errorf("Reveal() = %q, want %q", got, want)
	}
}

func TestErrorHelpers(t *testing.T) {
	err := fmt.Errorf("wrapped: %w", passport.Errorf(passport.ENOTFOUND, "Provider not found"))
	if got, want := passport.ErrorCode(err), passport.ENOTFOUND; got != want {
		t.Errorf("code = %q, want %q", got, want)
	}
	if got, want := passport.ErrorMessage(err), "Provider not found"; got != want {
		t.Errorf("message = %q, want %q", got, want)
	}
	internal := fmt.Errorf("dial tcp 10.0.0.1: secret detail")
	if got, want := passport.ErrorCode(internal), passport.EINTERNAL; got != want {
		t.Errorf("code = %q, want %q", got, want)
	}
	if strings.Contains(passport.ErrorMessage(internal), "secret") {
		t.Errorf("internal message leaks: %q", passport.ErrorMessage(internal))
	}
}

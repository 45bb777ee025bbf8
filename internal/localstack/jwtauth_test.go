package localstack_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/passport-oss/passport/internal/localstack"
	"github.com/passport-oss/passport/internal/samtemplate"
)

// jwtParams deploy template.yaml in JWT mode with the dev issuer.
var jwtParams = map[string]string{"AuthMode": "JWT", "JwtIssuer": localstack.DevIssuer, "JwtAudience": localstack.DevAudience + ",other-api"}

// MustDevKey returns a fresh signing key.
func MustDevKey(t *testing.T) *localstack.DevKey {
	t.Helper()
	k, err := localstack.NewDevKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// MustJWTGateway serves template.yaml's routes in JWT mode, each by a
// recorder, checking tokens against key.
func MustJWTGateway(t *testing.T, key *localstack.DevKey) *gatewayFixture {
	t.Helper()
	tmpl := MustTemplate(t)
	f := MustGateway(t, tmpl.Routes())
	auths, err := tmpl.RouteAuths(jwtParams)
	if err != nil {
		t.Fatal(err)
	}
	auth, err := localstack.NewRouteAuthorizer(auths, func(samtemplate.JWTConfig) (localstack.KeySet, error) { return key.JWKS(), nil })
	if err != nil {
		t.Fatal(err)
	}
	f.gw.Auth = auth
	return f
}

// MustMint signs claims with key.
func MustMint(t *testing.T, key *localstack.DevKey, claims map[string]any) string {
	t.Helper()
	tok, err := key.Mint(claims)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// goodClaims are valid for ListProvidersFunction until changed.
func goodClaims() map[string]any {
	now := time.Now()
	return map[string]any{
		"iss": localstack.DevIssuer, "aud": localstack.DevAudience, "sub": "agent-7",
		"scope": "passport/providers.read passport/tokens.read",
		"exp":   now.Add(time.Hour).Unix(), "iat": now.Add(-time.Minute).Unix(), "nbf": now.Add(-time.Minute).Unix(),
	}
}

func with(c map[string]any, changes map[string]any) map[string]any {
	for k, v := range changes {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c
}

func unsigned(header, claims map[string]any) string {
	h, _ := json.Marshal(header)
	c, _ := json.Marshal(claims)
	return base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c) + "."
}

func TestJWTGatewayRefusals(t *testing.T) {
	key := MustDevKey(t)
	f := MustJWTGateway(t, key)
	impostor := MustDevKey(t)
	impostor.ID = key.ID // same kid, other key: a forged signature
	tampered := func() string {
		parts := strings.Split(MustMint(t, key, goodClaims()), ".")
		forged, _ := json.Marshal(with(goodClaims(), map[string]any{"sub": "admin"}))
		parts[1] = base64.RawURLEncoding.EncodeToString(forged)
		return strings.Join(parts, ".")
	}
	hour := time.Hour
	now := time.Now()

	tests := []struct {
		name          string
		authorization string
		status        int
		code          string
	}{
		{"no token", "", 401, "UNAUTHORIZED"},
		{"bearer without token", "Bearer ", 401, "UNAUTHORIZED"},
		{"not a JWT", "Bearer abc.def", 401, "UNAUTHORIZED"},
		{"bad signature", "Bearer " + MustMint(t, impostor, goodClaims()), 401, "UNAUTHORIZED"},
		{"claims changed after signing", "Bearer " + tampered(), 401, "UNAUTHORIZED"},
		{"unknown kid", "Bearer " + MustMint(t, MustDevKey(t), goodClaims()), 401, "UNAUTHORIZED"},
		{"alg none", "Bearer " + unsigned(map[string]any{"alg": "none", "kid": key.ID}, goodClaims()), 401, "UNAUTHORIZED"},
		{"expired", "Bearer " + MustMint(t, key, with(goodClaims(), map[string]any{"exp": now.Add(-hour).Unix()})), 401, "UNAUTHORIZED"},
		{"no exp", "Bearer " + MustMint(t, key, with(goodClaims(), map[string]any{"exp": nil})), 401, "UNAUTHORIZED"},
		{"not yet valid", "Bearer " + MustMint(t, key, with(goodClaims(), map[string]any{"nbf": now.Add(hour).Unix()})), 401, "UNAUTHORIZED"},
		{"issued in the future", "Bearer " + MustMint(t, key, with(goodClaims(), map[string]any{"iat": now.Add(hour).Unix()})), 401, "UNAUTHORIZED"},
		{"wrong audience", "Bearer " + MustMint(t, key, with(goodClaims(), map[string]any{"aud": "someone-else"})), 401, "UNAUTHORIZED"},
		{"no audience", "Bearer " + MustMint(t, key, with(goodClaims(), map[string]any{"aud": nil})), 401, "UNAUTHORIZED"},
		{"wrong issuer", "Bearer " + MustMint(t, key, with(goodClaims(), map[string]any{"iss": "https://evil.example"})), 401, "UNAUTHORIZED"},
		{"missing scope", "Bearer " + MustMint(t, key, with(goodClaims(), map[string]any{"scope": "passport/audit.read"})), 403, "FORBIDDEN"},
		{"no scopes at all", "Bearer " + MustMint(t, key, with(goodClaims(), map[string]any{"scope": nil})), 403, "FORBIDDEN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := MustRequest(t, "GET", f.srv.URL+"/api/v1/passport/providers", nil)
			if tt.authorization != "" {
				req.Header.Set("Authorization", tt.authorization)
			}
			resp, body := MustDo(t, req)
			if resp.StatusCode != tt.status {
				t.Fatalf("status = %d, want %d (%s)", resp.StatusCode, tt.status, body)
			}
			var env localstack.ErrorEnvelope
			if err := json.Unmarshal(body, &env); err != nil || env.Success || env.Error.Code != tt.code || env.Error.Message == "" {
				t.Errorf("body = %s (%v), want the envelope with code %s", body, err, tt.code)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			if !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer ") {
				t.Errorf("WWW-Authenticate = %q, want a Bearer challenge", resp.Header.Get("WWW-Authenticate"))
			}
			if strings.Contains(string(body), strings.TrimPrefix(tt.authorization, "Bearer ")) && len(tt.authorization) > 20 {
				t.Errorf("the refusal repeats the token: %s", body)
			}
		})
	}
	rec := f.fns["ListProvidersFunction"]
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if n := len(rec.events); n != 0 {
		t.Errorf("ListProvidersFunction ran %d times for refused requests", n)
	}
}

// A valid token with the route's scope reaches the function, whose event
// carries the verified claims and scopes as API Gateway puts them.
func TestJWTGatewayPassesClaims(t *testing.T) {
	key := MustDevKey(t)
	f := MustJWTGateway(t, key)
	claims := with(goodClaims(), map[string]any{
		"aud":    []any{"unrelated", localstack.DevAudience},
		"groups": []any{"admin", "ops"},
		"admin":  true,
		"nested": map[string]any{"a": 1},
		"gone":   nil,
		"exp":    int64(4102444800),
	})
	req := MustRequest(t, "GET", f.srv.URL+"/api/v1/passport/providers", nil)
	req.Header.Set("Authorization", "Bearer "+MustMint(t, key, claims))
	resp, body := MustDo(t, req)
	if resp.StatusCode != 200 {
		t.Fatalf("status = %d (%s), want 200", resp.StatusCode, body)
	}
	authz := f.fns["ListProvidersFunction"].last(t).RequestContext.Authorizer
	if authz == nil || authz.JWT == nil || authz.IAM != nil {
		t.Fatalf("requestContext.authorizer = %+v, want a jwt one", authz)
	}
	wantClaims := map[string]string{
		"iss": localstack.DevIssuer, "sub": "agent-7", "aud": "[unrelated passport-local]",
		"scope": "passport/providers.read passport/tokens.read", "groups": "[admin ops]", "admin": "true",
		"nested": `{"a":1}`, "exp": "4102444800",
		"iat": claimText(claims["iat"]), "nbf": claimText(claims["nbf"]),
	}
	if !reflect.DeepEqual(authz.JWT.Claims, wantClaims) {
		t.Errorf("claims:\n got %v\nwant %v", authz.JWT.Claims, wantClaims)
	}
	if want := []string{"passport/providers.read", "passport/tokens.read"}; !reflect.DeepEqual(authz.JWT.Scopes, want) {
		t.Errorf("scopes = %v, want %v", authz.JWT.Scopes, want)
	}
}

func claimText(v any) string { b, _ := json.Marshal(v); return string(b) }

// Each route takes its own scope; scp may carry them, client_id may stand in
// for aud, and "Bearer " may be left out, as API Gateway allows.
func TestJWTGatewayRouteScopes(t *testing.T) {
	key := MustDevKey(t)
	f := MustJWTGateway(t, key)
	tests := []struct {
		method, path, function string
		claims                 map[string]any
		authorization          func(string) string
		status                 int
	}{
		{"POST", "/api/v1/passport/providers", "RegisterProviderFunction",
			with(goodClaims(), map[string]any{"scope": "passport/providers.write"}), bearer, 200},
		{"POST", "/api/v1/passport/providers", "RegisterProviderFunction", goodClaims(), bearer, 403},
		{"POST", "/api/v1/passport/authorizations", "CreateAuthorizationFunction",
			with(goodClaims(), map[string]any{"scope": nil, "scp": []any{"passport/authorizations.write"}}), bearer, 200},
		{"GET", "/api/v1/passport/audit", "ListAuditFunction",
			with(goodClaims(), map[string]any{"scope": "passport/audit.read", "aud": nil, "client_id": localstack.DevAudience}), bare, 200},
		{"GET", "/api/v1/passport/audit", "ListAuditFunction", goodClaims(), bearer, 403},
	}
	for _, tt := range tests {
		req := MustRequest(t, tt.method, f.srv.URL+tt.path, strings.NewReader(`{}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", tt.authorization(MustMint(t, key, tt.claims)))
		resp, body := MustDo(t, req)
		if resp.StatusCode != tt.status {
			t.Errorf("%s %s with %v: status %d (%s), want %d", tt.method, tt.path, tt.claims["scope"], resp.StatusCode, body, tt.status)
		}
	}

	// $default has no scope: any valid token reaches the fallback, with no
	// scopes in its event (API Gateway sends null); no token does not.
	req := MustRequest(t, "GET", f.srv.URL+"/nowhere", nil)
	resp, _ := MustDo(t, req)
	if resp.StatusCode != 401 {
		t.Errorf("$default without a token: status %d, want 401", resp.StatusCode)
	}
	req.Header.Set("Authorization", bearer(MustMint(t, key, with(goodClaims(), map[string]any{"scope": nil}))))
	if resp, body := MustDo(t, req); resp.StatusCode != 200 {
		t.Fatalf("$default with a token: status %d (%s), want 200", resp.StatusCode, body)
	}
	authz := f.fns["FallbackFunction"].last(t).RequestContext.Authorizer
	if authz == nil || authz.JWT == nil || authz.JWT.Claims["sub"] != "agent-7" || authz.JWT.Scopes != nil {
		t.Errorf("fallback requestContext.authorizer = %+v, want jwt claims with sub and no scopes", authz)
	}
}

func bearer(tok string) string { return "Bearer " + tok }
func bare(tok string) string   { return tok }

// The local gateway cannot check SigV4: IAM routes are refused up front
// rather than served open.
func TestRouteAuthorizerRefusesIAMRoutes(t *testing.T) {
	auths, err := MustTemplate(t).RouteAuths(nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = localstack.NewRouteAuthorizer(auths, func(samtemplate.JWTConfig) (localstack.KeySet, error) { return localstack.JWKS{}, nil })
	if err == nil || !strings.Contains(err.Error(), "AWS_IAM") {
		t.Errorf("NewRouteAuthorizer(IAM routes) error = %v, want one naming AWS_IAM", err)
	}
}

// Keys are found as API Gateway finds them: the issuer's discovery document
// names the JWKS; a rotated-in kid is fetched again, but not more often than
// MinRefresh.
func TestRemoteJWKS(t *testing.T) {
	first, second := MustDevKey(t), MustDevKey(t)
	var serving atomic.Value
	serving.Store(first.JWKS())
	var fetches atomic.Int32
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]string{"issuer": srv.URL, "jwks_uri": srv.URL + "/keys"})
	})
	mux.HandleFunc("/keys", func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		_ = json.NewEncoder(w).Encode(serving.Load())
	})
	ctx := context.Background()

	uri, err := localstack.DiscoverJWKS(ctx, srv.Client(), srv.URL+"/")
	if err != nil || uri != srv.URL+"/keys" {
		t.Fatalf("DiscoverJWKS = %q, %v", uri, err)
	}
	keys := &localstack.RemoteJWKS{URL: uri, Client: srv.Client(), MinRefresh: time.Hour}
	if k, err := keys.Key(ctx, first.ID); err != nil || k.N.Cmp(first.JWKS()[first.ID].N) != 0 {
		t.Fatalf("Key(first) = %v, %v", k, err)
	}
	serving.Store(localstack.JWKS{first.ID: first.JWKS()[first.ID], second.ID: second.JWKS()[second.ID]})
	if _, err := keys.Key(ctx, second.ID); !errors.Is(err, localstack.ErrUnknownKey) {
		t.Errorf("Key(second) within MinRefresh = %v, want ErrUnknownKey", err)
	}
	keys.MinRefresh = time.Nanosecond
	if _, err := keys.Key(ctx, second.ID); err != nil {
		t.Errorf("Key(second) after MinRefresh: %v", err)
	}
	if _, err := keys.Key(ctx, first.ID); err != nil || fetches.Load() != 2 {
		t.Errorf("Key(first) again: %v after %d fetches, want it kept after 2", err, fetches.Load())
	}
	if _, err := localstack.DiscoverJWKS(ctx, srv.Client(), srv.URL+"/nothing"); err == nil {
		t.Error("DiscoverJWKS of an issuer without a discovery document: nil error")
	}
}

func TestParseJWKS(t *testing.T) {
	key := MustDevKey(t)
	doc, err := json.Marshal(key.JWKS())
	if err != nil {
		t.Fatal(err)
	}
	var raw struct{ Keys []map[string]any }
	_ = json.Unmarshal(doc, &raw)
	raw.Keys = append(raw.Keys,
		map[string]any{"kty": "EC", "kid": "ec", "crv": "P-256", "x": "AA", "y": "AA"},
		map[string]any{"kty": "RSA", "kid": "enc", "use": "enc", "n": "AQAB", "e": "AQAB"})
	doc, _ = json.Marshal(raw)
	set, err := localstack.ParseJWKS(doc)
	if err != nil {
		t.Fatal(err)
	}
	if len(set) != 1 || set[key.ID] == nil || set[key.ID].E != 65537 || set[key.ID].N.Cmp(key.JWKS()[key.ID].N) != 0 {
		t.Errorf("ParseJWKS kept %v, want only the RSA signing key %s", set, key.ID)
	}
	if _, err := localstack.ParseJWKS([]byte(`{"keys":[{"kty":"RSA","kid":"x","n":"!!","e":"AQAB"}]}`)); err == nil {
		t.Error("ParseJWKS of a malformed modulus: nil error")
	}
}

func TestDevKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dev", "jwt-key.pem")
	made, err := localstack.LoadOrCreateDevKey(path)
	if err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, mode %v; want 0600", err, info.Mode().Perm())
	}
	loaded, err := localstack.LoadOrCreateDevKey(path)
	if err != nil || loaded.ID != made.ID {
		t.Fatalf("reload: %v, kid %q; want %q", err, loaded.ID, made.ID)
	}
	// A token the reloaded key mints verifies against the first one's JWKS.
	v, err := localstack.NewJWTVerifier(samtemplate.JWTConfig{Issuer: localstack.DevIssuer, Audience: []string{localstack.DevAudience}}, made.JWKS())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(context.Background(), MustMint(t, loaded, goodClaims())); err != nil {
		t.Errorf("Verify: %v", err)
	}
	if err := os.WriteFile(path, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := localstack.LoadOrCreateDevKey(path); err == nil {
		t.Error("LoadOrCreateDevKey of a corrupt file: nil error")
	}
}

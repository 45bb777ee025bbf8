package localstack

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rsa"
	_ "crypto/sha256" // RS256
	_ "crypto/sha512" // RS384, RS512
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/passport-oss/passport/internal/samtemplate"
)

// The JWT authorizer of an HTTP API, as API Gateway documents it
// (http-api-jwt-authorizer): read the token from the identity source, with
// or without "Bearer "; check its algorithm and signature with the issuer's
// JWKS ("only RSA-based algorithms are supported"); the kid must name a key
// of the JWKS; iss must equal the issuer; aud (or client_id when there is no
// aud) must be one of the audience; exp must be after now; nbf and iat, when
// present, not after now; and the token must hold at least one of the
// route's scopes (scp, else scope). Any failure but the last is 401, the
// last 403. There is no clock leeway.

// rsaHashes are the algorithms API Gateway accepts, with their hashes.
var rsaHashes = map[string]crypto.Hash{"RS256": crypto.SHA256, "RS384": crypto.SHA384, "RS512": crypto.SHA512}

// KeySet finds the public key a token's kid names.
type KeySet interface {
	// Key returns the key with that kid; ErrUnknownKey when there is none.
	Key(ctx context.Context, kid string) (*rsa.PublicKey, error)
}

// ErrUnknownKey is a kid that the key set does not hold.
var ErrUnknownKey = errors.New("no key with that kid")

// JWTVerifier checks tokens as a JWT authorizer with Config does.
type JWTVerifier struct {
	Config samtemplate.JWTConfig
	Keys   KeySet
	// Now is the clock; time.Now when nil.
	Now func() time.Time

	header string // the identity source's header
}

// NewJWTVerifier returns a verifier for an authorizer's configuration. Only
// identity sources of the form $request.header.<Name> are supported.
func NewJWTVerifier(cfg samtemplate.JWTConfig, keys KeySet) (*JWTVerifier, error) {
	src := cfg.IdentitySource
	if src == "" {
		src = samtemplate.DefaultIdentitySource
	}
	header, ok := strings.CutPrefix(src, "$request.header.")
	if !ok || header == "" {
		return nil, fmt.Errorf("identity source %q is not a request header", src)
	}
	if cfg.Issuer == "" || len(cfg.Audience) == 0 {
		return nil, fmt.Errorf("a JWT authorizer needs an issuer and an audience")
	}
	return &JWTVerifier{Config: cfg, Keys: keys, header: header}, nil
}

func (v *JWTVerifier) tokenFrom(r *http.Request) (string, error) {
	raw := strings.TrimSpace(r.Header.Get(v.header))
	if raw == "" {
		return "", unauthorized("no token in the %s header", v.header)
	}
	if scheme, rest, ok := strings.Cut(raw, " "); ok && strings.EqualFold(scheme, "Bearer") {
		raw = strings.TrimSpace(rest)
	}
	return raw, nil
}

// Verify checks a token (without "Bearer ") and returns its claims, numbers
// as json.Number. Scopes are the route's business: see RouteAuthorizer.
func (v *JWTVerifier) Verify(ctx context.Context, token string) (map[string]any, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, unauthorized("the token is not a signed JWT")
	}
	var header struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
	}
	if err := decodeSegment(parts[0], &header); err != nil {
		return nil, unauthorized("the token's header is not valid: %v", err)
	}
	hash, ok := rsaHashes[header.Alg]
	if !ok {
		return nil, unauthorized("signing method %q is not supported (RS256, RS384, RS512 only)", header.Alg)
	}
	if header.Kid == "" {
		return nil, unauthorized("the token's header has no kid")
	}
	key, err := v.Keys.Key(ctx, header.Kid)
	if errors.Is(err, ErrUnknownKey) {
		return nil, unauthorized("no key of the issuer has the token's kid")
	}
	if err != nil {
		return nil, &AuthError{Status: http.StatusUnauthorized, Code: "UNAUTHORIZED", Message: "the issuer's keys are unavailable", cause: err}
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return nil, unauthorized("the token's signature is not base64url")
	}
	h := hash.New()
	h.Write([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(key, hash, h.Sum(nil), sig); err != nil {
		return nil, unauthorized("the token's signature is not valid")
	}
	var claims map[string]any
	if err := decodeSegment(parts[1], &claims); err != nil {
		return nil, unauthorized("the token's claims are not valid: %v", err)
	}
	if err := v.checkClaims(claims); err != nil {
		return nil, err
	}
	return claims, nil
}

func (v *JWTVerifier) checkClaims(c map[string]any) error {
	if iss, _ := c["iss"].(string); iss != v.Config.Issuer {
		return unauthorized("the token's issuer is not %s", v.Config.Issuer)
	}
	if !v.audienceMatches(c) {
		return unauthorized("the token is not for this audience")
	}
	now := v.now()
	exp, ok, err := numericDate(c, "exp")
	switch {
	case err != nil:
		return err
	case !ok:
		return unauthorized("the token has no exp")
	case !now.Before(exp):
		return unauthorized("the token has expired")
	}
	for _, name := range []string{"nbf", "iat"} {
		t, ok, err := numericDate(c, name)
		if err != nil {
			return err
		}
		if ok && now.Before(t) {
			return unauthorized("the token's %s is in the future", name)
		}
	}
	return nil
}

// audienceMatches checks aud, or client_id for a token without aud.
func (v *JWTVerifier) audienceMatches(c map[string]any) bool {
	var have []string
	switch aud := c["aud"].(type) {
	case string:
		have = []string{aud}
	case []any:
		for _, a := range aud {
			if s, ok := a.(string); ok {
				have = append(have, s)
			}
		}
	case nil:
		if id, ok := c["client_id"].(string); ok {
			have = []string{id}
		}
	}
	return holdsAny(have, v.Config.Audience)
}

func (v *JWTVerifier) now() time.Time {
	if v.Now != nil {
		return v.Now()
	}
	return time.Now()
}

// numericDate reads a NumericDate claim (seconds since the epoch).
func numericDate(c map[string]any, name string) (time.Time, bool, error) {
	raw, ok := c[name]
	if !ok {
		return time.Time{}, false, nil
	}
	n, isNum := raw.(json.Number)
	if !isNum {
		return time.Time{}, false, unauthorized("the token's %s is not a number", name)
	}
	f, err := n.Float64()
	if err != nil {
		return time.Time{}, false, unauthorized("the token's %s is not a number", name)
	}
	sec := int64(f)
	return time.Unix(sec, int64((f-float64(sec))*1e9)), true, nil
}

// tokenScopes are the scopes a token holds: scp (a list or a space-separated
// string), else scope (space-separated).
func tokenScopes(c map[string]any) []string {
	raw, ok := c["scp"]
	if !ok {
		raw = c["scope"]
	}
	switch s := raw.(type) {
	case string:
		return strings.Fields(s)
	case []any:
		var out []string
		for _, e := range s {
			if str, ok := e.(string); ok {
				out = append(out, str)
			}
		}
		return out
	}
	return nil
}

// eventClaims renders claims as API Gateway puts them in the event: every
// value a string, lists as "[a b]", numbers as written, objects as JSON,
// null claims left out.
func eventClaims(c map[string]any) map[string]string {
	out := make(map[string]string, len(c))
	for k, v := range c {
		if v == nil {
			continue
		}
		out[k] = claimString(v)
	}
	return out
}

func claimString(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case []any:
		parts := make([]string, len(v))
		for i, e := range v {
			parts[i] = claimString(e)
		}
		return "[" + strings.Join(parts, " ") + "]"
	case map[string]any:
		b, _ := json.Marshal(v)
		return string(b)
	}
	return fmt.Sprint(v) // json.Number, bool
}

func decodeSegment(seg string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return errors.New("not base64url")
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(v); err != nil {
		return errors.New("not a JSON object")
	}
	return nil
}

// JWKS is a JSON Web Key Set's RSA signing keys, by kid. It is a KeySet.
type JWKS map[string]*rsa.PublicKey

// Key implements KeySet.
func (s JWKS) Key(_ context.Context, kid string) (*rsa.PublicKey, error) {
	if k, ok := s[kid]; ok {
		return k, nil
	}
	return nil, ErrUnknownKey
}

type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use,omitempty"`
	Alg string `json:"alg,omitempty"`
	N   string `json:"n"`
	E   string `json:"e"`
}

// ParseJWKS reads a JWK Set document. Keys that are not RSA signing keys
// with a kid are skipped: API Gateway verifies RSA signatures only.
func ParseJWKS(data []byte) (JWKS, error) {
	var doc struct {
		Keys []jwk `json:"keys"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("JWKS: %w", err)
	}
	set := JWKS{}
	for _, k := range doc.Keys {
		if k.Kty != "RSA" || k.Kid == "" || (k.Use != "" && k.Use != "sig") {
			continue
		}
		n, err1 := base64.RawURLEncoding.DecodeString(k.N)
		e, err2 := base64.RawURLEncoding.DecodeString(k.E)
		if err1 != nil || err2 != nil || len(n) == 0 || len(e) == 0 || len(e) > 4 {
			return nil, fmt.Errorf("JWKS: key %s has a malformed n or e", k.Kid)
		}
		set[k.Kid] = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
	}
	return set, nil
}

// MarshalJSON writes the set as a JWK Set document.
func (s JWKS) MarshalJSON() ([]byte, error) {
	doc := struct {
		Keys []jwk `json:"keys"`
	}{Keys: []jwk{}}
	for kid, k := range s {
		doc.Keys = append(doc.Keys, jwk{
			Kty: "RSA", Kid: kid, Use: "sig", Alg: "RS256",
			N: base64.RawURLEncoding.EncodeToString(k.N.Bytes()),
			E: base64.RawURLEncoding.EncodeToString(big.NewInt(int64(k.E)).Bytes()),
		})
	}
	return json.Marshal(doc)
}

// RemoteJWKS is an issuer's JWKS fetched over HTTP and kept; a kid it does
// not hold makes it fetch again, at most once every MinRefresh, so a key
// rotation is picked up without a restart.
type RemoteJWKS struct {
	URL    string
	Client *http.Client // http.DefaultClient when nil
	// MinRefresh spaces fetches caused by unknown kids (default 1 minute).
	MinRefresh time.Duration

	mu      sync.Mutex
	keys    JWKS
	fetched time.Time
}

// Key implements KeySet.
func (r *RemoteJWKS) Key(ctx context.Context, kid string) (*rsa.PublicKey, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if k, ok := r.keys[kid]; ok {
		return k, nil
	}
	wait := r.MinRefresh
	if wait <= 0 {
		wait = time.Minute
	}
	if r.keys != nil && time.Since(r.fetched) < wait {
		return nil, ErrUnknownKey
	}
	body, err := getJSON(ctx, r.Client, r.URL)
	if err != nil {
		return nil, err
	}
	keys, err := ParseJWKS(body)
	if err != nil {
		return nil, err
	}
	r.keys, r.fetched = keys, time.Now()
	return keys.Key(ctx, kid)
}

// DiscoverJWKS returns the jwks_uri of an issuer's OpenID Connect discovery
// document (<issuer>/.well-known/openid-configuration), which is where API
// Gateway finds the keys.
func DiscoverJWKS(ctx context.Context, client *http.Client, issuer string) (string, error) {
	body, err := getJSON(ctx, client, strings.TrimSuffix(issuer, "/")+"/.well-known/openid-configuration")
	if err != nil {
		return "", err
	}
	var doc struct {
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.Unmarshal(body, &doc); err != nil || doc.JWKSURI == "" {
		return "", fmt.Errorf("issuer %s: the discovery document names no jwks_uri", issuer)
	}
	return doc.JWKSURI, nil
}

func getJSON(ctx context.Context, client *http.Client, url string) ([]byte, error) {
	if client == nil {
		client = http.DefaultClient
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return io.ReadAll(io.LimitReader(resp.Body, 1<<20))
}

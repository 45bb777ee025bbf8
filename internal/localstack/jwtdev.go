package localstack

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// The issuer and audience of the local development identity provider: what
// `passport-local token` puts in tokens and `passport-local run -jwt-dev-key`
// expects, unless told otherwise.
const (
	DevIssuer   = "https://passport.local/dev"
	DevAudience = "passport-local"
)

// DevKey is an RSA signing key standing in for an identity provider on one
// machine: its public half is the JWKS the local gateway checks tokens
// against, and Mint signs tokens with it. It is for local development only;
// nothing deployed trusts it.
type DevKey struct {
	// ID is the kid of the tokens it signs.
	ID  string
	key *rsa.PrivateKey
}

// NewDevKey makes a fresh 2048-bit key.
func NewDevKey() (*DevKey, error) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	return devKeyOf(k)
}

// LoadOrCreateDevKey reads the PEM (PKCS #8) key at path, or makes one and
// writes it there (mode 0600) when there is none.
func LoadOrCreateDevKey(path string) (*DevKey, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return createDevKey(path)
	}
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("%s: not a PEM PRIVATE KEY", path)
	}
	parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	k, ok := parsed.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s: not an RSA key (API Gateway verifies RSA signatures only)", path)
	}
	return devKeyOf(k)
}

func createDevKey(path string) (*DevKey, error) {
	dk, err := NewDevKey()
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(dk.key)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	data := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return nil, err
	}
	return dk, nil
}

// devKeyOf names a key by its public half: the first 16 characters of the
// base64url SHA-256 of its DER form, stable across runs.
func devKeyOf(k *rsa.PrivateKey) (*DevKey, error) {
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(der)
	return &DevKey{ID: base64.RawURLEncoding.EncodeToString(sum[:])[:16], key: k}, nil
}

// JWKS is the key set holding the key's public half.
func (k *DevKey) JWKS() JWKS { return JWKS{k.ID: &k.key.PublicKey} }

// Mint signs claims as an RS256 JWT whose kid is k.ID.
func (k *DevKey) Mint(claims map[string]any) (string, error) {
	return SignRS256(k.key, map[string]any{"alg": "RS256", "typ": "JWT", "kid": k.ID}, claims)
}

// SignRS256 signs claims under header with key; the header's alg is the
// caller's to set (a test may lie in it).
func SignRS256(key *rsa.PrivateKey, header, claims map[string]any) (string, error) {
	h, err := json.Marshal(header)
	if err != nil {
		return "", err
	}
	c, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	input := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c)
	digest := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, digest[:])
	if err != nil {
		return "", err
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}

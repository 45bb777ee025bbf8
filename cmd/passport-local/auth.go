package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/passport-oss/passport/internal/localstack"
	"github.com/passport-oss/passport/internal/samtemplate"
)

// jwtSettings say whether and how the local gateway checks bearer tokens as
// the deployed API's JWT authorizer does.
type jwtSettings struct {
	issuer, audience string // JwtIssuer and JwtAudience (comma-separated)
	jwksURL          string // the issuer's JWKS; discovered from the issuer when empty
	devKey           string // a local signing key file standing in for the issuer
}

func (s *jwtSettings) flags(fs *flag.FlagSet) {
	fs.StringVar(&s.issuer, "jwt-issuer", os.Getenv("PASSPORT_JWT_ISSUER"), "JWT mode: the token issuer (iss), as the JwtIssuer parameter (PASSPORT_JWT_ISSUER)")
	fs.StringVar(&s.audience, "jwt-audience", os.Getenv("PASSPORT_JWT_AUDIENCE"), "JWT mode: accepted audiences, comma-separated, as the JwtAudience parameter (PASSPORT_JWT_AUDIENCE)")
	fs.StringVar(&s.jwksURL, "jwks-url", os.Getenv("PASSPORT_JWKS_URL"), "JWT mode: the issuer's JWKS URL; default: the jwks_uri of <issuer>/.well-known/openid-configuration (PASSPORT_JWKS_URL)")
	fs.StringVar(&s.devKey, "jwt-dev-key", os.Getenv("PASSPORT_JWT_DEV_KEY"), "JWT mode with a local signing key (PEM, created if absent) as the issuer's only key; `passport-local token` mints with it (PASSPORT_JWT_DEV_KEY)")
}

func (s *jwtSettings) enabled() bool { return s.issuer != "" || s.devKey != "" }

// params are the template parameters the deployed stack would have.
func (s *jwtSettings) params() map[string]string {
	issuer, audience := s.issuer, s.audience
	if s.devKey != "" && issuer == "" {
		issuer = localstack.DevIssuer
	}
	if s.devKey != "" && audience == "" {
		audience = localstack.DevAudience
	}
	return map[string]string{"AuthMode": samtemplate.AuthJWT, "JwtIssuer": issuer, "JwtAudience": audience}
}

// authorizer builds the gateway's authorizer from template.yaml's routes as
// deployed with AuthMode JWT, so the local scopes are the deployed ones, and
// describes it for the banner.
func (s *jwtSettings) authorizer(ctx context.Context, tmpl *samtemplate.Template, log *slog.Logger) (*localstack.RouteAuthorizer, string, error) {
	params := s.params()
	if params["JwtAudience"] == "" {
		return nil, "", fmt.Errorf("JWT mode needs an audience: -jwt-audience or PASSPORT_JWT_AUDIENCE")
	}
	auths, err := tmpl.RouteAuths(params)
	if err != nil {
		return nil, "", err
	}
	var source string
	keys := func(cfg samtemplate.JWTConfig) (localstack.KeySet, error) {
		if s.devKey != "" {
			k, err := localstack.LoadOrCreateDevKey(s.devKey)
			if err != nil {
				return nil, err
			}
			source = "dev key " + s.devKey + " (kid " + k.ID + ")"
			return k.JWKS(), nil
		}
		url := s.jwksURL
		if url == "" {
			if url, err = localstack.DiscoverJWKS(ctx, nil, cfg.Issuer); err != nil {
				return nil, err
			}
		}
		source = "JWKS " + url
		return &localstack.RemoteJWKS{URL: url}, nil
	}
	auth, err := localstack.NewRouteAuthorizer(auths, keys)
	if err != nil {
		return nil, "", err
	}
	auth.Logger = log
	return auth, fmt.Sprintf("JWT (issuer %s, audience %s; %s)", params["JwtIssuer"], params["JwtAudience"], source), nil
}

// tokenCmd prints a token signed with the local development key, for
// `make run` in JWT mode with -jwt-dev-key (PASSPORT_JWT_DEV_KEY).
func tokenCmd(args []string) error {
	keyPath := os.Getenv("PASSPORT_JWT_DEV_KEY")
	if keyPath == "" {
		root, err := localstack.ModuleRoot()
		if err != nil {
			return err
		}
		keyPath = filepath.Join(root, ".cache", "jwt-dev-key.pem")
	}
	var scopes []string
	fs := flag.NewFlagSet("token", flag.ExitOnError)
	fs.StringVar(&keyPath, "key", keyPath, "signing key (PEM, created if absent); PASSPORT_JWT_DEV_KEY overrides the default")
	fs.Func("scope", "a scope to grant, such as passport/providers.read (repeatable, or space-separated)", func(v string) error {
		scopes = append(scopes, strings.Fields(v)...)
		return nil
	})
	sub := fs.String("sub", "local-developer", "the subject (sub): the caller the audit trail names")
	ttl := fs.Duration("ttl", time.Hour, "how long the token is valid")
	iss := fs.String("iss", localstack.DevIssuer, "the issuer (iss)")
	aud := fs.String("aud", localstack.DevAudience, "the audience (aud)")
	fs.Parse(args)

	key, err := localstack.LoadOrCreateDevKey(keyPath)
	if err != nil {
		return err
	}
	now := time.Now()
	claims := map[string]any{
		"iss": *iss, "aud": *aud, "sub": *sub,
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(*ttl).Unix(),
	}
	if len(scopes) > 0 {
		claims["scope"] = strings.Join(scopes, " ")
	}
	tok, err := key.Mint(claims)
	if err != nil {
		return err
	}
	fmt.Println(tok)
	return nil
}

package localstack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/aws/aws-lambda-go/events"

	"github.com/passport-oss/passport/internal/samtemplate"
)

// Authorizer decides, as an HTTP API's authorizers do, whether a request may
// reach its route's function, and returns what the function is told of the
// caller (the event's requestContext.authorizer; nil for an open route). A
// refusal is an *AuthError.
type Authorizer interface {
	Authorize(r *http.Request, route samtemplate.Route) (*events.APIGatewayV2HTTPRequestContextAuthorizerDescription, error)
}

// AuthError is a request an authorizer refused: 401 UNAUTHORIZED when it
// brought no valid token, 403 FORBIDDEN when its token lacks the route's
// scopes. Message says why without repeating the token.
type AuthError struct {
	Status  int
	Code    string
	Message string
	// Scopes are the route's scopes, for a 403's WWW-Authenticate.
	Scopes []string

	cause error // why keys could not be had, for the log only
}

func (e *AuthError) Error() string { return e.Code + ": " + e.Message }

// Unwrap returns what kept the authorizer from checking the token, if
// anything did (its keys could not be fetched).
func (e *AuthError) Unwrap() error { return e.cause }

func unauthorized(format string, args ...any) *AuthError {
	return &AuthError{Status: http.StatusUnauthorized, Code: "UNAUTHORIZED", Message: fmt.Sprintf(format, args...)}
}

// wwwAuthenticate is the RFC 6750 challenge for a refusal.
func (e *AuthError) wwwAuthenticate() string {
	if e.Status == http.StatusForbidden {
		return fmt.Sprintf(`Bearer error="insufficient_scope", scope=%q`, strings.Join(e.Scopes, " "))
	}
	return fmt.Sprintf(`Bearer error="invalid_token", error_description=%q`, e.Message)
}

// RouteAuthorizer authorizes each route as the template declares it (see
// samtemplate.RouteAuths): open routes pass, JWT routes need a token their
// authorizer verifies holding one of the route's scopes. The local gateway
// cannot check SigV4, so IAM and Lambda-authorized routes are refused when
// it is built.
type RouteAuthorizer struct {
	routes    map[string]samtemplate.RouteAuth // by route key
	verifiers map[string]*JWTVerifier          // by authorizer name
	// Logger receives why keys could not be had (never the token).
	Logger *slog.Logger
}

// NewRouteAuthorizer builds the authorizer for the routes' auths; keys gives
// the key set of each JWT authorizer (its issuer's JWKS).
func NewRouteAuthorizer(auths []samtemplate.RouteAuth, keys func(samtemplate.JWTConfig) (KeySet, error)) (*RouteAuthorizer, error) {
	a := &RouteAuthorizer{routes: map[string]samtemplate.RouteAuth{}, verifiers: map[string]*JWTVerifier{}}
	for _, ra := range auths {
		switch ra.Type {
		case samtemplate.AuthNone:
		case samtemplate.AuthJWT:
			if a.verifiers[ra.Authorizer] != nil {
				break
			}
			ks, err := keys(*ra.JWT)
			if err != nil {
				return nil, fmt.Errorf("localstack: authorizer %s: %w", ra.Authorizer, err)
			}
			v, err := NewJWTVerifier(*ra.JWT, ks)
			if err != nil {
				return nil, fmt.Errorf("localstack: authorizer %s: %w", ra.Authorizer, err)
			}
			a.verifiers[ra.Authorizer] = v
		default:
			return nil, fmt.Errorf("localstack: route %q uses a %s authorizer, which the local gateway cannot check", ra.RouteKey(), ra.Type)
		}
		a.routes[ra.RouteKey()] = ra
	}
	return a, nil
}

// Authorize implements Authorizer.
func (a *RouteAuthorizer) Authorize(r *http.Request, route samtemplate.Route) (*events.APIGatewayV2HTTPRequestContextAuthorizerDescription, error) {
	ra, ok := a.routes[route.RouteKey()]
	if !ok || ra.Type == samtemplate.AuthNone {
		return nil, nil
	}
	v := a.verifiers[ra.Authorizer]
	token, err := v.tokenFrom(r)
	if err != nil {
		return nil, err
	}
	claims, err := v.Verify(r.Context(), token)
	if err != nil {
		a.logKeyTrouble(r.Context(), err)
		return nil, err
	}
	scopes := tokenScopes(claims)
	if len(ra.Scopes) > 0 && !holdsAny(scopes, ra.Scopes) {
		return nil, &AuthError{Status: http.StatusForbidden, Code: "FORBIDDEN",
			Message: "the token holds none of the scopes this route needs: " + strings.Join(ra.Scopes, " "), Scopes: ra.Scopes}
	}
	jwt := &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{Claims: eventClaims(claims)}
	if len(ra.Scopes) > 0 {
		// A route without scopes gets "scopes": null, as API Gateway sends.
		jwt.Scopes = scopes
	}
	return &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{JWT: jwt}, nil
}

func (a *RouteAuthorizer) logKeyTrouble(ctx context.Context, err error) {
	var ae *AuthError
	if !errors.As(err, &ae) || ae.cause == nil {
		return
	}
	log := a.Logger
	if log == nil {
		log = slog.Default()
	}
	log.WarnContext(ctx, "jwt authorizer: signing keys unavailable", "err", ae.cause)
}

func holdsAny(have, want []string) bool {
	for _, w := range want {
		for _, h := range have {
			if h == w {
				return true
			}
		}
	}
	return false
}

// authorize runs the gateway's Authorizer for the route. A refusal is
// answered in the envelope, with a WWW-Authenticate challenge, and reported
// as not ok.
func (g *Gateway) authorize(w http.ResponseWriter, r *http.Request, route *compiledRoute) (*events.APIGatewayV2HTTPRequestContextAuthorizerDescription, bool) {
	if g.Auth == nil {
		return nil, true
	}
	authz, err := g.Auth.Authorize(r, route.Route)
	var refused *AuthError
	switch {
	case err == nil:
		return authz, true
	case errors.As(err, &refused):
		w.Header().Set("WWW-Authenticate", refused.wwwAuthenticate())
		writeEnvelope(w, refused.Status, refused.Code, refused.Message)
	default:
		g.fail(w, route.FunctionID, err)
	}
	return nil, false
}

package samtemplate

import (
	"fmt"
)

// Authorization types of an HTTP API route, as API Gateway names them.
const (
	AuthNone   = "NONE"
	AuthIAM    = "AWS_IAM"
	AuthJWT    = "JWT"
	AuthLambda = "CUSTOM"
)

// DefaultIdentitySource is where a JWT authorizer reads the token unless
// its IdentitySource says otherwise.
const DefaultIdentitySource = "$request.header.Authorization"

// RouteAuth is how API Gateway authorizes one route of the template.
type RouteAuth struct {
	Route
	// Type is AuthNone, AuthIAM, AuthJWT or AuthLambda.
	Type string
	// Authorizer names the route's authorizer in its API's Auth.Authorizers
	// ("AWS_IAM" for IAM, "NONE" for none).
	Authorizer string
	// Scopes are the route's AuthorizationScopes (JWT only): a token must
	// hold at least one of them. None means any valid token will do.
	Scopes []string
	// JWT is the authorizer's configuration when Type is AuthJWT.
	JWT *JWTConfig
}

// JWTConfig is a JWT authorizer's configuration.
type JWTConfig struct {
	// Issuer must equal a token's iss.
	Issuer string
	// Audience lists the accepted aud (or client_id, for a token with no aud).
	Audience []string
	// IdentitySource is where the token is read, as
	// "$request.header.<Name>" (DefaultIdentitySource when unset).
	IdentitySource string
}

// RouteAuths returns how each route of Routes() is authorized when the stack
// is deployed with params (parameters not in params take their Default), in
// the order of Routes(). The template is resolved first as
// AWS::LanguageExtensions resolves it (see Resolve); then SAM's rules apply:
// a route takes its event's Auth.Authorizer, else its API's
// Auth.DefaultAuthorizer (the $default route included), else none; AWS_IAM is
// the built-in IAM authorizer when the API sets EnableIamAuthorizer, and
// takes no scopes; a JWT route's scopes are its event's AuthorizationScopes,
// else its authorizer's.
func (t *Template) RouteAuths(params map[string]string) ([]RouteAuth, error) {
	var out []RouteAuth
	for _, route := range t.routes {
		ra, err := t.routeAuth(route, params)
		if err != nil {
			return nil, fmt.Errorf("samtemplate: route %q: %w", route.RouteKey(), err)
		}
		out = append(out, ra)
	}
	return out, nil
}

func (t *Template) routeAuth(route Route, params map[string]string) (RouteAuth, error) {
	ev := t.routeEvents[route.RouteKey()]
	evAuth, err := t.resolvedMap(ev.props["Auth"], params, "Auth")
	if err != nil {
		return RouteAuth{}, err
	}
	apiAuth, err := t.apiAuth(ev.props["ApiId"], params)
	if err != nil {
		return RouteAuth{}, err
	}
	ra := RouteAuth{Route: route, Type: AuthNone, Authorizer: AuthNone}
	name, _ := evAuth["Authorizer"].(string)
	if name == "" {
		name, _ = apiAuth["DefaultAuthorizer"].(string)
	}
	switch {
	case name == "" && evAuth != nil:
		return RouteAuth{}, fmt.Errorf("Auth needs an Authorizer or the API's DefaultAuthorizer")
	case name == "" || name == AuthNone:
		return ra, nil
	case name == AuthIAM && apiAuth["EnableIamAuthorizer"] == true:
		ra.Type, ra.Authorizer = AuthIAM, AuthIAM
		return ra, nil
	}
	authorizers, _ := apiAuth["Authorizers"].(map[string]any)
	def, ok := authorizers[name].(map[string]any)
	if !ok {
		return RouteAuth{}, fmt.Errorf("authorizer %q is not defined in the API's Auth.Authorizers", name)
	}
	ra.Authorizer = name
	if _, ok := def["FunctionArn"]; ok {
		ra.Type = AuthLambda
		return ra, nil
	}
	if ra.JWT, err = jwtConfig(def); err != nil {
		return RouteAuth{}, fmt.Errorf("authorizer %s: %w", name, err)
	}
	ra.Type = AuthJWT
	if ra.Scopes, err = stringList(evAuth["AuthorizationScopes"]); err != nil {
		return RouteAuth{}, fmt.Errorf("AuthorizationScopes: %w", err)
	}
	if len(ra.Scopes) == 0 {
		if ra.Scopes, err = stringList(def["AuthorizationScopes"]); err != nil {
			return RouteAuth{}, fmt.Errorf("authorizer %s: AuthorizationScopes: %w", name, err)
		}
	}
	return ra, nil
}

// apiAuth returns the resolved Auth of the HttpApi an event's ApiId names,
// or of the implicit API (Globals.HttpApi) when it names none.
func (t *Template) apiAuth(apiID any, params map[string]string) (map[string]any, error) {
	if apiID == nil {
		g, _ := t.Globals["HttpApi"].(map[string]any)
		return t.resolvedMap(g["Auth"], params, "Globals.HttpApi.Auth")
	}
	in, _ := apiID.(Intrinsic)
	id, ok := in.Ref()
	if !ok || t.Resources[id].Type != TypeHTTPAPI {
		return nil, fmt.Errorf("ApiId must be !Ref to an %s, got %v", TypeHTTPAPI, apiID)
	}
	return t.resolvedMap(t.Resources[id].Properties["Auth"], params, id+".Auth")
}

func (t *Template) resolvedMap(v any, params map[string]string, where string) (map[string]any, error) {
	rv, err := t.Resolve(v, params)
	if err != nil || rv == nil {
		return nil, err
	}
	m, ok := rv.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s is not a mapping once resolved: %v", where, rv)
	}
	return m, nil
}

func jwtConfig(def map[string]any) (*JWTConfig, error) {
	jc, ok := def["JwtConfiguration"].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("neither JwtConfiguration nor FunctionArn")
	}
	c := &JWTConfig{IdentitySource: DefaultIdentitySource}
	if c.Issuer, ok = jc["issuer"].(string); !ok || c.Issuer == "" {
		return nil, fmt.Errorf("JwtConfiguration.issuer %v is not a literal string once resolved", jc["issuer"])
	}
	aud, err := stringList(jc["audience"])
	if err != nil || len(aud) == 0 {
		return nil, fmt.Errorf("JwtConfiguration.audience %v is not a list of strings once resolved", jc["audience"])
	}
	c.Audience = aud
	if src, ok := def["IdentitySource"].(string); ok && src != "" {
		c.IdentitySource = src
	}
	return c, nil
}

// stringList reads a list of strings (or one string) of a resolved template.
func stringList(v any) ([]string, error) {
	switch v := v.(type) {
	case nil:
		return nil, nil
	case string:
		return []string{v}, nil
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("%v is not a string", e)
			}
			out = append(out, s)
		}
		return out, nil
	}
	return nil, fmt.Errorf("%v is not a list of strings", v)
}

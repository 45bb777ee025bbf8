package samtemplate_test

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/passport-oss/passport/internal/httpapi"
	"github.com/passport-oss/passport/internal/samtemplate"
)

func mustRouteAuths(t *testing.T, tpl *samtemplate.Template, params map[string]string) map[string]samtemplate.RouteAuth {
	t.Helper()
	list, err := tpl.RouteAuths(params)
	if err != nil {
		t.Fatalf("RouteAuths(%v): %v", params, err)
	}
	if got, want := len(list), len(tpl.Routes()); got != want {
		t.Fatalf("RouteAuths gave %d routes, Routes %d", got, want)
	}
	byKey := map[string]samtemplate.RouteAuth{}
	for _, ra := range list {
		byKey[ra.RouteKey()] = ra
	}
	return byKey
}

// By default the deployed API takes SigV4 callers only, on every route.
func TestTemplateAuthDefaultsToIAM(t *testing.T) {
	tpl := loadRepoTemplate(t)
	for key, ra := range mustRouteAuths(t, tpl, nil) {
		if ra.Type != samtemplate.AuthIAM || ra.Authorizer != "AWS_IAM" || ra.Scopes != nil || ra.JWT != nil {
			t.Errorf("%s: %+v, want AWS_IAM without scopes", key, ra)
		}
	}
}

// In JWT mode every route takes a token from the issuer for the audience,
// with the scope the route table gives it; $default takes any valid token.
func TestTemplateAuthJWTMode(t *testing.T) {
	tpl := loadRepoTemplate(t)
	params := map[string]string{"AuthMode": "JWT", "JwtIssuer": "https://issuer.example.com", "JwtAudience": "passport-api, agents"}
	got := mustRouteAuths(t, tpl, params)
	jwt := &samtemplate.JWTConfig{
		Issuer:         "https://issuer.example.com",
		Audience:       []string{"passport-api", "agents"},
		IdentitySource: "$request.header.Authorization",
	}
	want := map[string]samtemplate.RouteAuth{}
	for _, r := range httpapi.Routes {
		if r.Scope == "" {
			t.Errorf("route table: %s %s has no Scope", r.Method, r.Path)
		}
		route := samtemplate.Route{Method: r.Method, Path: r.Path, FunctionID: r.FunctionID}
		want[route.RouteKey()] = samtemplate.RouteAuth{Route: route, Type: "JWT", Authorizer: "JWT", Scopes: []string{r.Scope}, JWT: jwt}
	}
	def := samtemplate.Route{Method: "ANY", Path: "$default", FunctionID: httpapi.FallbackFunctionID}
	want["$default"] = samtemplate.RouteAuth{Route: def, Type: "JWT", Authorizer: "JWT", JWT: jwt}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("RouteAuths in JWT mode:\n got %+v\nwant %+v", got, want)
	}
}

func TestTemplateAuthRefusesUnknownMode(t *testing.T) {
	_, err := loadRepoTemplate(t).RouteAuths(map[string]string{"AuthMode": "jwt"})
	if err == nil || !strings.Contains(err.Error(), "AllowedValues") {
		t.Errorf("RouteAuths(AuthMode=jwt) error = %v, want one about AllowedValues", err)
	}
}

// SAM's rules, on a template that uses each of them.
func TestRouteAuthsFollowSAM(t *testing.T) {
	tpl := mustParse(t, `
Parameters:
  Mode: {Type: String, Default: Jwt}
  Aud: {Type: CommaDelimitedList, Default: "a,b"}
Conditions:
  IsJwt: !Equals [!Ref Mode, Jwt]
Globals:
  HttpApi:
    Auth:
      DefaultAuthorizer: AWS_IAM
      EnableIamAuthorizer: true
Resources:
  Api:
    Type: AWS::Serverless::HttpApi
    Properties:
      Auth:
        EnableIamAuthorizer: true
        DefaultAuthorizer: !If [IsJwt, Jwt, !Ref AWS::NoValue]
        Authorizers:
          Jwt:
            AuthorizationScopes: [fallback.scope]
            IdentitySource: $request.header.X-Token
            JwtConfiguration: {issuer: https://i, audience: !Ref Aud}
          Custom: {FunctionArn: arn:aws:lambda:x}
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        Scoped: {Type: HttpApi, Properties: {ApiId: !Ref Api, Path: /scoped, Method: GET, Auth: {AuthorizationScopes: [s1, s2]}}}
        Fallback: {Type: HttpApi, Properties: {ApiId: !Ref Api, Path: /fallback, Method: GET}}
        Open: {Type: HttpApi, Properties: {ApiId: !Ref Api, Path: /open, Method: GET, Auth: {Authorizer: NONE}}}
        Iam: {Type: HttpApi, Properties: {ApiId: !Ref Api, Path: /iam, Method: GET, Auth: {Authorizer: AWS_IAM, AuthorizationScopes: [dropped]}}}
        Lambda: {Type: HttpApi, Properties: {ApiId: !Ref Api, Path: /lambda, Method: GET, Auth: {Authorizer: Custom}}}
        Implicit: {Type: HttpApi, Properties: {Path: /implicit, Method: GET}}
`)
	jwt := &samtemplate.JWTConfig{Issuer: "https://i", Audience: []string{"a", "b"}, IdentitySource: "$request.header.X-Token"}
	tests := []struct {
		key        string
		typ, name  string
		scopes     []string
		jwtPresent bool
	}{
		{"GET /scoped", "JWT", "Jwt", []string{"s1", "s2"}, true},
		{"GET /fallback", "JWT", "Jwt", []string{"fallback.scope"}, true},
		{"GET /open", "NONE", "NONE", nil, false},
		{"GET /iam", "AWS_IAM", "AWS_IAM", nil, false},
		{"GET /lambda", "CUSTOM", "Custom", nil, false},
		{"GET /implicit", "AWS_IAM", "AWS_IAM", nil, false},
	}
	got := mustRouteAuths(t, tpl, nil)
	for _, tt := range tests {
		ra := got[tt.key]
		if ra.Type != tt.typ || ra.Authorizer != tt.name || !reflect.DeepEqual(ra.Scopes, tt.scopes) {
			t.Errorf("%s: Type %q Authorizer %q Scopes %v; want %q %q %v", tt.key, ra.Type, ra.Authorizer, ra.Scopes, tt.typ, tt.name, tt.scopes)
		}
		if tt.jwtPresent && !reflect.DeepEqual(ra.JWT, jwt) {
			t.Errorf("%s: JWT %+v, want %+v", tt.key, ra.JWT, jwt)
		}
		if !tt.jwtPresent && ra.JWT != nil {
			t.Errorf("%s: JWT %+v, want none", tt.key, ra.JWT)
		}
	}

	// With the condition false the default authorizer is AWS::NoValue: the
	// route with no Auth of its own is open, the one with scopes is an error.
	if _, err := tpl.RouteAuths(map[string]string{"Mode": "Iam"}); err == nil || !strings.Contains(err.Error(), `"GET /scoped"`) {
		t.Errorf("RouteAuths(Mode=Iam) error = %v, want one about GET /scoped", err)
	}
}

func TestRouteAuthsErrors(t *testing.T) {
	tests := []struct{ name, auth, wantErr string }{
		{"undefined authorizer", "{DefaultAuthorizer: Nope}", `authorizer "Nope" is not defined`},
		{"IAM not enabled", "{DefaultAuthorizer: AWS_IAM}", `authorizer "AWS_IAM" is not defined`},
		{"issuer not literal", "{DefaultAuthorizer: J, Authorizers: {J: {JwtConfiguration: {issuer: !Sub 'https://${AWS::Region}', audience: [a]}}}}", "issuer"},
		{"no audience", "{DefaultAuthorizer: J, Authorizers: {J: {JwtConfiguration: {issuer: https://i}}}}", "audience"},
		{"unknown condition", "{DefaultAuthorizer: !If [Missing, a, b]}", `no condition "Missing"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tpl := mustParse(t, `
Resources:
  Api: {Type: AWS::Serverless::HttpApi, Properties: {Auth: `+tt.auth+`}}
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        E: {Type: HttpApi, Properties: {ApiId: !Ref Api, Path: /a, Method: GET}}
`)
			_, err := tpl.RouteAuths(nil)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("RouteAuths error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestResolve(t *testing.T) {
	tpl := mustParse(t, `
Parameters:
  Env: {Type: String, Default: prod, AllowedValues: [prod, dev]}
  Names: {Type: CommaDelimitedList, Default: "x, y"}
  Count: {Type: Number, Default: 3}
  Required: {Type: String}
Conditions:
  IsProd: !Equals [!Ref Env, prod]
  IsDev: !Not [!Condition IsProd]
  Both: !And [!Condition IsProd, !Equals [!Ref Count, 3]]
  Either: !Or [!Condition IsDev, !Equals [!Ref Names, "x,y"]]
  Loop: !Not [!Condition Loop]
  NeedsRequired: !Equals [!Ref Required, a]
  Deployed: !Equals [!Ref AWS::Region, us-east-1]
Resources:
  Fn: {Type: AWS::Serverless::Function}
`)
	tests := []struct {
		name   string
		in     any
		params map[string]string
		want   any
	}{
		{"parameter default", samtemplate.Intrinsic{Fn: "Ref", Args: "Env"}, nil, "prod"},
		{"parameter given", samtemplate.Intrinsic{Fn: "Ref", Args: "Env"}, map[string]string{"Env": "dev"}, "dev"},
		{"number as text", samtemplate.Intrinsic{Fn: "Ref", Args: "Count"}, nil, "3"},
		{"list parameter", samtemplate.Intrinsic{Fn: "Ref", Args: "Names"}, nil, []any{"x", "y"}},
		{"resource ref kept", samtemplate.Intrinsic{Fn: "Ref", Args: "Fn"}, nil, samtemplate.Intrinsic{Fn: "Ref", Args: "Fn"}},
		{"if true", ifOf("IsProd", "p", "d"), nil, "p"},
		{"if false", ifOf("IsProd", "p", "d"), map[string]string{"Env": "dev"}, "d"},
		{"not", ifOf("IsDev", "p", "d"), nil, "d"},
		{"and", ifOf("Both", "yes", "no"), nil, "yes"},
		{"or of a list parameter", ifOf("Either", "yes", "no"), nil, "yes"},
		{"no value drops the key", map[string]any{"a": ifOf("IsDev", "x", samtemplate.Intrinsic{Fn: "Ref", Args: "AWS::NoValue"}), "b": 1}, nil, map[string]any{"b": 1}},
		{"no value drops the element", []any{"a", ifOf("IsDev", "x", samtemplate.Intrinsic{Fn: "Ref", Args: "AWS::NoValue"})}, nil, []any{"a"}},
		{"nested in other functions", samtemplate.Intrinsic{Fn: "Fn::Join", Args: []any{",", samtemplate.Intrinsic{Fn: "Ref", Args: "Names"}}}, nil,
			samtemplate.Intrinsic{Fn: "Fn::Join", Args: []any{",", []any{"x", "y"}}}},
	}
	for _, tt := range tests {
		got, err := tpl.Resolve(tt.in, tt.params)
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: Resolve = %#v, %v; want %#v", tt.name, got, err, tt.want)
		}
	}

	errs := []struct {
		name    string
		in      any
		params  map[string]string
		wantErr string
	}{
		{"not allowed", samtemplate.Intrinsic{Fn: "Ref", Args: "Env"}, map[string]string{"Env": "staging"}, "AllowedValues"},
		{"no value", samtemplate.Intrinsic{Fn: "Ref", Args: "Required"}, nil, "Required has no value"},
		{"cycle", ifOf("Loop", "a", "b"), nil, "refers to itself"},
		{"via missing parameter", ifOf("NeedsRequired", "a", "b"), nil, "Required has no value"},
		{"pseudo parameter", ifOf("Deployed", "a", "b"), nil, "cannot evaluate"},
		{"bad if", samtemplate.Intrinsic{Fn: "Fn::If", Args: []any{"IsProd", "a"}}, nil, "Fn::If needs"},
	}
	for _, tt := range errs {
		if _, err := tpl.Resolve(tt.in, tt.params); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("%s: Resolve error = %v, want one containing %q", tt.name, err, tt.wantErr)
		}
	}
}

func ifOf(cond string, then, els any) samtemplate.Intrinsic {
	return samtemplate.Intrinsic{Fn: "Fn::If", Args: []any{cond, then, els}}
}

// TestRouteAuthsMatchSAM checks RouteAuths against SAM itself: the SAM
// translator (shipped with cfn-lint) turns template.yaml, resolved for each
// AuthMode, into the API's OpenAPI body, and each route's security there
// must be the authorizer and scopes RouteAuths gives it. The local gateway
// enforces RouteAuths, so this is what keeps it and the deployed API alike.
func TestRouteAuthsMatchSAM(t *testing.T) {
	python, err := exec.LookPath("python3")
	if err != nil || exec.Command(python, "-c", "import samtranslator, cfnlint").Run() != nil {
		t.Skip("python3 with samtranslator and cfn-lint is not available (pip install cfn-lint)")
	}
	tpl := loadRepoTemplate(t)
	for mode, params := range map[string]map[string]string{
		"AWS_IAM": nil,
		"JWT":     {"AuthMode": "JWT", "JwtIssuer": "https://issuer.example.com", "JwtAudience": "passport-api"},
	} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			checkRouteAuthsMatchSAM(t, python, tpl, params)
		})
	}
}

// checkRouteAuthsMatchSAM compares RouteAuths(params) with what the SAM
// translator makes of the template under params.
func checkRouteAuthsMatchSAM(t *testing.T, python string, tpl *samtemplate.Template, params map[string]string) {
	arg, _ := json.Marshal(params)
	out, err := exec.Command(python, filepath.Join("testdata", "sam_route_security.py"),
		filepath.Join(repoRoot, "template.yaml"), string(arg)).Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("SAM translation (%v): %v\n%s", params, err, stderr)
	}
	var sam map[string]struct {
		Authorizer string   `json:"authorizer"`
		Scopes     []string `json:"scopes"`
	}
	if err := json.Unmarshal(out, &sam); err != nil {
		t.Fatalf("SAM translation output %q: %v", out, err)
	}
	got := mustRouteAuths(t, tpl, params)
	if len(sam) != len(got) {
		t.Errorf("%v: SAM has %d routes, RouteAuths %d", params, len(sam), len(got))
	}
	for key, ra := range got {
		s, ok := sam[key]
		if !ok {
			t.Errorf("%v: SAM has no route %q", params, key)
			continue
		}
		if s.Authorizer != ra.Authorizer || len(s.Scopes) != len(ra.Scopes) || len(ra.Scopes) > 0 && !reflect.DeepEqual(s.Scopes, ra.Scopes) {
			t.Errorf("%v: %s: SAM gives %s %v, RouteAuths %s %v", params, key, s.Authorizer, s.Scopes, ra.Authorizer, ra.Scopes)
		}
	}
}

package samtemplate_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/passport-oss/passport/internal/samtemplate"
)

func mustParse(t *testing.T, src string) *samtemplate.Template {
	t.Helper()
	tpl, err := samtemplate.Parse([]byte(src))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return tpl
}

func TestParseIntrinsics(t *testing.T) {
	tpl := mustParse(t, `
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Environment:
        Variables:
          SHORT_REF: !Ref Table
          LONG_REF: {Ref: Table}
          SHORT_ATT: !GetAtt Table.StreamArn
          LONG_ATT: {"Fn::GetAtt": [Table, Arn]}
          SUB: !Sub "${Table}-x"
          JOIN: !Join ["-", [a, !Ref Table]]
          LITERAL: plain
          NUMBER: 30
          FLAG: true
  Table:
    Type: AWS::DynamoDB::Table
`)
	fn, ok := tpl.Function("Fn")
	if !ok {
		t.Fatal("Function(Fn) not found")
	}
	wantIntrinsics := map[string]samtemplate.Intrinsic{
		"SHORT_REF": {Fn: "Ref", Args: "Table"},
		"LONG_REF":  {Fn: "Ref", Args: "Table"},
		"SHORT_ATT": {Fn: "Fn::GetAtt", Args: []any{"Table", "StreamArn"}},
		"LONG_ATT":  {Fn: "Fn::GetAtt", Args: []any{"Table", "Arn"}},
		"SUB":       {Fn: "Fn::Sub", Args: "${Table}-x"},
		"JOIN":      {Fn: "Fn::Join", Args: []any{"-", []any{"a", samtemplate.Intrinsic{Fn: "Ref", Args: "Table"}}}},
	}
	if got := fn.EnvIntrinsics; !reflect.DeepEqual(got, wantIntrinsics) {
		t.Errorf("EnvIntrinsics:\n got %#v\nwant %#v", got, wantIntrinsics)
	}
	wantEnv := map[string]string{"LITERAL": "plain", "NUMBER": "30", "FLAG": "true"}
	if got := fn.Env; !reflect.DeepEqual(got, wantEnv) {
		t.Errorf("Env: got %v, want %v", got, wantEnv)
	}

	ref, ok := fn.EnvIntrinsics["SHORT_REF"].Ref()
	if got, want := ref, "Table"; !ok || got != want {
		t.Errorf("Ref() = %q, %v; want %q, true", got, ok, want)
	}
	res, attr, ok := fn.EnvIntrinsics["SHORT_ATT"].GetAtt()
	if !ok || res != "Table" || attr != "StreamArn" {
		t.Errorf("GetAtt() = %q, %q, %v; want Table, StreamArn, true", res, attr, ok)
	}
	if got, want := fn.EnvIntrinsics["SHORT_ATT"].String(), "!GetAtt Table.StreamArn"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, src, wantErr string
	}{
		{"unknown tag", "Resources:\n  X:\n    Type: T\n    Properties: {A: !Bogus x}\n", "unknown YAML tag !Bogus"},
		{"no resources", "Parameters: {}\n", "no Resources"},
		{"resource without type", "Resources:\n  X:\n    Properties: {}\n", "X has no Type"},
		{"not yaml", "Resources: [unclosed\n", "samtemplate:"},
		{"duplicate key", "Resources:\n  X: {Type: T}\n  X: {Type: T}\n", "duplicate key"},
		{"path only", `
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        E: {Type: HttpApi, Properties: {Path: /a}}
`, "needs both Path and Method"},
		{"intrinsic path", `
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        E: {Type: HttpApi, Properties: {Path: !Ref P, Method: GET}}
`, "must be a literal string"},
		{"duplicate route", `
Resources:
  A:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        E: {Type: HttpApi, Properties: {Path: /a, Method: get}}
  B:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        E: {Type: HttpApi, Properties: {Path: /a, Method: GET}}
`, `route "GET /a" is served by both`},
		{"default route with a method", `
Resources:
  A:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        E: {Type: HttpApi, Properties: {Path: $default, Method: GET}}
`, "must use Method ANY"},
		{"bad timeout", `
Resources:
  A:
    Type: AWS::Serverless::Function
    Properties: {Timeout: !Ref T}
`, "Timeout must be a literal integer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := samtemplate.Parse([]byte(tt.src))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Parse error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestGlobalsMerge(t *testing.T) {
	tpl := mustParse(t, `
Globals:
  Function:
    Runtime: provided.al2023
    Handler: bootstrap
    Timeout: 10
    MemorySize: 256
    Architectures: [arm64]
    Layers: [arn:layer:global]
    Environment:
      Variables:
        TABLE_NAME: !Ref Table
        SHARED: global
Resources:
  Table:
    Type: AWS::DynamoDB::Table
  PlainFunction:
    Type: AWS::Serverless::Function
  TunedFunction:
    Type: AWS::Serverless::Function
    Metadata:
      BuildMethod: makefile
      SourceDir: cmd/tuned
    Properties:
      Timeout: 30
      Layers: [arn:layer:local]
      Environment:
        Variables:
          SHARED: local
          EXTRA: !Ref Param
`)
	plain, _ := tpl.Function("PlainFunction")
	tuned, _ := tpl.Function("TunedFunction")

	tests := []struct {
		name      string
		got, want any
	}{
		{"plain Timeout", plain.Timeout, 10},
		{"tuned Timeout overrides", tuned.Timeout, 30},
		{"tuned MemorySize inherited", tuned.MemorySize, 256},
		{"tuned Runtime", tuned.Runtime, "provided.al2023"},
		{"tuned Handler", tuned.Handler, "bootstrap"},
		{"tuned Architectures", tuned.Architectures, []string{"arm64"}},
		{"plain Env", plain.Env, map[string]string{"SHARED": "global"}},
		{"tuned Env merges, local wins", tuned.Env, map[string]string{"SHARED": "local"}},
		{"tuned EnvIntrinsics merge", tuned.EnvIntrinsics, map[string]samtemplate.Intrinsic{
			"TABLE_NAME": {Fn: "Ref", Args: "Table"},
			"EXTRA":      {Fn: "Ref", Args: "Param"},
		}},
		{"lists concatenate, global first", tpl.Resources["TunedFunction"].Properties["Layers"], []any{"arn:layer:global", "arn:layer:local"}},
		{"tuned BuildMethod", tuned.BuildMethod, "makefile"},
		{"tuned SourceDir from Metadata", tuned.SourceDir, "cmd/tuned"},
		{"plain SourceDir by convention", plain.SourceDir, "functions/plain"},
		{"table untouched by Function globals", tpl.Resources["Table"].Properties["Runtime"], nil},
	}
	for _, tt := range tests {
		if !reflect.DeepEqual(tt.got, tt.want) {
			t.Errorf("%s: got %#v, want %#v", tt.name, tt.got, tt.want)
		}
	}
}

func TestRoutesDefaultAndSorting(t *testing.T) {
	tpl := mustParse(t, `
Resources:
  Api:
    Type: AWS::Serverless::HttpApi
  Zed:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        Get: {Type: HttpApi, Properties: {ApiId: !Ref Api, Path: /z, Method: get}}
        Post: {Type: HttpApi, Properties: {ApiId: !Ref Api, Path: /a, Method: post}}
  Catch:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        Default: {Type: HttpApi, Properties: {ApiId: !Ref Api, Path: /$default, Method: x-amazon-apigateway-any-method}}
  Alpha:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        Get: {Type: HttpApi, Properties: {ApiId: !Ref Api, Path: /a, Method: GET}}
        Queue: {Type: SQS, Properties: {Queue: !GetAtt Q.Arn}}
`)
	want := []samtemplate.Route{
		{Method: "GET", Path: "/a", FunctionID: "Alpha"},
		{Method: "POST", Path: "/a", FunctionID: "Zed"},
		{Method: "GET", Path: "/z", FunctionID: "Zed"},
		{Method: "ANY", Path: "$default", FunctionID: "Catch"},
	}
	if got := tpl.Routes(); !reflect.DeepEqual(got, want) {
		t.Errorf("Routes:\n got %v\nwant %v", got, want)
	}
	if got, want := tpl.FunctionIDs(), []string{"Alpha", "Catch", "Zed"}; !reflect.DeepEqual(got, want) {
		t.Errorf("FunctionIDs = %v, want %v", got, want)
	}

	// An HttpApi event with neither Path nor Method is SAM's $default route.
	implicit := mustParse(t, `
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        All: {Type: HttpApi}
`)
	if got, want := implicit.Routes(), []samtemplate.Route{{Method: "ANY", Path: "$default", FunctionID: "Fn"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("implicit Routes = %v, want %v", got, want)
	}
}

func TestRouteKey(t *testing.T) {
	tests := []struct {
		route samtemplate.Route
		want  string
	}{
		{samtemplate.Route{Method: "GET", Path: "/api/v1/passport/providers"}, "GET /api/v1/passport/providers"},
		{samtemplate.Route{Method: "ANY", Path: "/x/{proxy+}"}, "ANY /x/{proxy+}"},
		{samtemplate.Route{Method: "ANY", Path: "$default"}, "$default"},
	}
	for _, tt := range tests {
		if got := tt.route.RouteKey(); got != tt.want {
			t.Errorf("%+v.RouteKey() = %q, want %q", tt.route, got, tt.want)
		}
	}
}

func TestConventionalSourceDir(t *testing.T) {
	tests := map[string]string{
		"ListProvidersFunction":       "functions/list-providers",
		"AuditStreamFunction":         "functions/audit-stream",
		"FallbackFunction":            "functions/fallback",
		"HTTPProxyFunction":           "functions/http-proxy",
		"OAuth2CallbackFunction":      "functions/o-auth2-callback",
		"Function":                    "functions/function",
		"CreateAuthorizationFunction": "functions/create-authorization",
	}
	for id, want := range tests {
		if got := samtemplate.ConventionalSourceDir(id); got != want {
			t.Errorf("ConventionalSourceDir(%q) = %q, want %q", id, got, want)
		}
	}
}

func TestResolveEnv(t *testing.T) {
	tpl := mustParse(t, `
Parameters:
  Days: {Type: Number, Default: 30}
  Level: {Type: String}
Globals:
  Function:
    Environment:
      Variables:
        TABLE_NAME: !Ref Table
        DAYS: !Ref Days
        MODE: local
Resources:
  Table: {Type: AWS::DynamoDB::Table}
  Fn: {Type: AWS::Serverless::Function}
  NeedsLevel:
    Type: AWS::Serverless::Function
    Properties:
      Environment: {Variables: {LEVEL: !Ref Level}}
  NeedsSub:
    Type: AWS::Serverless::Function
    Properties:
      Environment: {Variables: {URL: !Sub "https://${Table}"}}
`)
	got, err := tpl.ResolveEnv("Fn", map[string]string{"Table": "passport-local"}, nil)
	if err != nil {
		t.Fatalf("ResolveEnv: %v", err)
	}
	want := map[string]string{"TABLE_NAME": "passport-local", "DAYS": "30", "MODE": "local"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ResolveEnv = %v, want %v", got, want)
	}

	got, err = tpl.ResolveEnv("Fn", map[string]string{"Table": "t"}, map[string]string{"Days": "7"})
	if err != nil || got["DAYS"] != "7" {
		t.Errorf("ResolveEnv with override: DAYS = %q, err %v; want 7, nil", got["DAYS"], err)
	}

	for _, tt := range []struct{ fn, wantErr string }{
		{"NeedsLevel", "parameter Level has no value"},
		{"NeedsSub", "cannot resolve !Sub"},
		{"Missing", "no AWS::Serverless::Function"},
	} {
		_, err := tpl.ResolveEnv(tt.fn, map[string]string{"Table": "t"}, nil)
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("ResolveEnv(%s) error = %v, want one containing %q", tt.fn, err, tt.wantErr)
		}
	}
	if _, err := tpl.ResolveEnv("Fn", nil, nil); err == nil || !strings.Contains(err.Error(), "no value for !Ref Table") {
		t.Errorf("ResolveEnv without table name: error = %v", err)
	}
}

func TestStreamMappingDefaults(t *testing.T) {
	tpl := mustParse(t, `
Resources:
  Table: {Type: AWS::DynamoDB::Table}
  Consumer:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        S:
          Type: DynamoDB
          Properties:
            Stream: {"Fn::GetAtt": [Table, StreamArn]}
            StartingPosition: LATEST
  Api:
    Type: AWS::Serverless::Function
  BadPattern:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        S:
          Type: DynamoDB
          Properties:
            Stream: !GetAtt Table.StreamArn
            StartingPosition: LATEST
            FilterCriteria: {Filters: [{Pattern: '{"dynamodb": '}]}
`)
	got, err := tpl.StreamMapping("Consumer")
	if err != nil {
		t.Fatalf("StreamMapping: %v", err)
	}
	want := samtemplate.StreamMapping{
		Table:                "Table",
		StartingPosition:     "LATEST",
		BatchSize:            100,
		MaximumRetryAttempts: -1,
		MaximumRecordAge:     -1,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("StreamMapping:\n got %+v\nwant %+v", got, want)
	}
	if _, err := tpl.StreamMapping("Api"); err == nil || !strings.Contains(err.Error(), "no DynamoDB event") {
		t.Errorf("StreamMapping(Api) error = %v", err)
	}
	if _, err := tpl.StreamMapping("BadPattern"); err == nil || !strings.Contains(err.Error(), "not valid JSON") {
		t.Errorf("StreamMapping(BadPattern) error = %v", err)
	}
}

func TestTableDefinitionNeedsOneTable(t *testing.T) {
	tpl := mustParse(t, "Resources:\n  A: {Type: AWS::DynamoDB::Table}\n  B: {Type: AWS::DynamoDB::Table}\n")
	if _, _, err := tpl.TableDefinition("x"); err == nil || !strings.Contains(err.Error(), "found 2") {
		t.Errorf("TableDefinition error = %v, want one about 2 tables", err)
	}
}

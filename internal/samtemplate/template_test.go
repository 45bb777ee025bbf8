package samtemplate_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/passport-oss/passport/internal/samtemplate"
)

// repoRoot is where template.yaml, events/ and functions/ live.
const repoRoot = "../.."

func loadRepoTemplate(t *testing.T) *samtemplate.Template {
	t.Helper()
	tpl, err := samtemplate.Load(filepath.Join(repoRoot, "template.yaml"))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return tpl
}

func TestTemplateRoutes(t *testing.T) {
	tpl := loadRepoTemplate(t)
	want := []samtemplate.Route{
		{Method: "GET", Path: "/api/v1/passport/audit", FunctionID: "ListAuditFunction"},
		{Method: "POST", Path: "/api/v1/passport/authorizations", FunctionID: "CreateAuthorizationFunction"},
		{Method: "GET", Path: "/api/v1/passport/providers", FunctionID: "ListProvidersFunction"},
		{Method: "POST", Path: "/api/v1/passport/providers", FunctionID: "RegisterProviderFunction"},
		{Method: "ANY", Path: "$default", FunctionID: "FallbackFunction"},
	}
	if got := tpl.Routes(); !reflect.DeepEqual(got, want) {
		t.Errorf("Routes:\n got %v\nwant %v", got, want)
	}
}

func TestTemplateFunctions(t *testing.T) {
	tpl := loadRepoTemplate(t)
	wantDirs := map[string]string{
		"AuditStreamFunction":         "functions/audit-stream",
		"CreateAuthorizationFunction": "functions/create-authorization",
		"FallbackFunction":            "functions/fallback",
		"ListAuditFunction":           "functions/list-audit",
		"ListProvidersFunction":       "functions/list-providers",
		"RegisterProviderFunction":    "functions/register-provider",
	}
	var wantIDs []string
	for id := range wantDirs {
		wantIDs = append(wantIDs, id)
	}
	sort.Strings(wantIDs)
	if got := tpl.FunctionIDs(); !reflect.DeepEqual(got, wantIDs) {
		t.Fatalf("FunctionIDs = %v, want %v", got, wantIDs)
	}

	for _, id := range wantIDs {
		t.Run(id, func(t *testing.T) {
			f, ok := tpl.Function(id)
			if !ok {
				t.Fatalf("Function(%s) not found", id)
			}
			checks := []struct {
				name      string
				got, want any
			}{
				{"SourceDir", f.SourceDir, wantDirs[id]},
				{"SourceDir follows the naming convention", f.SourceDir, samtemplate.ConventionalSourceDir(id)},
				{"BuildMethod", f.BuildMethod, "makefile"},
				{"Runtime", f.Runtime, "provided.al2023"},
				{"Handler", f.Handler, "bootstrap"},
				{"CodeURI", f.CodeURI, "."},
				{"Architectures", f.Architectures, []string{"arm64"}},
				{"Timeout", f.Timeout, 10},
				{"MemorySize", f.MemorySize, 256},
				{"Env (literals)", f.Env, map[string]string{}},
			}
			wantIntrinsics := map[string]samtemplate.Intrinsic{
				"TABLE_NAME":                   {Fn: "Ref", Args: "PassportTable"},
				"AUTHORIZATION_RETENTION_DAYS": {Fn: "Ref", Args: "AuthorizationRetentionDays"},
			}
			switch id {
			case "AuditStreamFunction":
				wantIntrinsics["AUDIT_RETENTION_DAYS"] = samtemplate.Intrinsic{Fn: "Ref", Args: "AuditRetentionDays"}
			case "CreateAuthorizationFunction":
				wantIntrinsics["KMS_KEY_ID"] = samtemplate.Intrinsic{Fn: "Ref", Args: "TokenKey"}
			}
			checks = append(checks, struct {
				name      string
				got, want any
			}{"EnvIntrinsics", f.EnvIntrinsics, wantIntrinsics})
			for _, c := range checks {
				if !reflect.DeepEqual(c.got, c.want) {
					t.Errorf("%s: got %#v, want %#v", c.name, c.got, c.want)
				}
			}

			// The lead writes functions/*/main.go; a missing one is a real failure.
			main := filepath.Join(repoRoot, filepath.FromSlash(f.SourceDir), "main.go")
			if _, err := os.Stat(main); err != nil {
				t.Errorf("SourceDir %s has no main.go: %v", f.SourceDir, err)
			}
		})
	}

	if _, ok := tpl.Function("PassportTable"); ok {
		t.Errorf("Function(PassportTable) = ok, want not found (it is a table)")
	}
}

func TestTemplateResolveEnv(t *testing.T) {
	tpl := loadRepoTemplate(t)
	got, err := tpl.ResolveEnv("AuditStreamFunction", map[string]string{"PassportTable": "passport-local"}, nil)
	if err != nil {
		t.Fatalf("ResolveEnv: %v", err)
	}
	want := map[string]string{
		"TABLE_NAME":                   "passport-local",
		"AUTHORIZATION_RETENTION_DAYS": "30",
		"AUDIT_RETENTION_DAYS":         "400",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ResolveEnv = %v, want %v", got, want)
	}
	if got, ok := tpl.ParameterDefault("LogLevel"); !ok || got != "INFO" {
		t.Errorf("ParameterDefault(LogLevel) = %q, %v; want INFO, true", got, ok)
	}
}

// statementActions collects the IAM actions of a function's Policies, keyed
// by action, from explicit Statement policies only.
func statementActions(t *testing.T, policies any) []string {
	t.Helper()
	var actions []string
	list, _ := policies.([]any)
	for _, p := range list {
		doc, ok := p.(map[string]any)
		if !ok {
			t.Errorf("policy %v is not an explicit policy document (SAM policy templates and managed policies are not allowed)", p)
			continue
		}
		stmts, _ := doc["Statement"].([]any)
		for _, s := range stmts {
			sm, _ := s.(map[string]any)
			if sm["Effect"] != "Allow" {
				t.Errorf("statement %v: Effect must be Allow", sm)
			}
			switch a := sm["Action"].(type) {
			case string:
				actions = append(actions, a)
			case []any:
				for _, x := range a {
					s, _ := x.(string)
					actions = append(actions, s)
				}
			}
			if r, ok := sm["Resource"].(string); ok && r == "*" {
				t.Errorf("statement %v: Resource * is not least privilege", sm)
			}
		}
	}
	sort.Strings(actions)
	return actions
}

func TestTemplateLeastPrivilege(t *testing.T) {
	tpl := loadRepoTemplate(t)
	want := map[string][]string{
		"ListProvidersFunction":       {"dynamodb:Query"},
		"ListAuditFunction":           {"dynamodb:Query"},
		"RegisterProviderFunction":    {"dynamodb:ConditionCheckItem", "dynamodb:PutItem"},
		"CreateAuthorizationFunction": {"dynamodb:ConditionCheckItem", "dynamodb:PutItem", "kms:GenerateDataKey"},
		"AuditStreamFunction": {
			"dynamodb:BatchWriteItem", "dynamodb:DescribeStream", "dynamodb:GetRecords",
			"dynamodb:GetShardIterator", "dynamodb:ListStreams", "dynamodb:PutItem", "sqs:SendMessage",
		},
		"FallbackFunction": nil,
	}
	for _, id := range tpl.FunctionIDs() {
		f, _ := tpl.Function(id)
		if got := statementActions(t, f.Policies); !reflect.DeepEqual(got, want[id]) {
			t.Errorf("%s actions = %v, want %v", id, got, want[id])
		}
	}
}

// gsi is the expected definition of index name: <name>PK and <name>SK, all
// attributes projected.
func gsi(name string) types.GlobalSecondaryIndex {
	key := func(name string, kt types.KeyType) types.KeySchemaElement {
		return types.KeySchemaElement{AttributeName: aws.String(name), KeyType: kt}
	}
	return types.GlobalSecondaryIndex{
		IndexName:  aws.String(name),
		KeySchema:  []types.KeySchemaElement{key(name+"PK", types.KeyTypeHash), key(name+"SK", types.KeyTypeRange)},
		Projection: &types.Projection{ProjectionType: types.ProjectionTypeAll},
	}
}

func TestTemplateTableDefinition(t *testing.T) {
	tpl := loadRepoTemplate(t)
	create, ttl, err := tpl.TableDefinition("passport-test")
	if err != nil {
		t.Fatalf("TableDefinition: %v", err)
	}
	key := func(name string, kt types.KeyType) types.KeySchemaElement {
		return types.KeySchemaElement{AttributeName: aws.String(name), KeyType: kt}
	}
	attr := func(name string) types.AttributeDefinition {
		return types.AttributeDefinition{AttributeName: aws.String(name), AttributeType: types.ScalarAttributeTypeS}
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"TableName", aws.ToString(create.TableName), "passport-test"},
		{"BillingMode", create.BillingMode, types.BillingModePayPerRequest},
		{"AttributeDefinitions", create.AttributeDefinitions, []types.AttributeDefinition{
			attr("PK"), attr("SK"), attr("GSI1PK"), attr("GSI1SK"),
		}},
		{"KeySchema", create.KeySchema, []types.KeySchemaElement{key("PK", types.KeyTypeHash), key("SK", types.KeyTypeRange)}},
		{"GlobalSecondaryIndexes", create.GlobalSecondaryIndexes, []types.GlobalSecondaryIndex{
			gsi("GSI1"),
		}},
		{"LocalSecondaryIndexes", create.LocalSecondaryIndexes, []types.LocalSecondaryIndex(nil)},
		{"StreamSpecification", create.StreamSpecification, &types.StreamSpecification{
			StreamEnabled: aws.Bool(true), StreamViewType: types.StreamViewTypeNewAndOldImages,
		}},
		{"TTL table", aws.ToString(ttl.TableName), "passport-test"},
		{"TTL spec", ttl.TimeToLiveSpecification, &types.TimeToLiveSpecification{
			AttributeName: aws.String("purgeAt"), Enabled: aws.Bool(true),
		}},
		{"DeletionPolicy", tpl.Resources["PassportTable"].DeletionPolicy, "Retain"},
		{"UpdateReplacePolicy", tpl.Resources["PassportTable"].UpdateReplacePolicy, "Retain"},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s: got %#v, want %#v", c.name, c.got, c.want)
		}
	}
}

func TestTemplateStreamMapping(t *testing.T) {
	tpl := loadRepoTemplate(t)
	got, err := tpl.StreamMapping("AuditStreamFunction")
	if err != nil {
		t.Fatalf("StreamMapping: %v", err)
	}
	want := samtemplate.StreamMapping{
		Table:                   "PassportTable",
		StartingPosition:        "TRIM_HORIZON",
		BatchSize:               100,
		MaximumBatchingWindow:   time.Second,
		MaximumRetryAttempts:    5,
		MaximumRecordAge:        time.Hour,
		BisectOnError:           true,
		ReportBatchItemFailures: true,
		OnFailureDestination:    "AuditFailureQueue",
		FilterPatterns: []string{
			`{"dynamodb":{"Keys":{"PK":{"S":[{"prefix":"PROVIDER#"}]}}}}`,
			`{"dynamodb":{"Keys":{"PK":{"S":[{"prefix":"AUTHZ#"}]}}}}`,
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("StreamMapping:\n got %+v\nwant %+v", got, want)
	}
	for i, p := range got.FilterPatterns {
		var v map[string]any
		if err := json.Unmarshal([]byte(p), &v); err != nil {
			t.Errorf("FilterPatterns[%d] is not a JSON object: %v", i, err)
		}
	}
	if r := tpl.Resources[got.OnFailureDestination]; r.Type != "AWS::SQS::Queue" {
		t.Errorf("OnFailure destination %s has type %q, want AWS::SQS::Queue", got.OnFailureDestination, r.Type)
	}
	if _, err := tpl.StreamMapping("ListProvidersFunction"); err == nil {
		t.Errorf("StreamMapping(ListProvidersFunction) = nil error, want one (it has no DynamoDB event)")
	}
}

package samtemplate_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
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
		{Method: "GET", Path: "/api/v1/passport/authorizations", FunctionID: "ListAuthorizationsFunction"},
		{Method: "POST", Path: "/api/v1/passport/authorizations", FunctionID: "CreateAuthorizationFunction"},
		{Method: "DELETE", Path: "/api/v1/passport/authorizations/{id}", FunctionID: "RevokeAuthorizationFunction"},
		{Method: "GET", Path: "/api/v1/passport/authorizations/{id}", FunctionID: "GetAuthorizationFunction"},
		{Method: "GET", Path: "/api/v1/passport/authorizations/{id}/token", FunctionID: "ReadTokenFunction"},
		{Method: "GET", Path: "/api/v1/passport/providers", FunctionID: "ListProvidersFunction"},
		{Method: "POST", Path: "/api/v1/passport/providers", FunctionID: "RegisterProviderFunction"},
		{Method: "DELETE", Path: "/api/v1/passport/providers/{id}", FunctionID: "DeleteProviderFunction"},
		{Method: "GET", Path: "/api/v1/passport/providers/{id}", FunctionID: "GetProviderFunction"},
		{Method: "PATCH", Path: "/api/v1/passport/providers/{id}", FunctionID: "UpdateProviderFunction"},
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
		"ReadTokenFunction":           "functions/read-token",
		"RegisterProviderFunction":    "functions/register-provider",
		"GetProviderFunction":         "functions/get-provider",
		"UpdateProviderFunction":      "functions/update-provider",
		"DeleteProviderFunction":      "functions/delete-provider",
		"ListAuthorizationsFunction":  "functions/list-authorizations",
		"GetAuthorizationFunction":    "functions/get-authorization",
		"RevokeAuthorizationFunction": "functions/revoke-authorization",
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
			case "CreateAuthorizationFunction", "ReadTokenFunction":
				wantIntrinsics["KMS_KEY_ID"] = samtemplate.Intrinsic{Fn: "Ref", Args: "TokenKey"}
			case "ListProvidersFunction", "ListAuthorizationsFunction", "ListAuditFunction":
				wantIntrinsics["CURSOR_SIGNING_KEY"] = cursorKeyRef
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

// cursorKeyRef is the list functions' CURSOR_SIGNING_KEY: the stack's
// generated secret, resolved by CloudFormation at deploy time.
var cursorKeyRef = samtemplate.Intrinsic{Fn: "Fn::Sub", Args: "{{resolve:secretsmanager:${CursorKeySecret}:SecretString}}"}

// TestTemplateCursorKey holds the list cursors' signing key to a random
// secret generated at deploy time: every function that serves a list (its
// answer carries nextCursor) reads CURSOR_SIGNING_KEY from CursorKeySecret
// and no other function does; the secret's value is generated, never
// written; no key is in template.yaml or samconfig.toml; and locally the list
// functions of one stack resolve to one key.
func TestTemplateCursorKey(t *testing.T) {
	tpl := loadRepoTemplate(t)
	listFunctions := []string{"ListAuditFunction", "ListAuthorizationsFunction", "ListProvidersFunction"}
	var readers []string
	for _, id := range tpl.FunctionIDs() {
		f, _ := tpl.Function(id)
		if _, ok := f.Env["CURSOR_SIGNING_KEY"]; ok {
			t.Errorf("%s: CURSOR_SIGNING_KEY is written in the template", id)
		}
		if in, ok := f.EnvIntrinsics["CURSOR_SIGNING_KEY"]; ok {
			readers = append(readers, id)
			if !reflect.DeepEqual(in, cursorKeyRef) {
				t.Errorf("%s: CURSOR_SIGNING_KEY = %v, want %v", id, in, cursorKeyRef)
			}
		}
	}
	if !reflect.DeepEqual(readers, listFunctions) {
		t.Errorf("functions with CURSOR_SIGNING_KEY: %v, want the list functions %v", readers, listFunctions)
	}

	secret := tpl.Resources["CursorKeySecret"]
	gen, _ := secret.Properties["GenerateSecretString"].(map[string]any)
	checks := []struct {
		name      string
		got, want any
	}{
		{"Type", secret.Type, "AWS::SecretsManager::Secret"},
		{"PasswordLength", gen["PasswordLength"], 48},
		{"ExcludePunctuation", gen["ExcludePunctuation"], true},
		// The value is the whole SecretString, generated: no JSON around it
		// and nothing written.
		{"SecretStringTemplate", gen["SecretStringTemplate"], nil},
		{"SecretString", secret.Properties["SecretString"], nil},
		// A new key only invalidates outstanding cursors.
		{"DeletionPolicy", secret.DeletionPolicy, "Delete"},
		{"UpdateReplacePolicy", secret.UpdateReplacePolicy, "Delete"},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("CursorKeySecret %s: got %#v, want %#v", c.name, c.got, c.want)
		}
	}
	for name := range tpl.Parameters {
		if strings.Contains(strings.ToLower(name), "cursor") {
			t.Errorf("parameter %s: the cursor key is generated, never a parameter (samconfig.toml would hold it)", name)
		}
	}
	for _, file := range []string{"template.yaml", "samconfig.toml"} {
		data, err := os.ReadFile(filepath.Join(repoRoot, file))
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(data), "\n") {
			if strings.Contains(strings.ToUpper(line), "CURSOR_SIGNING_KEY:") && !strings.Contains(line, cursorKeyRef.Args.(string)) {
				t.Errorf("%s:%d sets CURSOR_SIGNING_KEY other than from CursorKeySecret: %s", file, i+1, line)
			}
			if file == "samconfig.toml" && strings.Contains(strings.ToUpper(line), "CURSOR") {
				t.Errorf("samconfig.toml:%d names the cursor key: %s", i+1, line)
			}
		}
	}

	// Locally (make run, the tests) one stack's list functions share one key.
	keys := map[string]bool{}
	for _, id := range listFunctions {
		env, err := tpl.ResolveEnv(id, map[string]string{"PassportTable": "passport-local"}, nil)
		if err != nil {
			t.Fatalf("ResolveEnv(%s): %v", id, err)
		}
		keys[env["CURSOR_SIGNING_KEY"]] = true
	}
	if len(keys) != 1 {
		t.Errorf("the list functions resolve %d cursor keys, want one", len(keys))
	}
	for k := range keys {
		if len(k) != 48 {
			t.Errorf("local cursor key has %d characters, want 48", len(k))
		}
	}
}

// grants renders what a function may do, one line per action and resource:
// "dynamodb:Query ${PassportTable.Arn}/index/GSI1", with the statement's
// Condition appended as JSON when it has one. The function's Policies count,
// or its explicit Role's inline policies (a Role with managed policies is an
// error: their grants are not in the template).
func grants(t *testing.T, tpl *samtemplate.Template, id string) []string {
	t.Helper()
	fn := tpl.Resources[id].Properties
	policies, _ := fn["Policies"].([]any)
	if role, ok := fn["Role"]; ok {
		in, _ := role.(samtemplate.Intrinsic)
		res, attr, ok := in.GetAtt()
		r := tpl.Resources[res]
		if !ok || attr != "Arn" || r.Type != "AWS::IAM::Role" {
			t.Fatalf("%s: Role %v is not !GetAtt <AWS::IAM::Role>.Arn", id, role)
		}
		if len(policies) > 0 {
			t.Errorf("%s: Policies beside an explicit Role are ignored by SAM", id)
		}
		if _, ok := r.Properties["ManagedPolicyArns"]; ok {
			t.Errorf("%s: role %s has ManagedPolicyArns; keep every grant in the template", id, res)
		}
		policies = nil
		inline, _ := r.Properties["Policies"].([]any)
		for _, p := range inline {
			pm, _ := p.(map[string]any)
			policies = append(policies, pm["PolicyDocument"])
		}
	}
	var lines []string
	for _, p := range policies {
		doc, ok := p.(map[string]any)
		if !ok {
			t.Errorf("%s: policy %v is not an explicit policy document (SAM policy templates and managed policies are not allowed)", id, p)
			continue
		}
		stmts, _ := doc["Statement"].([]any)
		for _, s := range stmts {
			sm, _ := s.(map[string]any)
			if sm["Effect"] != "Allow" {
				t.Errorf("%s: statement %v: Effect must be Allow", id, sm)
			}
			cond := ""
			if c, ok := sm["Condition"]; ok {
				b, _ := json.Marshal(c)
				cond = " if " + string(b)
			}
			for _, a := range listOf(sm["Action"]) {
				for _, r := range listOf(sm["Resource"]) {
					lines = append(lines, fmt.Sprint(a)+" "+resourceText(r)+cond)
				}
			}
		}
	}
	sort.Strings(lines)
	return lines
}

func listOf(v any) []any {
	if l, ok := v.([]any); ok {
		return l
	}
	return []any{v}
}

// resourceText renders a Resource: "PassportTable.Arn" for !GetAtt, the
// template of a !Sub, a literal as it is.
func resourceText(r any) string {
	in, ok := r.(samtemplate.Intrinsic)
	if !ok {
		return fmt.Sprint(r)
	}
	if res, attr, ok := in.GetAtt(); ok {
		return res + "." + attr
	}
	if s, ok := in.Args.(string); ok && in.Fn == "Fn::Sub" {
		return s
	}
	return in.String()
}

// TestTemplateLeastPrivilege holds every function to exactly the grants its
// endpoint needs: listing functions Query and nothing else (providers on
// GSI1, the audit trail on its AUDIT# partitions);
// writers put and check items; only CreateAuthorization may make data keys,
// bound to an authorization's identity; the audit function reads the
// table's stream and writes audit items (keys AUDIT#...) only. A new
// permission means a new line here, on purpose.
func TestTemplateLeastPrivilege(t *testing.T) {
	tpl := loadRepoTemplate(t)
	const dataKeyContext = `{"ForAllValues:StringEquals":{"kms:EncryptionContextKeys":["authorizationId","providerId","userId"]},"Null":{"kms:EncryptionContext:authorizationId":"false"}}`
	want := map[string][]string{
		"ListProvidersFunction": {
			"dynamodb:Query ${PassportTable.Arn}/index/GSI1",
		},
		"ListAuditFunction": {
			`dynamodb:Query PassportTable.Arn if {"ForAllValues:StringLike":{"dynamodb:LeadingKeys":["AUDIT#*"]}}`,
		},
		"RegisterProviderFunction": {
			`dynamodb:PutItem PassportTable.Arn if {"ForAllValues:StringLike":{"dynamodb:LeadingKeys":["PROVIDER#*","UNIQUE#*","IDEMPOTENCY#*"]}}`,
		},
		"CreateAuthorizationFunction": {
			`dynamodb:ConditionCheckItem PassportTable.Arn if {"ForAllValues:StringLike":{"dynamodb:LeadingKeys":["PROVIDER#*"]}}`,
			`dynamodb:GetItem PassportTable.Arn if {"ForAllValues:StringLike":{"dynamodb:LeadingKeys":["AUTHZ#*","GRANT#*","IDEMPOTENCY#*"]}}`,
			`dynamodb:PutItem PassportTable.Arn if {"ForAllValues:StringLike":{"dynamodb:LeadingKeys":["AUTHZ#*","GRANT#*","IDEMPOTENCY#*"]}}`,
			"kms:GenerateDataKey TokenKey.Arn if " + dataKeyContext,
		},
		"GetProviderFunction": {
			`dynamodb:GetItem PassportTable.Arn if {"ForAllValues:StringLike":{"dynamodb:LeadingKeys":["PROVIDER#*"]}}`,
		},
		"UpdateProviderFunction": {
			`dynamodb:DeleteItem PassportTable.Arn if {"ForAllValues:StringLike":{"dynamodb:LeadingKeys":["PROVIDER#*","UNIQUE#*"]}}`,
			`dynamodb:GetItem PassportTable.Arn if {"ForAllValues:StringLike":{"dynamodb:LeadingKeys":["PROVIDER#*","UNIQUE#*"]}}`,
			`dynamodb:PutItem PassportTable.Arn if {"ForAllValues:StringLike":{"dynamodb:LeadingKeys":["PROVIDER#*","UNIQUE#*"]}}`,
		},
		"DeleteProviderFunction": {
			`dynamodb:DeleteItem PassportTable.Arn if {"ForAllValues:StringLike":{"dynamodb:LeadingKeys":["PROVIDER#*","UNIQUE#*","AUTHZ#*","GRANT#*"]}}`,
			`dynamodb:GetItem PassportTable.Arn if {"ForAllValues:StringLike":{"dynamodb:LeadingKeys":["PROVIDER#*","UNIQUE#*","AUTHZ#*","GRANT#*"]}}`,
			`dynamodb:PutItem PassportTable.Arn if {"ForAllValues:StringLike":{"dynamodb:LeadingKeys":["PROVIDER#*","UNIQUE#*","AUTHZ#*","GRANT#*"]}}`,
			`dynamodb:Query ${PassportTable.Arn}/index/GSI1`,
			`dynamodb:UpdateItem PassportTable.Arn if {"ForAllValues:StringLike":{"dynamodb:LeadingKeys":["PROVIDER#*","UNIQUE#*","AUTHZ#*","GRANT#*"]}}`,
		},
		"ListAuthorizationsFunction": {
			`dynamodb:Query ${PassportTable.Arn}/index/GSI1`,
		},
		"GetAuthorizationFunction": {
			`dynamodb:GetItem PassportTable.Arn if {"ForAllValues:StringLike":{"dynamodb:LeadingKeys":["AUTHZ#*"]}}`,
		},
		"RevokeAuthorizationFunction": {
			`dynamodb:GetItem PassportTable.Arn if {"ForAllValues:StringLike":{"dynamodb:LeadingKeys":["AUTHZ#*","GRANT#*"]}}`,
			`dynamodb:PutItem PassportTable.Arn if {"ForAllValues:StringLike":{"dynamodb:LeadingKeys":["AUTHZ#*","GRANT#*"]}}`,
		},
		"ReadTokenFunction": {
			`dynamodb:GetItem PassportTable.Arn if {"ForAllValues:StringLike":{"dynamodb:LeadingKeys":["AUTHZ#*"]}}`,
			`dynamodb:PutItem PassportTable.Arn if {"ForAllValues:StringLike":{"dynamodb:LeadingKeys":["TOKENREAD#*"]}}`,
			"kms:Decrypt TokenKey.Arn if " + dataKeyContext,
		},
		"AuditStreamFunction": {
			`dynamodb:BatchWriteItem PassportTable.Arn if {"ForAllValues:StringLike":{"dynamodb:LeadingKeys":["AUDIT#*"]}}`,
			"dynamodb:DescribeStream PassportTable.StreamArn",
			"dynamodb:GetRecords PassportTable.StreamArn",
			"dynamodb:GetShardIterator PassportTable.StreamArn",
			"dynamodb:ListStreams PassportTable.StreamArn",
			"logs:CreateLogStream ${AuditStreamLogGroup.Arn}:*",
			"logs:PutLogEvents ${AuditStreamLogGroup.Arn}:*",
			"sqs:SendMessage AuditFailureQueue.Arn",
		},
		"FallbackFunction": nil,
	}
	for _, id := range tpl.FunctionIDs() {
		got := grants(t, tpl, id)
		if _, known := want[id]; !known {
			t.Errorf("%s is not in the least-privilege table; add what its endpoint needs: %q", id, got)
			continue
		}
		if !reflect.DeepEqual(got, want[id]) {
			t.Errorf("%s grants:\n got %q\nwant %q", id, got, want[id])
		}
	}
}

// TestTemplateKeyUse checks the rules for the token key whatever the table
// above says: no grant on "*", only one function makes data keys and it
// never decrypts, at most one decrypts and it never makes data keys, and
// every KMS grant is bound to an authorization's encryption context.
func TestTemplateKeyUse(t *testing.T) {
	tpl := loadRepoTemplate(t)
	holders := map[string][]string{}
	for _, id := range tpl.FunctionIDs() {
		for _, g := range grants(t, tpl, id) {
			action, rest, _ := strings.Cut(g, " ")
			if resource, _, _ := strings.Cut(rest, " "); resource == "*" {
				t.Errorf("%s: %q: Resource * is not least privilege", id, g)
			}
			if !strings.HasPrefix(action, "kms:") {
				continue
			}
			holders[action] = append(holders[action], id)
			if !strings.Contains(g, `"kms:EncryptionContext:authorizationId":"false"`) {
				t.Errorf("%s: %q is not bound to an authorization's encryption context", id, g)
			}
		}
	}
	if got := holders["kms:GenerateDataKey"]; !reflect.DeepEqual(got, []string{"CreateAuthorizationFunction"}) {
		t.Errorf("kms:GenerateDataKey held by %v, want CreateAuthorizationFunction only", got)
	}
	if got := holders["kms:Decrypt"]; len(got) > 1 || len(got) == 1 && got[0] == "CreateAuthorizationFunction" {
		t.Errorf("kms:Decrypt held by %v, want at most the token read function", got)
	}
	for action := range holders {
		if action != "kms:GenerateDataKey" && action != "kms:Decrypt" {
			t.Errorf("%s held by %v: functions need only GenerateDataKey and Decrypt", action, holders[action])
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
			`{"dynamodb":{"Keys":{"PK":{"S":[{"prefix":"TOKENREAD#"}]}}}}`,
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

package lambdarie_test

import (
	"encoding/json"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/passport-oss/passport/internal/lambdarie"
	"github.com/passport-oss/passport/internal/samtemplate"
	"github.com/passport-oss/passport/internal/testenv"
)

// Every function of template.yaml, built as `sam build` builds it, runs
// under the emulator with the environment the template gives it, and
// answers each file of events/ meant for it: in order, so that the
// authorization names the provider registered before it and the audit trail
// lists what the stream function wrote.
func TestFunctionsAnswerTheirEvents(t *testing.T) {
	f := mustFunctions(t)
	db := testenv.DynamoDB(t)
	table := testenv.NewTable(t, db)

	type step struct {
		file      string
		status    int                     // 0: any status below 500
		errCode   string                  // "" for a success envelope
		edit      func(ev map[string]any) // before the invocation
		checkData func(t *testing.T, data json.RawMessage)
	}
	var providerID, authorizationID string
	steps := []step{
		{file: "register-provider.json", status: 201, checkData: func(t *testing.T, data json.RawMessage) {
			var p struct{ ID, Name string }
			_ = json.Unmarshal(data, &p)
			if p.Name != "github" || p.ID == "" {
				t.Errorf("registered provider %s", data)
			}
			providerID = p.ID
		}},
		{file: "list-providers.json", status: 200, checkData: func(t *testing.T, data json.RawMessage) {
			if !strings.Contains(string(data), providerID) {
				t.Errorf("provider %s not listed: %s", providerID, data)
			}
		}},
		{file: "create-authorization.json", status: 201, edit: func(ev map[string]any) {
			body := strings.Replace(ev["body"].(string), "p1q2r3s4", providerID, 1)
			// Unexpired, so that its token can be read back.
			ev["body"] = strings.Replace(body, "2026-06-05T12:00:00.000Z", time.Now().AddDate(1, 0, 0).UTC().Format("2006-01-02T15:04:05.000Z"), 1)
		}, checkData: func(t *testing.T, data json.RawMessage) {
			var a struct{ ID, ProviderID, Token string }
			_ = json.Unmarshal(data, &a)
			if a.ProviderID != providerID || a.Token != "gho_xxxxxxxxxxxx" {
				t.Errorf("created authorization %s", data)
			}
			authorizationID = a.ID
		}},
		{file: "read-token.json", status: 200, edit: func(ev map[string]any) {
			// The event's authorization id, wherever API Gateway puts it.
			b, _ := json.Marshal(ev)
			_ = json.Unmarshal([]byte(strings.ReplaceAll(string(b), "t5u6v7w8", authorizationID)), &ev)
		}, checkData: func(t *testing.T, data json.RawMessage) {
			var tok struct{ Token string }
			_ = json.Unmarshal(data, &tok)
			if tok.Token != "gho_xxxxxxxxxxxx" {
				t.Errorf("read token %s", data)
			}
		}},
		{file: "audit-stream.json"},
		{file: "list-audit.json", status: 200, checkData: func(t *testing.T, data json.RawMessage) {
			var entries []map[string]any
			_ = json.Unmarshal(data, &entries)
			if len(entries) != 5 {
				t.Errorf("audit trail has %d entries, want the 5 audited records of audit-stream.json: %s", len(entries), data)
			}
		}},
		{file: "fallback.json", status: 405, errCode: "METHOD_NOT_ALLOWED"},
	}

	// Every other event file runs too, after these, naming what they
	// created: any answer below 500, in the envelope.
	have := map[string]bool{}
	for _, s := range steps {
		have[s.file] = true
	}
	for _, file := range f.eventFiles(t) {
		if !have[file] {
			steps = append(steps, step{file: file, edit: func(ev map[string]any) {
				b, _ := json.Marshal(ev)
				b = []byte(strings.NewReplacer("p1q2r3s4", providerID, "t5u6v7w8", authorizationID).Replace(string(b)))
				_ = json.Unmarshal(b, &ev)
			}})
		}
	}

	for _, s := range steps {
		id := f.functionOf(t, s.file)
		e := mustStart(t, f.config(t, id, table))
		ev := mustEventFile(t, s.file)
		if s.edit != nil {
			s.edit(ev)
		}
		res := mustInvoke(t, e, ev)
		logs := strings.Join(res.Logs, "\n")
		if res.Status != 200 || res.FunctionError != "" || res.InitFailed {
			t.Fatalf("%s -> %s: emulator status %d, %s\n%s", s.file, id, res.Status, res.FunctionError, logs)
		}
		if strings.Contains(logs, "gho_") {
			t.Errorf("%s: a token reached the logs:\n%s", s.file, logs)
		}
		if id == "AuditStreamFunction" {
			var out events.DynamoDBEventResponse
			if err := json.Unmarshal(res.Payload, &out); err != nil || len(out.BatchItemFailures) != 0 {
				t.Fatalf("%s: response %s, want no batchItemFailures\n%s", s.file, res.Payload, logs)
			}
			if n := auditEntries(testenv.Items(t, db, table)); n != 5 {
				t.Errorf("%s: table holds %d audit entries, want 5 (one per audited record)", s.file, n)
			}
			continue
		}
		var resp events.APIGatewayV2HTTPResponse
		if err := json.Unmarshal(res.Payload, &resp); err != nil {
			t.Fatalf("%s: response %s: %v", s.file, res.Payload, err)
		}
		var env struct {
			Success bool            `json:"success"`
			Data    json.RawMessage `json:"data"`
			Error   struct{ Code, Message string }
		}
		if err := json.Unmarshal([]byte(resp.Body), &env); err != nil {
			t.Fatalf("%s: body %q is not the envelope", s.file, resp.Body)
		}
		switch {
		case s.status == 0 && (resp.StatusCode >= 500 || env.Success != (resp.StatusCode < 300) || !env.Success && env.Error.Code == ""):
			t.Errorf("%s: %d %s; want an answer below 500 in the envelope\n%s", s.file, resp.StatusCode, resp.Body, logs)
		case s.status != 0 && (resp.StatusCode != s.status || env.Success != (s.errCode == "") || env.Error.Code != s.errCode):
			t.Fatalf("%s: %d %s; want %d %q\n%s", s.file, resp.StatusCode, resp.Body, s.status, s.errCode, logs)
		}
		if ct := resp.Headers["Content-Type"]; ct != "application/json" {
			t.Errorf("%s: Content-Type %q", s.file, ct)
		}
		if s.checkData != nil {
			s.checkData(t, env.Data)
		}
	}
}

// A function whose required settings are missing fails at init, before any
// request, with the one log line internal/app prints: the deployment fails
// fast and says why.
func TestFunctionsFailFastWithoutTheirSettings(t *testing.T) {
	f := mustFunctions(t)
	// Every function needs its table; those the template gives a KMS key
	// (they seal or open tokens) need that too.
	type tc struct{ id, drop, want string }
	var cases []tc
	for _, id := range f.tmpl.FunctionIDs() {
		cases = append(cases, tc{id, "TABLE_NAME", "TABLE_NAME is required"})
		if fn, _ := f.tmpl.Function(id); fn.EnvIntrinsics["KMS_KEY_ID"].Fn != "" {
			cases = append(cases, tc{id, "KMS_KEY_ID", "KMS_KEY_ID is required"})
		}
	}
	for _, c := range cases {
		t.Run(c.id+"/without_"+c.drop, func(t *testing.T) {
			cfg := f.config(t, c.id, "no-such-table")
			if _, ok := cfg.Env[c.drop]; !ok {
				t.Fatalf("the template gives %s no %s", c.id, c.drop)
			}
			delete(cfg.Env, c.drop)
			e := mustStart(t, cfg)
			res := mustInvoke(t, e, map[string]any{})
			logs := strings.Join(res.Logs, "\n")
			if res.Status != 502 || !res.InitFailed {
				t.Fatalf("status %d, InitFailed %v; want 502 and a failed init\n%s", res.Status, res.InitFailed, logs)
			}
			line := findLine(res.Logs, "init failed")
			if line == nil || line["level"] != "ERROR" || !strings.Contains(line["error"].(string), c.want) {
				t.Errorf("no ERROR line \"init failed\" naming %q:\n%s", c.want, logs)
			}
		})
	}
}

// functions is every function of the template, built for this machine.
type functions struct {
	tmpl    *samtemplate.Template
	bins    map[string]string // function id -> bootstrap
	folders map[string]string // function id -> folder under functions/
}

var (
	functionsOnce once
	funcs         functions
	funcsMu       sync.Mutex
)

func mustFunctions(t *testing.T) *functions {
	t.Helper()
	funcsMu.Lock()
	defer funcsMu.Unlock()
	if funcs.tmpl == nil {
		tmpl := testenv.Template(t)
		f := functions{tmpl: tmpl, bins: map[string]string{}, folders: map[string]string{}}
		var pkgs []string
		for _, id := range tmpl.FunctionIDs() {
			fn, _ := tmpl.Function(id)
			f.folders[id] = path.Base(fn.SourceDir)
			pkgs = append(pkgs, "./"+fn.SourceDir)
		}
		for i, b := range mustBuild(t, &functionsOnce, pkgs...) {
			f.bins[tmpl.FunctionIDs()[i]] = b.Path
		}
		funcs = f
	}
	return &funcs
}

// config is function id's configuration as the template deploys it, against
// the local table and KMS key.
func (f *functions) config(t *testing.T, id, table string) lambdarie.Config {
	t.Helper()
	testenv.Require(t, "AWS_ENDPOINT_URL_DYNAMODB")
	_, keyID := testenv.KMS(t)
	resources := map[string]string{}
	for rid, r := range f.tmpl.Resources {
		switch r.Type {
		case samtemplate.TypeTable:
			resources[rid] = table
		case "AWS::KMS::Key", "AWS::KMS::Alias":
			resources[rid] = keyID
		}
	}
	cfg, err := lambdarie.TemplateConfig(f.tmpl, id, resources, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Env = lambdarie.Merge(lambdarie.HostAWSEnv(), cfg.Env)
	cfg.Bootstrap = f.bins[id]
	return cfg
}

// eventFiles lists events/*.json.
func (f *functions) eventFiles(t *testing.T) []string {
	t.Helper()
	paths, err := filepath.Glob(repoPath(t, "events", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, p := range paths {
		files = append(files, filepath.Base(p))
	}
	sort.Strings(files)
	return files
}

// functionOf names the function an event file is meant for: the one whose
// folder names the file (events/<folder>.json or events/<folder>-<case>.json).
func (f *functions) functionOf(t *testing.T, file string) string {
	t.Helper()
	name := strings.TrimSuffix(file, ".json")
	best := ""
	for id, folder := range f.folders {
		if (name == folder || strings.HasPrefix(name, folder+"-")) && len(folder) > len(f.folders[best]) {
			best = id
		}
	}
	if best == "" {
		t.Fatalf("events/%s is meant for no function of the template (name it after a folder under functions/)", file)
	}
	return best
}

func mustEventFile(t *testing.T, file string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(repoPath(t, "events", file))
	if err != nil {
		t.Fatal(err)
	}
	var ev map[string]any
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatalf("events/%s: %v", file, err)
	}
	return ev
}

// auditEntries counts the distinct audit entries among items (an entry may
// be stored more than once, for its lookups).
func auditEntries(items []map[string]types.AttributeValue) int {
	ids := map[string]bool{}
	for _, it := range items {
		pk, _ := it["PK"].(*types.AttributeValueMemberS)
		id, _ := it["id"].(*types.AttributeValueMemberS)
		if pk != nil && id != nil && strings.HasPrefix(pk.Value, "AUDIT#") {
			ids[id.Value] = true
		}
	}
	return len(ids)
}

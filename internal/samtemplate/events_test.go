package samtemplate_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/passport-oss/passport/internal/samtemplate"
)

// exampleToken is the API reference's fake token: the only token allowed in events/.
const exampleToken = "gho_xxxxxxxxxxxx"

type eventFile struct {
	name       string // file base name without .json, e.g. "list-providers"
	path       string
	data       []byte
	functionID string
}

// eventFiles lists events/*.json and pairs each with the function whose
// SourceDir is functions/<name>.
func eventFiles(t *testing.T, tpl *samtemplate.Template) []eventFile {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(repoRoot, "events", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) == 0 {
		t.Fatal("no events/*.json files")
	}
	byDir := map[string]string{}
	for _, id := range tpl.FunctionIDs() {
		f, _ := tpl.Function(id)
		byDir[path.Base(f.SourceDir)] = id
	}
	var out []eventFile
	for _, p := range paths {
		name := strings.TrimSuffix(filepath.Base(p), ".json")
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		ef := eventFile{name: name, path: p, data: data, functionID: byDir[name]}
		if ef.functionID == "" {
			t.Errorf("events/%s.json matches no function's SourceDir (functions/%s)", name, name)
			continue
		}
		out = append(out, ef)
	}
	return out
}

// decodeStrict decodes data into v, rejecting unknown fields and trailing data.
func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return fmt.Errorf("trailing data after the JSON value")
	}
	return nil
}

// checkNothingLost re-encodes the decoded value and checks that every field
// of the original file survives with the same value. DisallowUnknownFields
// cannot see inside custom unmarshalers (DynamoDB attribute values), this can.
func checkNothingLost(t *testing.T, original []byte, decoded any) {
	t.Helper()
	re, err := json.Marshal(decoded)
	if err != nil {
		t.Fatalf("re-encode: %v", err)
	}
	var want, got any
	if err := json.Unmarshal(original, &want); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(re, &got); err != nil {
		t.Fatal(err)
	}
	subset(t, "$", want, got)
}

func subset(t *testing.T, at string, want, got any) {
	t.Helper()
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			t.Errorf("%s: lost object, got %v", at, got)
			return
		}
		for k, wv := range w {
			gv, ok := g[k]
			if !ok {
				t.Errorf("%s.%s: field lost in decoding", at, k)
				continue
			}
			subset(t, at+"."+k, wv, gv)
		}
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			t.Errorf("%s: list changed: got %v, want %v", at, got, want)
			return
		}
		for i := range w {
			subset(t, fmt.Sprintf("%s[%d]", at, i), w[i], g[i])
		}
	default:
		if !reflect.DeepEqual(want, got) {
			t.Errorf("%s: got %#v, want %#v", at, got, want)
		}
	}
}

func TestEventFilesCoverEveryFunction(t *testing.T) {
	tpl := loadRepoTemplate(t)
	have := map[string]bool{}
	for _, ef := range eventFiles(t, tpl) {
		have[ef.functionID] = true
	}
	for _, id := range tpl.FunctionIDs() {
		if !have[id] {
			f, _ := tpl.Function(id)
			t.Errorf("%s has no events/%s.json", id, path.Base(f.SourceDir))
		}
	}
}

func TestEventFilesDecode(t *testing.T) {
	tpl := loadRepoTemplate(t)
	routesByFunction := map[string][]samtemplate.Route{}
	routeKeys := map[string]bool{}
	for _, r := range tpl.Routes() {
		routesByFunction[r.FunctionID] = append(routesByFunction[r.FunctionID], r)
		routeKeys[r.RouteKey()] = true
	}

	for _, ef := range eventFiles(t, tpl) {
		t.Run(ef.name, func(t *testing.T) {
			if routes := routesByFunction[ef.functionID]; len(routes) > 0 {
				var ev events.APIGatewayV2HTTPRequest
				if err := decodeStrict(ef.data, &ev); err != nil {
					t.Fatalf("decode as events.APIGatewayV2HTTPRequest: %v", err)
				}
				checkNothingLost(t, ef.data, ev)
				checkHTTPEvent(t, ev, routes, routeKeys)
				return
			}
			if _, err := tpl.StreamMapping(ef.functionID); err == nil {
				var ev events.DynamoDBEvent
				if err := decodeStrict(ef.data, &ev); err != nil {
					t.Fatalf("decode as events.DynamoDBEvent: %v", err)
				}
				checkNothingLost(t, ef.data, ev)
				checkStreamEvent(t, ev)
				return
			}
			t.Fatalf("%s has neither HttpApi nor DynamoDB events: no event type to check against", ef.functionID)
		})
	}
}

func checkHTTPEvent(t *testing.T, ev events.APIGatewayV2HTTPRequest, routes []samtemplate.Route, routeKeys map[string]bool) {
	t.Helper()
	rc := ev.RequestContext
	checks := []struct {
		name      string
		got, want any
	}{
		{"version", ev.Version, "2.0"},
		{"requestContext.routeKey", rc.RouteKey, ev.RouteKey},
		{"requestContext.stage", rc.Stage, "$default"},
		{"requestContext.http.path", rc.HTTP.Path, ev.RawPath},
		{"requestContext.http.protocol", rc.HTTP.Protocol, "HTTP/1.1"},
		{"requestContext.http.userAgent", rc.HTTP.UserAgent, ev.Headers["user-agent"]},
		{"requestContext.domainName", rc.DomainName, ev.Headers["host"]},
		{"requestContext.domainName prefix", strings.HasPrefix(rc.DomainName, rc.APIID+".execute-api."), true},
		{"accountId is 12 digits", len(rc.AccountID) == 12, true},
		{"requestId set", rc.RequestID != "", true},
		{"sourceIp set", rc.HTTP.SourceIP != "", true},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s: got %#v, want %#v", c.name, c.got, c.want)
		}
	}

	// time and timeEpoch describe the same instant.
	when, err := time.Parse("02/Jan/2006:15:04:05 -0700", rc.Time)
	if err != nil {
		t.Errorf("requestContext.time %q: %v", rc.Time, err)
	} else if got := rc.TimeEpoch / 1000; got != when.Unix() {
		t.Errorf("requestContext.timeEpoch = %d (s), time says %d", got, when.Unix())
	}

	// The gateway's route selection: the file's function serves its routeKey.
	method := rc.HTTP.Method
	if ev.RouteKey == samtemplate.DefaultRoutePath {
		if routes[0].Path != samtemplate.DefaultRoutePath {
			t.Errorf("routeKey $default, but the function serves %v", routes)
		}
		if key := method + " " + ev.RawPath; routeKeys[key] {
			t.Errorf("%s matches an explicit route: API Gateway would not send it to $default", key)
		}
	} else {
		if !routeMatches(ev.RouteKey, method, ev.RawPath, ev.PathParameters) {
			t.Errorf("routeKey %q does not match %s %s with pathParameters %v", ev.RouteKey, method, ev.RawPath, ev.PathParameters)
		}
		found := false
		for _, r := range routes {
			found = found || r.RouteKey() == ev.RouteKey
		}
		if !found {
			t.Errorf("routeKey %q is not one of the function's routes %v", ev.RouteKey, routes)
		}
	}

	for k := range ev.Headers {
		if k != strings.ToLower(k) {
			t.Errorf("header %q is not lower-case (HTTP API lower-cases header names)", k)
		}
	}
	if ev.Body != "" {
		if ev.IsBase64Encoded {
			t.Errorf("JSON body should not be base64-encoded")
		}
		if got, want := ev.Headers["content-length"], strconv.Itoa(len(ev.Body)); got != want {
			t.Errorf("content-length = %s, body is %s bytes", got, want)
		}
		if ct := ev.Headers["content-type"]; ct != "application/json" {
			t.Errorf("content-type = %q, want application/json", ct)
		}
		if !json.Valid([]byte(ev.Body)) {
			t.Errorf("body is not valid JSON: %s", ev.Body)
		}
	}
}

// Record shapes the audit-stream fixture must cover.
const (
	shapeInsertProvider = "INSERT provider"
	shapeInsertAuthz    = "INSERT authorization"
	shapeModifyAuthz    = "MODIFY authorization"
	shapeTTLAWS         = "REMOVE by TTL (AWS)"
	shapeTTLLocal       = "TTL removal (DynamoDB Local)"
	shapeLocalGSIKeys   = "DynamoDB Local Keys carrying GSI1PK/GSI1SK"
)

func checkStreamEvent(t *testing.T, ev events.DynamoDBEvent) {
	t.Helper()
	seen := map[string]bool{}
	ids, seqs := map[string]bool{}, map[string]bool{}
	for i, r := range ev.Records {
		at := fmt.Sprintf("Records[%d]", i)
		c := r.Change
		if r.EventSource != "aws:dynamodb" || r.EventVersion == "" || r.AWSRegion == "" || !strings.HasPrefix(r.EventSourceArn, "arn:aws:dynamodb:") {
			t.Errorf("%s: bad envelope %+v", at, r)
		}
		if c.StreamViewType != "NEW_AND_OLD_IMAGES" || c.SizeBytes <= 0 || c.ApproximateCreationDateTime.IsZero() {
			t.Errorf("%s: bad dynamodb block (view %q, size %d, time %v)", at, c.StreamViewType, c.SizeBytes, c.ApproximateCreationDateTime)
		}
		if r.EventID == "" || ids[r.EventID] {
			t.Errorf("%s: eventID %q empty or repeated", at, r.EventID)
		}
		if c.SequenceNumber == "" || seqs[c.SequenceNumber] {
			t.Errorf("%s: SequenceNumber %q empty or repeated", at, c.SequenceNumber)
		}
		ids[r.EventID], seqs[c.SequenceNumber] = true, true

		pk := c.Keys["PK"].String()
		image := c.NewImage
		if image == nil {
			image = c.OldImage
		}
		for _, k := range []string{"PK", "SK"} {
			if c.Keys[k].String() == "" || c.Keys[k].String() != image[k].String() {
				t.Errorf("%s: Keys.%s = %q, image has %q", at, k, c.Keys[k].String(), image[k].String())
			}
		}
		for _, img := range []map[string]events.DynamoDBAttributeValue{c.NewImage, c.OldImage} {
			if _, ok := img["token"]; ok {
				t.Errorf("%s: an image carries a plaintext token attribute", at)
			}
			if ct, ok := img["tokenCiphertext"]; ok && ct.DataType() != events.DataTypeBinary {
				t.Errorf("%s: tokenCiphertext is not a B value", at)
			}
		}
		kind := image["kind"].String()
		isAuthz := strings.HasPrefix(pk, "AUTHZ#") && kind == "authorization"

		switch r.EventName {
		case "INSERT":
			if c.NewImage == nil || c.OldImage != nil {
				t.Errorf("%s: INSERT needs NewImage only", at)
			}
			if strings.HasPrefix(pk, "PROVIDER#") && kind == "provider" {
				seen[shapeInsertProvider] = true
			}
			if isAuthz {
				seen[shapeInsertAuthz] = true
			}
		case "MODIFY":
			if c.NewImage == nil || c.OldImage == nil {
				t.Errorf("%s: MODIFY needs both images", at)
			}
			if isAuthz {
				seen[shapeModifyAuthz] = true
			}
		case "REMOVE":
			if c.NewImage != nil || c.OldImage == nil {
				t.Errorf("%s: REMOVE needs OldImage only", at)
			}
			if u := r.UserIdentity; u != nil && u.Type == "Service" && u.PrincipalID == "dynamodb.amazonaws.com" && isAuthz {
				seen[shapeTTLAWS] = true
			}
		case "UNKNOWN_TO_SDK_VERSION":
			if c.NewImage != nil || c.OldImage == nil {
				t.Errorf("%s: DynamoDB Local TTL removal needs OldImage only", at)
			}
			if r.UserIdentity != nil {
				t.Errorf("%s: DynamoDB Local sends no userIdentity", at)
			}
			if isAuthz {
				seen[shapeTTLLocal] = true
			}
			if _, ok := c.Keys["GSI1PK"]; ok {
				if _, ok := c.Keys["GSI1SK"]; ok {
					seen[shapeLocalGSIKeys] = true
				}
			}
		default:
			t.Errorf("%s: unexpected eventName %q", at, r.EventName)
		}
	}
	for _, shape := range []string{shapeInsertProvider, shapeInsertAuthz, shapeModifyAuthz, shapeTTLAWS, shapeTTLLocal, shapeLocalGSIKeys} {
		if !seen[shape] {
			t.Errorf("audit-stream fixture lacks a record of shape %q", shape)
		}
	}
}

// TestStreamFilterOnFixture evaluates the template's FilterCriteria, as
// Lambda would, on every record of events/audit-stream.json: provider and
// authorization records pass, audit items and uniqueness markers never do.
func TestStreamFilterOnFixture(t *testing.T) {
	tpl := loadRepoTemplate(t)
	sm, err := tpl.StreamMapping("AuditStreamFunction")
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(repoRoot, "events", "audit-stream.json"))
	if err != nil {
		t.Fatal(err)
	}
	var raw struct {
		Records []map[string]any `json:"Records"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		t.Fatal(err)
	}
	// Records for item types that never reach the function, keyed only (the
	// filter looks at dynamodb.Keys).
	marker := map[string]any{"eventName": "INSERT", "dynamodb": map[string]any{"Keys": map[string]any{
		"PK": map[string]any{"S": "UNIQUE#PROVIDER_NAME#github"}, "SK": map[string]any{"S": "UNIQUE"},
	}}}
	audit := map[string]any{"eventName": "INSERT", "dynamodb": map[string]any{"Keys": map[string]any{
		"PK": map[string]any{"S": "AUDIT#a1b2c3d4"}, "SK": map[string]any{"S": "AUDIT"},
	}}}
	records := append(raw.Records, marker, audit)

	var audited int
	for i, rec := range records {
		keys := rec["dynamodb"].(map[string]any)["Keys"].(map[string]any)
		pk := keys["PK"].(map[string]any)["S"].(string)
		wantPass := strings.HasPrefix(pk, "PROVIDER#") || strings.HasPrefix(pk, "AUTHZ#")
		got := false
		for _, p := range sm.FilterPatterns {
			var pattern any
			if err := json.Unmarshal([]byte(p), &pattern); err != nil {
				t.Fatal(err)
			}
			got = got || matchPattern(t, pattern, rec)
		}
		if got != wantPass {
			t.Errorf("record %d (PK %s): filter passes = %v, want %v", i, pk, got, wantPass)
		}
		if got {
			audited++
		}
	}
	if audited == 0 || audited == len(records) {
		t.Errorf("filter passed %d of %d records: the fixture should exercise both outcomes", audited, len(records))
	}
}

// matchPattern implements the subset of Lambda event filtering syntax the
// template uses: nested objects, and arrays of literal values or
// {"prefix": "..."} / {"exists": bool} matchers (any one matches).
func matchPattern(t *testing.T, pattern, value any) bool {
	t.Helper()
	switch p := pattern.(type) {
	case map[string]any:
		v, ok := value.(map[string]any)
		if !ok {
			return false
		}
		for k, sub := range p {
			if rules, ok := sub.([]any); ok && len(rules) == 1 {
				if m, ok := rules[0].(map[string]any); ok {
					if exists, ok := m["exists"].(bool); ok {
						_, present := v[k]
						if present != exists {
							return false
						}
						continue
					}
				}
			}
			field, ok := v[k]
			if !ok || !matchPattern(t, sub, field) {
				return false
			}
		}
		return true
	case []any:
		for _, rule := range p {
			switch r := rule.(type) {
			case map[string]any:
				prefix, ok := r["prefix"].(string)
				if !ok {
					t.Fatalf("unsupported filter rule %v", r)
				}
				if s, ok := value.(string); ok && strings.HasPrefix(s, prefix) {
					return true
				}
			default:
				if reflect.DeepEqual(r, value) {
					return true
				}
			}
		}
		return false
	}
	t.Fatalf("unsupported filter pattern %v", pattern)
	return false
}

// TestEventFilesHoldNoRealTokens: the only token in events/ is the API
// reference's fake one, in the create-authorization request body; no JSON
// field anywhere is named "token".
func TestEventFilesHoldNoRealTokens(t *testing.T) {
	tpl := loadRepoTemplate(t)
	var names []string
	for _, ef := range eventFiles(t, tpl) {
		names = append(names, ef.name)
		var v any
		if err := json.Unmarshal(ef.data, &v); err != nil {
			t.Fatalf("%s: %v", ef.name, err)
		}
		walkKeys(v, func(k string) {
			if strings.EqualFold(k, "token") {
				t.Errorf("%s.json has a field named %q", ef.name, k)
			}
		})
		for _, prefix := range []string{"gho_", "ghp_", "ghu_", "ghs_", "xoxb-", "xoxp-", "ya29."} {
			n := strings.Count(string(ef.data), prefix)
			want := 0
			if ef.name == "create-authorization" && prefix == "gho_" {
				want = strings.Count(string(ef.data), exampleToken)
			}
			if n != want {
				t.Errorf("%s.json holds %d token-like %q strings, want %d", ef.name, n, prefix, want)
			}
		}
	}
	sort.Strings(names)
	if i := sort.SearchStrings(names, "create-authorization"); i == len(names) || names[i] != "create-authorization" {
		t.Fatalf("events/create-authorization.json missing")
	}
	data, _ := os.ReadFile(filepath.Join(repoRoot, "events", "create-authorization.json"))
	var ev events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(data, &ev); err != nil {
		t.Fatal(err)
	}
	var body map[string]any
	if err := json.Unmarshal([]byte(ev.Body), &body); err != nil {
		t.Fatal(err)
	}
	if got := body["token"]; got != exampleToken {
		t.Errorf("create-authorization body token = %v, want the API reference's %q", got, exampleToken)
	}
}

func walkKeys(v any, f func(string)) {
	switch v := v.(type) {
	case map[string]any:
		for k, sub := range v {
			f(k)
			walkKeys(sub, f)
		}
	case []any:
		for _, sub := range v {
			walkKeys(sub, f)
		}
	}
}

// routeMatches reports whether routeKey ("GET /a/{id}/b") matches method
// and path, its {name} segments giving exactly params.
func routeMatches(routeKey, method, path string, params map[string]string) bool {
	m, pattern, ok := strings.Cut(routeKey, " ")
	want, got := strings.Split(pattern, "/"), strings.Split(path, "/")
	if !ok || m != method || len(want) != len(got) {
		return false
	}
	seen := 0
	for i, w := range want {
		if strings.HasPrefix(w, "{") && strings.HasSuffix(w, "}") {
			if params[w[1:len(w)-1]] != got[i] || got[i] == "" {
				return false
			}
			seen++
		} else if w != got[i] {
			return false
		}
	}
	return seen == len(params)
}

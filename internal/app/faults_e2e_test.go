package app_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/passport-oss/passport/internal/app"
	"github.com/passport-oss/passport/internal/faults"
	"github.com/passport-oss/passport/internal/localapp"
	"github.com/passport-oss/passport/internal/testenv"
)

// mustFaultyStack is the local stack with tr between every API function and
// AWS. The audit function keeps a clean line: a dying consumer is another
// test's subject (complete_test.go).
func mustFaultyStack(t *testing.T, tr *faults.Transport) *stack {
	t.Helper()
	tmpl := testenv.Template(t)
	consumer := map[string]bool{}
	for _, id := range tmpl.FunctionIDs() {
		if _, err := tmpl.StreamMapping(id); err == nil {
			consumer[id] = true
		}
	}
	return mustStackWith(t, localapp.LocalOptions{HTTPClient: func(functionID string) aws.HTTPClient {
		if consumer[functionID] {
			return nil
		}
		return tr.Client()
	}})
}

// answer is one API response, as a client sees it.
type answer struct {
	status     int
	retryAfter string
	etag       string
	code       string
	data       map[string]any
	raw        string
	err        error
}

var apiClient = &http.Client{Timeout: time.Minute}

// send makes one request; safe in goroutines (it never stops the test).
func (s *stack) send(method, path, body string) answer {
	return s.sendHeaders(method, path, body, nil)
}

// sendHeaders is send with request headers (If-Match, Idempotency-Key).
func (s *stack) sendHeaders(method, path, body string, headers map[string]string) answer {
	req, err := http.NewRequest(method, s.url+path, strings.NewReader(body))
	if err != nil {
		return answer{err: err}
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := apiClient.Do(req)
	if err != nil {
		return answer{err: err}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After"), etag: resp.Header.Get("ETag"), raw: string(raw), err: err}
	var env struct {
		Success *bool           `json:"success"`
		Data    json.RawMessage `json:"data"`
		Error   struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	if jerr := json.Unmarshal(raw, &env); jerr != nil || env.Success == nil || resp.Header.Get("Content-Type") != "application/json" {
		a.err = fmt.Errorf("not the envelope: %.300q", raw)
	}
	_ = json.Unmarshal(env.Data, &a.data) // an object's fields; a list's stay in raw
	a.code = env.Error.Code
	return a
}

// okOr503 reports what is wrong with a, if anything: every answer under
// faults is a success or 503 SERVICE_UNAVAILABLE with Retry-After.
func (a answer) okOr503() error {
	switch {
	case a.err != nil:
		return a.err
	case a.status == 200 || a.status == 201:
		return nil
	case a.status == 503 && a.code == "SERVICE_UNAVAILABLE" && a.retryAfter != "":
		return nil
	}
	return fmt.Errorf("%d (Retry-After %q): %.300s", a.status, a.retryAfter, a.raw)
}

// retry503 sends as a careful client does: again after each 503, pausing
// attempt × pause, at most attempts times. It returns the last answer and
// how many 503s were retried.
func retry503(attempts int, pause time.Duration, send func() answer) (answer, int) {
	for attempt := 1; ; attempt++ {
		a := send()
		if a.status != 503 || attempt == attempts {
			return a, attempt - 1
		}
		time.Sleep(time.Duration(attempt) * pause)
	}
}

// request is one request of the faulted workload, and what it answered.
type request struct {
	method, path, body string
	// For writes: the provider's name, or the grant's user and token.
	name, user, token string
	got               answer
}

func (r *request) write() bool { return r.method == "POST" }

// Under every fault, at a high rate, every request answers once (2xx) or
// 503 with Retry-After, never a 500; afterwards every acknowledged write is
// readable, no refused one left half its items behind, and no SDK call made
// more than app.MaxAttempts attempts at the wire.
func TestFaultsAnswerOnceOr503(t *testing.T) {
	tr := faults.New(nil, 20261203)
	s := mustFaultyStack(t, tr)

	// What the reads read: a provider and grants, stored without faults.
	_, providerID := s.mustProvider(t)
	var grants []string
	for i := range 3 {
		a := s.send("POST", "/api/v1/passport/authorizations", authorizationBody(providerID, fmt.Sprintf("seed-%d", i), "gho_seed"))
		if a.status != 201 {
			t.Fatalf("seed grant: %d %s", a.status, a.raw)
		}
		grants = append(grants, a.data["id"].(string))
	}

	var all []*request
	total503 := 0
	for _, kind := range faults.Kinds {
		t.Run(kind.String(), func(t *testing.T) {
			tr.Take()
			tr.SetRules(faults.Rule{Op: "*", Kind: kind, Rate: 0.5, Delay: 300 * time.Millisecond})
			reqs := faultedWorkload(kind.String(), providerID, grants)
			runAll(s, reqs, 6)
			tr.SetRules()
			c := tr.Take()

			n503 := 0
			for _, r := range reqs {
				if err := r.got.okOr503(); err != nil {
					t.Errorf("%s %s: %v", r.method, r.path, err)
				}
				if r.got.status == 503 {
					n503++
				}
			}
			if c.Faults() == 0 {
				t.Fatalf("no %v fault was injected: the test proved nothing", kind)
			}
			checkAttempts(t, c)
			t.Logf("%v: %d requests, %d AWS calls, %d attempts, %d faults injected, %d answered 503",
				kind, len(reqs), sum(c.Invocations), c.Attempts(), c.Faults(), n503)
			total503 += n503
			all = append(all, reqs...)
		})
	}

	s.checkWrites(t, all)
	checkNothingHalfWritten(t, testenv.Items(t, s.db, s.table))
	t.Logf("all faults: %d requests, %d answered 503", len(all), total503)
}

// Under every AWS call failing, each route answers 503 with Retry-After
// after at most app.MaxAttempts attempts of each AWS call it makes.
func TestEveryCallFailingAnswers503(t *testing.T) {
	tr := faults.New(nil, 1)
	s := mustFaultyStack(t, tr)
	_, providerID := s.mustProvider(t)
	grant := s.send("POST", "/api/v1/passport/authorizations", authorizationBody(providerID, "u", "gho_x"))
	if grant.status != 201 {
		t.Fatalf("grant: %d %s", grant.status, grant.raw)
	}
	for _, kind := range []faults.Kind{faults.Throttle, faults.ServerError, faults.BadGateway, faults.Drop} {
		for _, tt := range []struct {
			method, path, body string
			calls              int // AWS calls the route makes before the first fails
		}{
			{"POST", "/api/v1/passport/providers", providerBody("all-failing-" + kind.String()), 1},
			{"POST", "/api/v1/passport/authorizations", authorizationBody(providerID, "v", "gho_y"), 1},
			{"GET", "/api/v1/passport/providers", "", 1},
			{"GET", "/api/v1/passport/audit", "", 4}, // one Query per shard, in parallel
			{"GET", "/api/v1/passport/authorizations/" + grant.data["id"].(string) + "/token", "", 1},
		} {
			tr.Take()
			tr.SetRules(faults.Rule{Op: "*", Kind: kind, Rate: 1})
			got := s.send(tt.method, tt.path, tt.body)
			tr.SetRules()
			c := tr.Take()
			if got.status != 503 || got.okOr503() != nil {
				t.Errorf("%v: %s %s = %d (Retry-After %q) %s, want 503 with Retry-After", kind, tt.method, tt.path, got.status, got.retryAfter, got.raw)
			}
			if max := tt.calls * app.MaxAttempts; c.Attempts() > max || c.MostAttempts > app.MaxAttempts {
				t.Errorf("%v: %s %s made %d attempts (%d at most for one call), want at most %d (%d)", kind, tt.method, tt.path, c.Attempts(), c.MostAttempts, max, app.MaxAttempts)
			}
		}
	}
	if items := testenv.Items(t, s.db, s.table); countKind(items, "provider") != 1 || countKind(items, "authorization") != 1 {
		t.Errorf("refused writes left items: %d providers, %d authorizations, want 1 and 1", countKind(items, "provider"), countKind(items, "authorization"))
	}
}

// A request whose AWS calls outlast its deadline answers 503, well before
// the function's timeout would cut it off (the gateway answers a timed-out
// function with 500).
func TestDeadlineAnswers503(t *testing.T) {
	tr := faults.New(nil, 1)
	s := mustFaultyStack(t, tr)
	s.mustProvider(t)
	// A 3 s function timeout leaves a 1 s request deadline
	// (httpapi.ResponseReserve is 2 s).
	s.local.Gateway.Timeouts["ListProvidersFunction"] = 3 * time.Second
	tr.SetRules(faults.Rule{Op: "DynamoDB.Query", Kind: faults.Latency, Rate: 1, Delay: time.Minute})
	got := s.send("GET", "/api/v1/passport/providers", "")
	if got.status != 503 || got.okOr503() != nil {
		t.Errorf("GET providers past its deadline = %d (Retry-After %q) %s, want 503 with Retry-After", got.status, got.retryAfter, got.raw)
	}
	tr.SetRules()
	if got := s.send("GET", "/api/v1/passport/providers", ""); got.status != 200 {
		t.Errorf("GET providers without faults = %d %s", got.status, got.raw)
	}
}

func providerBody(name string) string {
	return fmt.Sprintf(`{"name":%q,"type":"oauth2","clientId":"Iv1.faults","scopes":["repo","user"],"redirectUri":"https://app.example.com/cb"}`, name)
}

func authorizationBody(providerID, user, token string) string {
	return fmt.Sprintf(`{"providerId":%q,"userId":%q,"scopes":["repo"],"token":%q,"expiresAt":"2999-01-01T00:00:00Z"}`, providerID, user, token)
}

// faultedWorkload is one round of every request the faults are tried on:
// registrations and grants that must land once or not at all, and reads.
func faultedWorkload(tag, providerID string, grants []string) []*request {
	var reqs []*request
	for i := range 4 {
		name := fmt.Sprintf("faulted-%s-%d", tag, i)
		reqs = append(reqs, &request{method: "POST", path: "/api/v1/passport/providers", body: providerBody(name), name: name})
		user, token := fmt.Sprintf("user-%s-%d", tag, i), fmt.Sprintf("gho_%s_%d", strings.ReplaceAll(tag, "-", "_"), i)
		reqs = append(reqs, &request{method: "POST", path: "/api/v1/passport/authorizations", body: authorizationBody(providerID, user, token), user: user, token: token})
	}
	for i := range 3 {
		reqs = append(reqs,
			&request{method: "GET", path: "/api/v1/passport/providers"},
			&request{method: "GET", path: "/api/v1/passport/audit"},
			&request{method: "GET", path: "/api/v1/passport/authorizations/" + grants[i%len(grants)] + "/token"})
	}
	return reqs
}

// runAll sends reqs with n at a time.
func runAll(s *stack, reqs []*request, n int) {
	work := make(chan *request)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			for r := range work {
				r.got = s.send(r.method, r.path, r.body)
			}
		})
	}
	for _, r := range reqs {
		work <- r
	}
	close(work)
	wg.Wait()
}

// checkAttempts fails t if any SDK call made more than app.MaxAttempts
// attempts at the wire.
func checkAttempts(t *testing.T, c faults.Counts) {
	t.Helper()
	if c.MostAttempts > app.MaxAttempts {
		t.Errorf("an AWS call made %d attempts, want at most %d", c.MostAttempts, app.MaxAttempts)
	}
	for op, n := range c.Calls {
		if n > app.MaxAttempts*c.Invocations[op] {
			t.Errorf("%s: %d attempts for %d calls, want at most %d each", op, n, c.Invocations[op], app.MaxAttempts)
		}
	}
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// checkWrites reads back, without faults, what the faulted writes did:
// every acknowledged registration is listed and every acknowledged grant's
// token reads back; a refused (503) one is there whole or not at all, at
// most once (checkNothingHalfWritten checks the items themselves).
func (s *stack) checkWrites(t *testing.T, reqs []*request) {
	t.Helper()
	listed := map[string]string{} // name -> id
	cursor := ""
	for {
		a := s.send("GET", "/api/v1/passport/providers?limit=200&cursor="+cursor, "")
		if a.status != 200 {
			t.Fatalf("list providers: %d %s", a.status, a.raw)
		}
		var page struct {
			Data []struct {
				ID, Name string
			} `json:"data"`
			NextCursor string `json:"nextCursor"`
		}
		if err := json.Unmarshal([]byte(a.raw), &page); err != nil {
			t.Fatal(err)
		}
		for _, p := range page.Data {
			listed[p.Name] = p.ID
		}
		if cursor = page.NextCursor; cursor == "" {
			break
		}
	}
	grantsOf := map[string][]map[string]types.AttributeValue{}
	for _, it := range testenv.Items(t, s.db, s.table) {
		if kindOf(it) == "authorization" {
			grantsOf[str(it, "userId")] = append(grantsOf[str(it, "userId")], it)
		}
	}
	for _, r := range reqs {
		switch {
		case !r.write():
		case r.name != "" && r.got.status == 201:
			if id := listed[r.name]; id == "" || id != r.got.data["id"] {
				t.Errorf("provider %s was acknowledged as %v but is listed as %q", r.name, r.got.data["id"], id)
			}
		case r.name != "": // refused: whole or absent, checked on the items
		case len(grantsOf[r.user]) > 1:
			t.Errorf("grant of %s stored %d times", r.user, len(grantsOf[r.user]))
		case r.got.status == 201 || len(grantsOf[r.user]) == 1:
			id, _ := r.got.data["id"].(string)
			if r.got.status != 201 {
				id = str(grantsOf[r.user][0], "id") // refused, yet stored whole: it must read back
			}
			if len(grantsOf[r.user]) == 0 || str(grantsOf[r.user][0], "id") != id {
				t.Errorf("grant of %s was acknowledged as %q but is not stored", r.user, id)
				continue
			}
			a := s.send("GET", "/api/v1/passport/authorizations/"+id+"/token", "")
			if a.status != 200 || a.data["token"] != r.token {
				t.Errorf("token of %s's grant %s: %d %s, want 200 with its token", r.user, id, a.status, a.raw)
			}
		}
	}
}

func kindOf(it map[string]types.AttributeValue) string { return str(it, "kind") }

func str(it map[string]types.AttributeValue, name string) string {
	if v, ok := it[name].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

func countKind(items []map[string]types.AttributeValue, kind string) int {
	n := 0
	for _, it := range items {
		if kindOf(it) == kind {
			n++
		}
	}
	return n
}

// checkNothingHalfWritten proves the writes' atomicity on the table itself:
// every provider has its name marker and every marker its provider; every
// grant has its provider and a sealed token, and its grant marker names it;
// every grant marker names a grant.
func checkNothingHalfWritten(t *testing.T, items []map[string]types.AttributeValue) {
	t.Helper()
	byPK := map[string]map[string]types.AttributeValue{}
	for _, it := range items {
		byPK[str(it, "PK")] = it
	}
	markerOf := map[string]string{} // authorization id -> its grant marker's PK
	for _, it := range items {
		pk := str(it, "PK")
		switch kindOf(it) {
		case "provider":
			if _, deleted := it["deletedAt"]; deleted {
				continue
			}
			marker := byPK["UNIQUE#PROVIDER_NAME#"+strings.ToLower(str(it, "name"))]
			if marker == nil || str(marker, "providerId") != str(it, "id") {
				t.Errorf("provider %s (%s) has no name marker naming it", str(it, "id"), str(it, "name"))
			}
		case "unique":
			if !strings.HasPrefix(pk, "UNIQUE#PROVIDER_NAME#") {
				continue
			}
			if p := byPK["PROVIDER#"+str(it, "providerId")]; p == nil || "UNIQUE#PROVIDER_NAME#"+strings.ToLower(str(p, "name")) != pk {
				t.Errorf("name marker %s names no provider of that name (%s)", pk, str(it, "providerId"))
			}
		case "authorization":
			if byPK["PROVIDER#"+str(it, "providerId")] == nil {
				t.Errorf("grant %s names no provider (%s)", str(it, "id"), str(it, "providerId"))
			}
			if _, revoked := it["revokedAt"]; !revoked {
				if _, ok := it["tokenCiphertext"].(*types.AttributeValueMemberB); !ok {
					t.Errorf("grant %s has no sealed token", str(it, "id"))
				}
			}
		case "grant":
			id := str(it, "authorizationId")
			markerOf[id] = pk
			if byPK["AUTHZ#"+id] == nil {
				t.Errorf("grant marker %s names no grant (%s)", pk, id)
			}
		}
	}
	if countKind(items, "grant") == 0 {
		return // grant markers are not in this version of the store
	}
	for _, it := range items {
		if _, revoked := it["revokedAt"]; kindOf(it) == "authorization" && !revoked && markerOf[str(it, "id")] == "" {
			t.Errorf("active grant %s has no grant marker", str(it, "id"))
		}
	}
}

// A cascade DELETE is several writes (revoke each grant, then the
// tombstone), so a fault can stop it halfway. Retried after each 503, as
// the README asks, it converges: the provider is gone, every grant revoked,
// and the trail holds one entry per change, no more.
func TestCascadeDeleteUnderFaultsConverges(t *testing.T) {
	tr := faults.New(nil, 20261204)
	s := mustFaultyStack(t, tr)
	_, providerID := s.mustProvider(t)
	const grants = 12
	for i := range grants {
		if a := s.send("POST", "/api/v1/passport/authorizations", authorizationBody(providerID, fmt.Sprintf("cascade-%d", i), "gho_c")); a.status != 201 {
			t.Fatalf("grant %d: %d %s", i, a.status, a.raw)
		}
	}

	tr.SetRules(
		faults.Rule{Op: "DynamoDB.*", Kind: faults.ServerError, Rate: 0.5},
		faults.Rule{Op: "DynamoDB.*", Kind: faults.DropResponse, Rate: 0.1},
	)
	const attempts = 30
	got, n503 := retry503(attempts, 0, func() answer {
		a := s.send("DELETE", "/api/v1/passport/providers/"+providerID+"?cascade=true", "")
		if err := a.okOr503(); err != nil && a.status != 404 {
			t.Fatalf("DELETE: %v", err)
		}
		return a
	})
	if got.status == 503 {
		t.Fatalf("still 503 after %d attempts", attempts)
	}
	tr.SetRules()
	if c := tr.Take(); c.Faults() == 0 || n503 == 0 {
		t.Fatalf("%d faults injected, %d answers 503: the test proved nothing; change the seed", c.Faults(), n503)
	}
	// The last answer is the delete's, or 404 when an earlier attempt's
	// tombstone landed and its answer was lost.
	if got.status != 200 && got.status != 204 && got.status != 404 {
		t.Fatalf("final DELETE = %d %s", got.status, got.raw)
	}
	if a := s.send("GET", "/api/v1/passport/providers/"+providerID, ""); a.status != 404 {
		t.Errorf("provider after delete: %d %s", a.status, a.raw)
	}
	items := testenv.Items(t, s.db, s.table)
	for _, it := range items {
		if kindOf(it) == "authorization" && it["revokedAt"] == nil {
			t.Errorf("grant %s not revoked", str(it, "id"))
		}
	}
	checkNothingHalfWritten(t, items)
	wantCounts(t, s.auditCounts(t), map[string]int{
		"provider.created": 1, "authorization.created": grants,
		"authorization.revoked": grants, "provider.deleted": 1,
	})
	t.Logf("cascade delete of %d grants: %d answers 503 before it went through", grants, n503)
}

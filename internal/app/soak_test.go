package app_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/passport-oss/passport/internal/faults"
	"github.com/passport-oss/passport/internal/localapp"
	"github.com/passport-oss/passport/internal/testenv"
)

// The soak (issue 8, item 2): soakRequests mixed requests from soakClients
// clients at once, through the whole local stack, with 5% of every
// function's AWS calls faulted (the audit function's too). Each client owns
// its providers and grants and keeps a model of them, as a careful client
// does: it retries a 503 after Retry-After (POSTs with their
// Idempotency-Key) and reads back a write whose answer it lost. Afterwards,
// faults off: every acknowledged write reads back at the version the model
// holds (so no retry wrote twice), the table holds nothing half-written, and
// the audit trail has exactly one entry per change.
//
// PASSPORT_SOAK_REQUESTS sets the size (make soak: 10,000); make test runs
// a short one.
const soakClients = 32

// soakFaults: 5% of the calls, over the kinds a dependency fails with.
var soakFaults = []faults.Rule{
	{Op: "*", Kind: faults.Throttle, Rate: 0.01},
	{Op: "*", Kind: faults.TransactionThrottled, Rate: 0.005},
	{Op: "*", Kind: faults.ServerError, Rate: 0.01},
	{Op: "*", Kind: faults.Drop, Rate: 0.01},
	{Op: "*", Kind: faults.DropResponse, Rate: 0.01},
	{Op: "*", Kind: faults.Latency, Rate: 0.005, Delay: 200 * time.Millisecond},
}

func soakRequests(t *testing.T) int {
	v := os.Getenv("PASSPORT_SOAK_REQUESTS")
	if v == "" {
		return 1500
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		t.Fatalf("PASSPORT_SOAK_REQUESTS=%q: want a positive number of requests", v)
	}
	return n
}

func TestSoak(t *testing.T) {
	tr := faults.New(nil, 20261203)
	s := mustStackWith(t, localapp.LocalOptions{HTTPClient: func(string) aws.HTTPClient { return tr.Client() }})
	total := soakRequests(t)

	tr.SetRules(soakFaults...)
	var budget atomic.Int64
	budget.Store(int64(total))
	clients := make([]*soakClient, soakClients)
	start := time.Now()
	var wg sync.WaitGroup
	for i := range clients {
		c := &soakClient{s: s, id: i, rng: rand.New(rand.NewPCG(uint64(i), 8))}
		clients[i] = c
		wg.Go(func() {
			for budget.Add(-1) >= 0 {
				c.step()
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	tr.SetRules()
	injected := tr.Take()

	var all soakClient
	for _, c := range clients {
		all.add(c)
		for _, e := range c.errs {
			t.Error(e)
		}
	}
	if len(injected.Injected) == 0 {
		t.Fatal("no fault was injected: the soak proved nothing")
	}
	checkAttempts(t, injected)

	// Faults off: every acknowledged write reads back as the model holds it.
	verified := verifyModels(t, clients)
	s.mustDrain(t)
	entries := s.mustAllAudit(t)
	checkOneEntryPerChange(t, clients, entries)
	checkNothingHalfWritten(t, testenv.Items(t, s.db, s.table))

	calls, attempts := sum(injected.Invocations), injected.Attempts()
	t.Logf("soak: %d requests (%d clients) in %v, %.0f req/s; %d client retries of a 503; answers %v",
		all.requests, soakClients, elapsed.Round(time.Millisecond), float64(all.requests)/elapsed.Seconds(), all.retries, all.statuses)
	t.Logf("soak: by operation %v", all.ops)
	t.Logf("soak: AWS calls %d, attempts at the wire %d (%d SDK retries), faults injected %d (%s), most attempts of one call %d",
		calls, attempts, attempts-calls, injected.Faults(), faultsByKind(injected), injected.MostAttempts)
	t.Logf("soak: latency p50 %v p99 %v max %v; 500s %d", all.percentile(0.5), all.percentile(0.99), all.percentile(1), all.statuses[500])
	ps := s.local.Stats()
	if ps.Failed > 0 {
		t.Errorf("%d stream records went to OnFailure", ps.Failed)
	}
	t.Logf("soak: audit function: %d invocations, %d failed (%d timed out), %d retries, %d bisections, %d records delivered, %d to OnFailure",
		ps.Invocations, ps.Errors, ps.TimedOut, ps.Retries, ps.Bisections, ps.Delivered, ps.Failed)
	t.Logf("soak: verified %d providers, %d grants, %d tokens; %d audit entries", verified.providers, verified.grants, verified.tokens, len(entries))
}

// soakClient is one client of the soak and its model of what it owns.
type soakClient struct {
	s   *stack
	id  int
	rng *rand.Rand

	providers []*ownedProvider
	grants    []*ownedGrant // every grant it made, revoked ones too
	users     int
	k         int // requests made, for unique names and keys

	requests, retries int
	statuses          map[int]int
	ops               map[string]int
	latencies         []time.Duration
	tokenReads        int // token reads answered 200
	errs              []string
}

type ownedProvider struct {
	id, clientID string
	version      int
}

type ownedGrant struct {
	id, providerID, user, token string
	version                     int
	revoked                     bool
}

func (c *soakClient) fail(format string, args ...any) {
	c.errs = append(c.errs, fmt.Sprintf("client %d: ", c.id)+fmt.Sprintf(format, args...))
}

// step makes one request of the mix (or a registration first).
func (c *soakClient) step() {
	c.k++
	switch r := c.rng.IntN(100); {
	case len(c.providers) == 0 || r < 6:
		c.register()
	case r < 12:
		c.patch()
	case r < 37:
		c.connect()
	case r < 42:
		c.revoke()
	case r < 62:
		c.readToken()
	default:
		c.read()
	}
}

// send makes one request, retrying a 503 as a careful client does (at most
// 20 times), and checks every answer is the envelope, never a 500, and a 503
// only with Retry-After.
func (c *soakClient) send(op, method, path, body string, headers map[string]string) answer {
	if c.statuses == nil {
		c.statuses, c.ops = map[int]int{}, map[string]int{}
	}
	c.ops[op]++
	for attempt := 1; ; attempt++ {
		start := time.Now()
		a := c.s.sendHeaders(method, path, body, headers)
		c.latencies = append(c.latencies, time.Since(start))
		c.requests++
		c.statuses[a.status]++
		if a.err != nil || a.status >= 500 && a.okOr503() != nil {
			c.fail("%s %s: %v (%d %s)", method, path, a.err, a.status, a.raw)
			return a
		}
		if a.status != 503 || attempt == 20 {
			return a
		}
		c.retries++
		time.Sleep(time.Duration(attempt*25) * time.Millisecond) // Retry-After, scaled down
	}
}

func (c *soakClient) register() {
	name := fmt.Sprintf("soak-%d-%d", c.id, c.k)
	a := c.send("register", "POST", "/api/v1/passport/providers", providerBody(name), map[string]string{"Idempotency-Key": name})
	if a.status != 201 {
		c.fail("register %s: %d %s", name, a.status, a.raw)
		return
	}
	c.providers = append(c.providers, &ownedProvider{id: a.data["id"].(string), clientID: "Iv1.faults", version: 1})
}

// patch updates one of its providers with If-Match. A retry of a PATCH
// that landed before its answer was lost answers 412: the client reads the
// provider back to learn whether its change is there.
func (c *soakClient) patch() {
	p := c.providers[c.rng.IntN(len(c.providers))]
	clientID := fmt.Sprintf("client-%d-%d", c.id, c.k)
	a := c.send("patch", "PATCH", "/api/v1/passport/providers/"+p.id, fmt.Sprintf(`{"clientId":%q}`, clientID),
		map[string]string{"If-Match": fmt.Sprintf(`"v%d"`, p.version)})
	switch a.status {
	case 200:
		p.clientID, p.version = clientID, etagVersion(a.etag)
	case 412:
		got := c.send("patch-readback", "GET", "/api/v1/passport/providers/"+p.id, "", nil)
		if got.status != 200 || got.data["clientId"] != clientID || etagVersion(got.etag) != p.version+1 {
			c.fail("patch %s answered 412, and it is not there: %d %s %s", p.id, got.status, got.etag, got.raw)
			return
		}
		p.clientID, p.version = clientID, p.version+1
	default:
		c.fail("patch %s: %d %s", p.id, a.status, a.raw)
	}
}

// connect grants a new user, or reconnects one of its users (a new token
// for the same grant; a new grant if the old one was revoked).
func (c *soakClient) connect() {
	var active *ownedGrant
	p := c.providers[c.rng.IntN(len(c.providers))]
	user := fmt.Sprintf("user-%d-%d", c.id, c.users)
	if c.users > 0 && c.rng.IntN(100) < 40 {
		g := c.grants[c.rng.IntN(len(c.grants))]
		p, user = &ownedProvider{id: g.providerID}, g.user
		active = c.activeGrant(g.providerID, g.user)
	} else {
		c.users++
	}
	token := fmt.Sprintf("gho_soak_%d_%d", c.id, c.k)
	key := fmt.Sprintf("grant-%d-%d", c.id, c.k)
	a := c.send("connect", "POST", "/api/v1/passport/authorizations", authorizationBody(p.id, user, token), map[string]string{"Idempotency-Key": key})
	switch {
	case active == nil && a.status == 201:
		c.grants = append(c.grants, &ownedGrant{id: a.data["id"].(string), providerID: p.id, user: user, token: token, version: 1})
	case active != nil && a.status == 200 && a.data["id"] == active.id && etagVersion(a.etag) == active.version+1:
		active.token, active.version = token, active.version+1
	default:
		c.fail("connect %s/%s (active %v): %d %s %s", p.id, user, active, a.status, a.etag, a.raw)
	}
}

func (c *soakClient) activeGrant(providerID, user string) *ownedGrant {
	for _, g := range c.grants {
		if g.providerID == providerID && g.user == user && !g.revoked {
			return g
		}
	}
	return nil
}

// revoke revokes one of its grants (without If-Match: revoking a revoked
// grant changes nothing, so a retry is safe).
func (c *soakClient) revoke() {
	if len(c.grants) == 0 {
		c.read()
		return
	}
	g := c.grants[c.rng.IntN(len(c.grants))]
	a := c.send("revoke", "DELETE", "/api/v1/passport/authorizations/"+g.id, "", nil)
	if a.status != 200 || a.data["status"] != "revoked" {
		c.fail("revoke %s: %d %s", g.id, a.status, a.raw)
		return
	}
	if !g.revoked {
		g.revoked, g.version = true, g.version+1
	}
	if v := etagVersion(a.etag); v != g.version {
		c.fail("revoke %s: version %d, want %d", g.id, v, g.version)
	}
}

func (c *soakClient) readToken() {
	if len(c.grants) == 0 {
		c.read()
		return
	}
	g := c.grants[c.rng.IntN(len(c.grants))]
	a := c.send("token", "GET", "/api/v1/passport/authorizations/"+g.id+"/token", "", nil)
	switch {
	case g.revoked && a.status == 410 && a.code == "AUTHORIZATION_REVOKED":
	case !g.revoked && a.status == 200 && a.data["token"] == g.token:
		c.tokenReads++
	default:
		c.fail("token of %s (revoked %v): %d %s", g.id, g.revoked, a.status, a.raw)
	}
}

// read is one of the token-free reads, checked against the model.
func (c *soakClient) read() {
	p := c.providers[c.rng.IntN(len(c.providers))]
	switch c.rng.IntN(4) {
	case 0:
		if a := c.send("list-providers", "GET", "/api/v1/passport/providers?limit=20", "", nil); a.status != 200 {
			c.fail("list providers: %d %s", a.status, a.raw)
		}
	case 1:
		a := c.send("get-provider", "GET", "/api/v1/passport/providers/"+p.id, "", nil)
		if a.status != 200 || a.data["clientId"] != p.clientID || etagVersion(a.etag) != p.version {
			c.fail("get provider %s: %d %s %s, want v%d %s", p.id, a.status, a.etag, a.raw, p.version, p.clientID)
		}
	case 2:
		if c.users == 0 {
			return
		}
		user := c.grants[c.rng.IntN(len(c.grants))].user
		if a := c.send("list-grants", "GET", "/api/v1/passport/authorizations?userId="+user, "", nil); a.status != 200 || !strings.Contains(a.raw, user) {
			c.fail("list grants of %s: %d %s", user, a.status, a.raw)
		}
	default:
		if a := c.send("audit", "GET", "/api/v1/passport/audit?limit=20&providerId="+p.id, "", nil); a.status != 200 {
			c.fail("audit of %s: %d %s", p.id, a.status, a.raw)
		}
	}
}

func etagVersion(etag string) int {
	n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(etag, `"v`), `"`))
	return n
}

// add sums o's counters into c.
func (c *soakClient) add(o *soakClient) {
	if c.statuses == nil {
		c.statuses, c.ops = map[int]int{}, map[string]int{}
	}
	c.requests += o.requests
	c.retries += o.retries
	c.tokenReads += o.tokenReads
	for k, v := range o.statuses {
		c.statuses[k] += v
	}
	for k, v := range o.ops {
		c.ops[k] += v
	}
	c.latencies = append(c.latencies, o.latencies...)
}

func (c *soakClient) percentile(p float64) time.Duration {
	if len(c.latencies) == 0 {
		return 0
	}
	slices.Sort(c.latencies)
	return c.latencies[min(int(p*float64(len(c.latencies))), len(c.latencies)-1)].Round(time.Millisecond)
}

type verifiedCounts struct{ providers, grants, tokens int }

// verifyModels reads back every provider and grant the clients own, without
// faults, soakClients at a time: each is there, at the version the model
// holds, with its fields; an active grant's token is the last one stored.
func verifyModels(t *testing.T, clients []*soakClient) verifiedCounts {
	t.Helper()
	var mu sync.Mutex
	var counts verifiedCounts
	var wg sync.WaitGroup
	for _, c := range clients {
		wg.Go(func() {
			for _, p := range c.providers {
				a := c.s.send("GET", "/api/v1/passport/providers/"+p.id, "")
				if a.status != 200 || etagVersion(a.etag) != p.version || a.data["clientId"] != p.clientID {
					c.fail("provider %s: %d %s %s, want v%d %s", p.id, a.status, a.etag, a.raw, p.version, p.clientID)
				}
			}
			for _, g := range c.grants {
				a := c.s.send("GET", "/api/v1/passport/authorizations/"+g.id, "")
				if a.status != 200 || etagVersion(a.etag) != g.version || (a.data["status"] == "revoked") != g.revoked {
					c.fail("grant %s: %d %s %s, want v%d revoked %v", g.id, a.status, a.etag, a.raw, g.version, g.revoked)
				}
				if !g.revoked {
					tok := c.s.send("GET", "/api/v1/passport/authorizations/"+g.id+"/token", "")
					if tok.status != 200 || tok.data["token"] != g.token {
						c.fail("token of %s: %d, not the last one stored", g.id, tok.status)
					}
					c.tokenReads++
					mu.Lock()
					counts.tokens++
					mu.Unlock()
				}
			}
			mu.Lock()
			counts.providers += len(c.providers)
			counts.grants += len(c.grants)
			mu.Unlock()
		})
	}
	wg.Wait()
	for _, c := range clients {
		for _, e := range c.errs {
			t.Error(e)
		}
		c.errs = nil
	}
	return counts
}

// checkOneEntryPerChange: each provider and grant has as many entries as
// changes (its version: created, then one per update, reconnect or revoke),
// no entry is there twice, none is about anything else, and every token
// read the clients saw answered has its entry.
func checkOneEntryPerChange(t *testing.T, clients []*soakClient, entries []map[string]any) {
	t.Helper()
	want := map[string]int{} // entity id -> changes
	tokenReads := 0
	for _, c := range clients {
		for _, p := range c.providers {
			want["provider "+p.id] = p.version
		}
		for _, g := range c.grants {
			want["authorization "+g.id] = g.version
		}
		tokenReads += c.tokenReads
	}
	got := map[string]int{}
	seen := map[string]bool{}
	readEntries := 0
	for _, e := range entries {
		id, _ := e["id"].(string)
		if seen[id] {
			t.Errorf("entry %s is there twice", id)
		}
		seen[id] = true
		action, _ := e["action"].(string)
		switch {
		case action == "authorization.token_read":
			readEntries++
		case strings.HasPrefix(action, "provider."):
			got["provider "+valueOr(e["providerId"])]++
		case strings.HasPrefix(action, "authorization."):
			got["authorization "+valueOr(e["authorizationId"])]++
		default:
			t.Errorf("entry of unknown action: %v", e)
		}
	}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("%s: %d audit entries, want %d", k, got[k], n)
		}
	}
	for k, n := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s: %d audit entries of something no client made", k, n)
		}
	}
	// A read whose record was written but whose answer was lost (or KMS
	// failed after it) has an entry too: at least one per answered read.
	if readEntries < tokenReads {
		t.Errorf("token_read entries = %d, want at least the %d reads answered", readEntries, tokenReads)
	}
}

func faultsByKind(c faults.Counts) string {
	var parts []string
	for _, k := range faults.Kinds {
		if n := c.Faults(k); n > 0 {
			parts = append(parts, fmt.Sprintf("%v %d", k, n))
		}
	}
	return strings.Join(parts, ", ")
}

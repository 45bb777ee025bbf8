package app_test

import (
	"fmt"
	"maps"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Race tests for every uniqueness and version rule, through the whole local
// stack: n clients at once, each rule must leave exactly one winner, and the
// trail exactly one entry per change that happened.
const racers = 50

// race runs request(i) for i in [0, racers) at once and counts the answers
// by status (0: not the envelope, or no answer).
func race(t *testing.T, request func(i int) answer) (map[int]int, []answer) {
	t.Helper()
	answers := make([]answer, racers)
	var wg sync.WaitGroup
	for i := range racers {
		wg.Go(func() { answers[i] = request(i) })
	}
	wg.Wait()
	statuses := map[int]int{}
	for i, a := range answers {
		if a.err != nil {
			t.Errorf("request %d: %v", i, a.err)
		}
		statuses[a.status]++
	}
	return statuses, answers
}

func wantStatuses(t *testing.T, what string, got, want map[int]int) {
	t.Helper()
	if !maps.Equal(got, want) {
		t.Fatalf("%s: statuses %v, want %v", what, got, want)
	}
}

// auditCounts drains the stream and counts the trail's entries by action.
func (s *stack) auditCounts(t *testing.T) map[string]int {
	t.Helper()
	counts := map[string]int{}
	for _, e := range s.mustAllAuditAfterDrain(t) {
		counts[e["action"].(string)]++
	}
	return counts
}

func TestRace_SameNameRegistrations(t *testing.T) {
	s := mustStack(t)
	statuses, answers := race(t, func(int) answer {
		return s.send("POST", "/api/v1/passport/providers", githubProvider)
	})
	wantStatuses(t, "registrations", statuses, map[int]int{201: 1, 409: racers - 1})
	for _, a := range answers {
		if a.status == 409 && a.code != "CONFLICT" {
			t.Errorf("409 with code %q", a.code)
		}
	}
	list := s.send("GET", "/api/v1/passport/providers", "")
	if n := strings.Count(list.raw, `"id":`); n != 1 {
		t.Errorf("providers listed = %d, want 1: %s", n, list.raw)
	}
	wantCounts(t, s.auditCounts(t), map[string]int{"provider.created": 1})
}

// Renaming racers providers to one name: one rename wins, the others
// conflict, and no two providers share the name.
func TestRace_RenamesToOneName(t *testing.T) {
	s := mustStack(t)
	ids := make([]string, racers)
	for i := range ids {
		a := s.send("POST", "/api/v1/passport/providers", strings.Replace(githubProvider, `"github"`, fmt.Sprintf(`"p%02d"`, i), 1))
		if a.status != 201 {
			t.Fatalf("register %d: %d %s", i, a.status, a.raw)
		}
		ids[i] = a.data["id"].(string)
	}
	statuses, _ := race(t, func(i int) answer {
		return s.send("PATCH", "/api/v1/passport/providers/"+ids[i], `{"name":"shared"}`)
	})
	wantStatuses(t, "renames", statuses, map[int]int{200: 1, 409: racers - 1})
	list := s.send("GET", "/api/v1/passport/providers?limit=200", "")
	if n := strings.Count(list.raw, `"name":"shared"`); n != 1 {
		t.Errorf("providers named shared = %d, want 1", n)
	}
	if n := strings.Count(list.raw, `"name":"p`); n != racers-1 {
		t.Errorf("providers keeping their name = %d, want %d", n, racers-1)
	}
	wantCounts(t, s.auditCounts(t), map[string]int{"provider.created": racers, "provider.updated": 1})
}

// Racing PATCHes with one If-Match: one 200, every other 412.
func TestRace_PatchesWithOneIfMatch(t *testing.T) {
	s := mustStack(t)
	_, id := s.mustProvider(t)
	statuses, answers := race(t, func(i int) answer {
		return s.sendHeaders("PATCH", "/api/v1/passport/providers/"+id, fmt.Sprintf(`{"clientId":"client-%d"}`, i), map[string]string{"If-Match": `"v1"`})
	})
	wantStatuses(t, "patches", statuses, map[int]int{200: 1, 412: racers - 1})
	var winner answer
	for _, a := range answers {
		if a.status == 200 {
			winner = a
		}
	}
	got := s.send("GET", "/api/v1/passport/providers/"+id, "")
	if got.etag != `"v2"` || got.data["clientId"] != winner.data["clientId"] {
		t.Errorf("after the race: ETag %s clientId %v, want \"v2\" and the winner's %v", got.etag, got.data["clientId"], winner.data["clientId"])
	}
	wantCounts(t, s.auditCounts(t), map[string]int{"provider.created": 1, "provider.updated": 1})
}

// Racing revokes with one If-Match: one 200, every other 412.
func TestRace_RevokesWithOneIfMatch(t *testing.T) {
	s := mustStack(t)
	_, pid := s.mustProvider(t)
	id := s.mustAuthorization(t, pid, "user-1", "")["id"].(string)
	statuses, _ := race(t, func(int) answer {
		return s.sendHeaders("DELETE", "/api/v1/passport/authorizations/"+id, "", map[string]string{"If-Match": `"v1"`})
	})
	wantStatuses(t, "revokes", statuses, map[int]int{200: 1, 412: racers - 1})
	wantCounts(t, s.auditCounts(t), map[string]int{"provider.created": 1, "authorization.created": 1, "authorization.revoked": 1})
}

// racers reconnects of one user to one provider, each with its own token:
// one grant, created once and replaced by every other; the token stored is
// the one of the replacement with the highest version.
func TestRace_ReconnectsOneGrant(t *testing.T) {
	s := mustStack(t)
	_, pid := s.mustProvider(t)
	var busy atomic.Int64
	statuses, answers := race(t, func(i int) answer {
		body := fmt.Sprintf(`{"providerId":%q,"userId":"same","scopes":["repo"],"token":"gho_%d","expiresAt":"2999-01-01T00:00:00Z"}`, pid, i)
		key := map[string]string{"Idempotency-Key": fmt.Sprint("reconnect-", i)}
		a, retried := retry503(10, 100*time.Millisecond, func() answer { // with its key
			return s.sendHeaders("POST", "/api/v1/passport/authorizations", body, key)
		})
		busy.Add(int64(retried))
		return a
	})
	t.Logf("503s retried by the clients: %d", busy.Load())
	wantStatuses(t, "reconnects", statuses, map[int]int{201: 1, 200: racers - 1})
	id, _ := answers[0].data["id"].(string)
	var last answer // the replacement that landed last: the highest version
	versions := map[string]bool{}
	for i, a := range answers {
		if a.data["id"] != id {
			t.Errorf("reconnect %d: id %v, want %v", i, a.data["id"], id)
		}
		versions[a.etag] = true
		if len(a.etag) > len(last.etag) || (len(a.etag) == len(last.etag) && a.etag > last.etag) {
			last = a
		}
	}
	if len(versions) != racers || last.etag != fmt.Sprintf(`"v%d"`, racers) {
		t.Errorf("versions answered = %d, highest %s; want %d distinct, up to \"v%d\"", len(versions), last.etag, racers, racers)
	}
	token := s.send("GET", "/api/v1/passport/authorizations/"+id+"/token", "")
	if token.status != 200 || token.data["token"] != last.data["token"] {
		t.Errorf("token read: %d %v, want the last replacement's %v", token.status, token.data["token"], last.data["token"])
	}
	list := s.send("GET", "/api/v1/passport/authorizations?userId=same", "")
	if n := strings.Count(list.raw, `"id":`); n != 1 {
		t.Errorf("grants listed = %d, want 1: %s", n, list.raw)
	}
	wantCounts(t, s.auditCounts(t), map[string]int{"provider.created": 1, "authorization.created": 1, "authorization.updated": racers - 1, "authorization.token_read": 1})
}

// Concurrent requests with one Idempotency-Key make one write and all
// answer it.
func TestRace_OneIdempotencyKey(t *testing.T) {
	s := mustStack(t)
	statuses, answers := race(t, func(int) answer {
		return s.sendHeaders("POST", "/api/v1/passport/providers", githubProvider, map[string]string{"Idempotency-Key": "race"})
	})
	wantStatuses(t, "idempotent registrations", statuses, map[int]int{201: racers})
	for i, a := range answers {
		if a.data["id"] != answers[0].data["id"] {
			t.Errorf("request %d: id %v, want %v", i, a.data["id"], answers[0].data["id"])
		}
	}
	wantCounts(t, s.auditCounts(t), map[string]int{"provider.created": 1})
}

func wantCounts(t *testing.T, got, want map[string]int) {
	t.Helper()
	if !maps.Equal(got, want) {
		t.Errorf("audit entries by action = %v, want %v", got, want)
	}
}

package app_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/passport-oss/passport/internal/httpapi/openapitest"
	"github.com/passport-oss/passport/internal/localapp"
	"github.com/passport-oss/passport/internal/localstack"
)

// chaos wraps the audit function with the faults a stream consumer meets,
// in turn: a whole batch that fails, a batch cut short at one record
// (reported by its SequenceNumber, as a timeout mid-batch would leave it), a
// batch delivered twice, then two clean deliveries. The pollers' retries,
// bisection and redelivery must still leave exactly one entry per change.
// The cycle never fails one batch more often than the mapping's retry limit.
type chaos struct {
	invoked, failed, cut, twice atomic.Int64
}

func (c *chaos) wrap(next localstack.StreamFunc) localstack.StreamFunc {
	return func(ctx context.Context, ev events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
		switch n := c.invoked.Add(1); {
		case n%5 == 1:
			c.failed.Add(1)
			return events.DynamoDBEventResponse{}, errors.New("chaos: the function failed")
		case n%5 == 2 && len(ev.Records) > 1:
			c.cut.Add(1)
			at := len(ev.Records) / 2
			head := ev
			head.Records = ev.Records[:at]
			resp, err := next(ctx, head)
			if err != nil || len(resp.BatchItemFailures) > 0 {
				return resp, err
			}
			return events.DynamoDBEventResponse{BatchItemFailures: []events.DynamoDBBatchItemFailure{
				{ItemIdentifier: ev.Records[at].Change.SequenceNumber},
			}}, nil
		case n%5 == 3:
			c.twice.Add(1)
			if _, err := next(ctx, ev); err != nil {
				return events.DynamoDBEventResponse{}, err
			}
		}
		return next(ctx, ev)
	}
}

// 500 changes, some concurrent, through the local stack while the audit
// function fails, is cut short and is redelivered: afterwards every change
// has exactly one audit entry and nothing else is there.
func TestAuditIsCompleteUnderConsumerFaults(t *testing.T) {
	c := &chaos{}
	s := mustStackWith(t, localapp.LocalOptions{WrapStream: c.wrap})

	const providers, perProvider = 20, 24 // 20 registrations + 480 authorizations
	want := map[string]bool{}
	var mu sync.Mutex
	providerIDs := make([]string, providers)
	for i := range providers {
		status, env := s.postRetrying(t, "/api/v1/passport/providers", strings.Replace(githubProvider, `"github"`, fmt.Sprintf(`"p%02d"`, i), 1), fmt.Sprintf("chaos-p%d", i))
		if status != 201 {
			t.Fatalf("register %d: %d %v", i, status, env)
		}
		providerIDs[i] = data(t, env)["id"].(string)
		want["provider.created "+providerIDs[i]+" "] = true
	}
	// Authorizations in waves of 8 concurrent requests, the stream drained
	// between waves, so the faults meet many batches.
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i := range providers * perProvider {
		if i%60 == 59 {
			wg.Wait()
			s.mustDrain(t)
		}
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			pid, user := providerIDs[i%providers], fmt.Sprintf("user-%03d", i)
			body := fmt.Sprintf(`{"providerId":%q,"userId":%q,"scopes":["repo"],"token":"gho_%03d","expiresAt":"2999-01-01T00:00:00Z"}`, pid, user, i)
			status, env := s.postRetrying(t, "/api/v1/passport/authorizations", body, fmt.Sprintf("chaos-%d", i))
			if status != 201 {
				t.Errorf("authorization %d: %d %v", i, status, env)
				return
			}
			mu.Lock()
			want["authorization.created "+pid+" "+user] = true
			mu.Unlock()
		})
	}
	wg.Wait()

	s.mustDrain(t)
	got, distinct := s.trailByChange(t)
	checkOncePerChange(t, "", got, want, distinct)
	t.Logf("%d changes; audit function invoked %d times: %d failed, %d cut short, %d delivered twice",
		len(want), c.invoked.Load(), c.failed.Load(), c.cut.Load(), c.twice.Load())
	if c.failed.Load() == 0 || c.cut.Load() == 0 || c.twice.Load() == 0 {
		t.Error("the faults were not all exercised")
	}
	s.assertNoPlaintext(t, "gho_")
}

// trailByChange pages through the whole trail and counts its entries by the
// change they record ("action providerId userId"), and how many distinct
// entries there are.
func (s *stack) trailByChange(t *testing.T) (map[string]int, int) {
	t.Helper()
	got, ids := map[string]int{}, map[string]bool{}
	for _, e := range s.mustAllAudit(t) {
		got[fmt.Sprintf("%v %v %v", e["action"], e["providerId"], valueOr(e["userId"]))]++
		ids[e["id"].(string)] = true
	}
	return got, len(ids)
}

// checkOncePerChange fails t unless the trail (got, distinct, from
// trailByChange) holds every change of want exactly once and nothing else.
func checkOncePerChange(t *testing.T, when string, got map[string]int, want map[string]bool, distinct int) {
	t.Helper()
	for k := range want {
		if got[k] != 1 {
			t.Errorf("%s%s: %d entries, want 1", when, k, got[k])
		}
	}
	for k, n := range got {
		if !want[k] {
			t.Errorf("%sunexpected entry %s (%d)", when, k, n)
		}
	}
	if distinct != len(want) {
		t.Errorf("%s%d distinct entries for %d changes", when, distinct, len(want))
	}
}

// postRetrying POSTs body as a careful client does: with an Idempotency-Key,
// retrying a 503 a few times, so a write that committed before its answer
// was lost is answered, not made twice.
func (s *stack) postRetrying(t *testing.T, path, body, key string) (int, map[string]any) {
	t.Helper()
	client := openapitest.Client(t)
	for attempt := 1; ; attempt++ {
		req, err := http.NewRequest("POST", s.url+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", key)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var env map[string]any
		err = json.NewDecoder(resp.Body).Decode(&env)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("POST %s: %v", path, err)
		}
		if resp.StatusCode != http.StatusServiceUnavailable || attempt == 5 {
			return resp.StatusCode, env
		}
		time.Sleep(time.Duration(attempt) * 200 * time.Millisecond)
	}
}

// mustDrain waits until the pollers have delivered all the stream holds.
func (s *stack) mustDrain(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := s.local.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
}

func valueOr(v any) string {
	if v == nil {
		return ""
	}
	return v.(string)
}

// mustAllAudit pages through the whole trail.
func (s *stack) mustAllAudit(t *testing.T) []map[string]any {
	t.Helper()
	var all []map[string]any
	path := "/api/v1/passport/audit?limit=200"
	for pages := 0; ; pages++ {
		status, _, env := s.curl(t, "GET", path, "")
		if status != 200 || pages > 100 {
			t.Fatalf("audit page %d: %d %v", pages, status, env)
		}
		list, _ := env["data"].([]any)
		for _, e := range list {
			all = append(all, e.(map[string]any))
		}
		next, _ := env["nextCursor"].(string)
		if next == "" {
			return all
		}
		path = "/api/v1/passport/audit?limit=200&cursor=" + next
	}
}

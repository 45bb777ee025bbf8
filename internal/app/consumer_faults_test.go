package app_test

import (
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"

	"github.com/passport-oss/passport/internal/auditreplay"
	"github.com/passport-oss/passport/internal/localapp"
	"github.com/passport-oss/passport/internal/localstack"
	"github.com/passport-oss/passport/internal/testenv"
)

// dyingConsumer wraps the audit function with the ways a stream consumer
// dies:
//   - poison: until healed, a record of the provider named "poison" (its
//     registration or one of its grants) makes the function panic, after it
//     wrote the entries of the records before it in the batch;
//   - hang: the 1st and 4th invocations eligible for it (more than one
//     record, no poison) write half their batch, then hang past the
//     mapping's Timeout, ignoring their context, and answer success: an
//     answer Lambda never gets, which the poller must drop;
//   - die: the 2nd and 6th write half their batch, then hang until the test
//     has restarted the pollers (RestartPollers), and answer success.
type dyingConsumer struct {
	hang     time.Duration          // longer than the mapping's Timeout
	restart  chan chan struct{}     // the test restarts the pollers, then closes the channel sent
	fn       localstack.StreamFunc  // the wrapped function
	healed   atomic.Bool            // no more faults
	poisonID atomic.Pointer[string] // the poison provider's id, once registered
	invoked  atomic.Int64           // invocations
	eligible atomic.Int64           // invocations eligible for a hang or a death

	panicked, hung, died atomic.Int64 // invocations that did so

	mu         sync.Mutex
	poisonSeqs map[string]bool // sequence numbers of the poison records met
}

func (c *dyingConsumer) wrap(next localstack.StreamFunc) localstack.StreamFunc {
	c.fn = func(ctx context.Context, ev events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
		if c.healed.Load() {
			return next(ctx, ev)
		}
		c.invoked.Add(1)
		for i, r := range ev.Records {
			if c.isPoison(r) {
				c.mu.Lock()
				c.poisonSeqs[r.Change.SequenceNumber] = true
				c.mu.Unlock()
				if i > 0 {
					_, _ = next(ctx, events.DynamoDBEvent{Records: ev.Records[:i]})
				}
				c.panicked.Add(1)
				panic("audit: cannot handle record " + r.EventID)
			}
		}
		if len(ev.Records) < 2 {
			return next(ctx, ev)
		}
		switch c.eligible.Add(1) {
		case 1, 4:
			_, _ = next(ctx, events.DynamoDBEvent{Records: ev.Records[:len(ev.Records)/2]})
			c.hung.Add(1)
			time.Sleep(c.hang)
			return events.DynamoDBEventResponse{}, nil
		case 2, 6:
			_, _ = next(ctx, events.DynamoDBEvent{Records: ev.Records[:len(ev.Records)/2]})
			c.died.Add(1)
			restarted := make(chan struct{})
			select {
			case c.restart <- restarted:
				<-restarted
			case <-time.After(time.Minute):
			}
			return events.DynamoDBEventResponse{}, nil
		}
		return next(ctx, ev)
	}
	return c.fn
}

func (c *dyingConsumer) isPoison(r events.DynamoDBEventRecord) bool {
	str := func(name string) string {
		v, ok := r.Change.NewImage[name]
		if !ok || v.DataType() != events.DataTypeString {
			return ""
		}
		return v.String()
	}
	switch pk := r.Change.Keys["PK"].String(); {
	case strings.HasPrefix(pk, "PROVIDER#"):
		return str("name") == "poison"
	case strings.HasPrefix(pk, "AUTHZ#"):
		id := c.poisonID.Load()
		return id != nil && str("providerId") == *id
	}
	return false
}

// 100 changes through the local stack while the audit function panics on a
// poison provider's records, hangs past its timeout and dies with its
// pollers, which are restarted: afterwards every other change has exactly
// one audit entry and nothing else is there; each poison record is in the
// failures file, alone, after MaximumRetryAttempts+1 invocations. Replaying
// the file (as `make replay-audit` does) with the function healed gives
// each poison change its one entry: the trail ends with exactly one entry
// per change.
func TestAuditSurvivesADyingConsumer(t *testing.T) {
	start := time.Now()
	const timeout = 2 * time.Second
	c := &dyingConsumer{hang: timeout + 500*time.Millisecond, restart: make(chan chan struct{}), poisonSeqs: map[string]bool{}}
	failures := filepath.Join(t.TempDir(), "audit-failures.jsonl")
	maxRetries := -1
	s := mustStackWith(t, localapp.LocalOptions{
		WrapStream:   c.wrap,
		FailuresFile: failures,
		Mapping: func(_ string, m *localstack.PollerConfig) {
			m.Timeout, m.RetryBackoff = timeout, 20*time.Millisecond
			maxRetries = m.MaximumRetryAttempts
		},
	})
	ctx, cancel := context.WithCancel(context.Background())
	var restarts atomic.Int64
	var watcher sync.WaitGroup
	watcher.Go(func() {
		for {
			select {
			case restarted := <-c.restart:
				if err := s.local.RestartPollers(ctx); err != nil {
					t.Errorf("RestartPollers: %v", err)
				}
				restarts.Add(1)
				close(restarted)
			case <-ctx.Done():
				return
			}
		}
	})
	defer func() { cancel(); watcher.Wait() }()

	// 5 registrations, then 95 grants: 3 of the poison provider, 23 of each
	// other, in waves of 24 (8 at a time), the stream drained between
	// waves so the faults meet many batches.
	want := map[string]bool{}   // "action providerId userId" of every change
	poison := map[string]bool{} // those of the poison provider
	var ids []string
	for i, name := range []string{"poison", "p1", "p2", "p3", "p4"} {
		status, env := s.postRetrying(t, "/api/v1/passport/providers", strings.Replace(githubProvider, `"github"`, `"`+name+`"`, 1), fmt.Sprintf("dying-p%d", i))
		if status != 201 {
			t.Fatalf("register %s: %d %v", name, status, env)
		}
		id := data(t, env)["id"].(string)
		ids = append(ids, id)
		want["provider.created "+id+" "] = true
		if name == "poison" {
			c.poisonID.Store(&id)
			poison["provider.created "+id+" "] = true
		}
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i := range 95 {
		if i > 0 && i%24 == 0 {
			wg.Wait()
			s.mustDrain(t)
		}
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			pid := ids[1+i%4]
			if i%31 == 7 {
				pid = ids[0]
			}
			user := fmt.Sprintf("user-%03d", i)
			body := fmt.Sprintf(`{"providerId":%q,"userId":%q,"scopes":["repo"],"token":"gho_%03d","expiresAt":"2999-01-01T00:00:00Z"}`, pid, user, i)
			status, env := s.postRetrying(t, "/api/v1/passport/authorizations", body, fmt.Sprintf("dying-%d", i))
			if status != 201 {
				t.Errorf("authorization %d: %d %v", i, status, env)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			want["authorization.created "+pid+" "+user] = true
			if pid == ids[0] {
				poison["authorization.created "+pid+" "+user] = true
			}
		})
	}
	wg.Wait()
	s.mustDrain(t)
	stats := s.local.Stats()

	// Every change but the poison ones has exactly one entry.
	notPoison := maps.Clone(want)
	for k := range poison {
		delete(notPoison, k)
	}
	got, distinct := s.trailByChange(t)
	checkOncePerChange(t, "before the replay, ", got, notPoison, distinct)

	// Each poison record went to OnFailure once, alone, after bounded retries.
	msgs, err := auditreplay.FileSource{Path: failures}.Messages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	failed := map[string]bool{}
	for _, m := range msgs {
		b, rc := m.Failure.DDBStreamBatchInfo, m.Failure.RequestContext
		if b.BatchSize != 1 || b.StartSequenceNumber != b.EndSequenceNumber || rc.Condition != localstack.ConditionRetryAttemptsExhausted || rc.ApproximateInvokeCount != maxRetries+1 {
			t.Errorf("OnFailure message %+v %+v: want one record after %d invocations", rc, b, maxRetries+1)
		}
		failed[b.StartSequenceNumber] = true
	}
	c.mu.Lock()
	poisonRecords := len(c.poisonSeqs)
	for seq := range c.poisonSeqs {
		if !failed[seq] {
			t.Errorf("poison record %s is not in the failures file", seq)
		}
	}
	for seq := range failed {
		if !c.poisonSeqs[seq] {
			t.Errorf("record %s in the failures file is not a poison record", seq)
		}
	}
	c.mu.Unlock()
	if len(msgs) != len(poison) || poisonRecords != len(poison) {
		t.Errorf("%d OnFailure messages, %d poison records met, for %d poison changes", len(msgs), poisonRecords, len(poison))
	}

	// Healed, the function replays the file: the trail is whole.
	c.healed.Store(true)
	awsCfg := testenv.AWSConfig(t, nil)
	replayer := &auditreplay.Replayer{Streams: dynamodbstreams.NewFromConfig(awsCfg), Invoke: c.fn, Region: awsCfg.Region}
	sum, err := auditreplay.Run(ctx, auditreplay.FileSource{Path: failures}, replayer, nil)
	if err != nil || sum.Replayed != len(poison) || sum.Records != len(poison) {
		t.Errorf("replay: %+v, %v; want %d messages of one record replayed", sum, err, len(poison))
	}
	if left, _ := (auditreplay.FileSource{Path: failures}).Messages(ctx); len(left) != 0 {
		t.Errorf("%d messages left in the failures file after the replay", len(left))
	}
	got, distinct = s.trailByChange(t)
	checkOncePerChange(t, "after the replay, ", got, want, distinct)

	t.Logf("%d changes (%d poison) in %v; audit function invoked %d times: %d panicked, %d hung past the %v timeout, %d died with the pollers (%d restarts)",
		len(want), len(poison), time.Since(start).Round(100*time.Millisecond), c.invoked.Load(), c.panicked.Load(), c.hung.Load(), timeout, c.died.Load(), restarts.Load())
	t.Logf("pollers: %d invocations, %d failed (%d timed out), %d bisections, %d retries, %d records delivered, %d to OnFailure; replay: %d records",
		stats.Invocations, stats.Errors, stats.TimedOut, stats.Bisections, stats.Retries, stats.Delivered, stats.Failed, sum.Records)
	if c.panicked.Load() == 0 || c.hung.Load() != 2 || c.died.Load() != 2 || restarts.Load() != 2 || stats.TimedOut < 2 {
		t.Error("the faults were not all exercised")
	}
}

package auditreplay_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"

	"github.com/passport-oss/passport/internal/audit"
	"github.com/passport-oss/passport/internal/auditreplay"
	"github.com/passport-oss/passport/internal/dynamo"
	"github.com/passport-oss/passport/internal/localstack"
	"github.com/passport-oss/passport/internal/passport"
	"github.com/passport-oss/passport/internal/testenv"
)

// fixture: a table whose stream is polled into an audit function that always
// fails, so every batch ends in the local OnFailure file.
type fixture struct {
	store     *dynamo.Store
	streams   *dynamodbstreams.Client
	failures  string
	poller    *localstack.Poller
	handler   *audit.Handler
	streamARN string
}

func mustFixture(t *testing.T) *fixture {
	t.Helper()
	db := testenv.DynamoDB(t)
	table := testenv.NewTable(t, db)
	streams := dynamodbstreams.NewFromConfig(testenv.AWSConfig(t, nil))
	arn, err := localstack.LatestStreamARN(context.Background(), db, table)
	if err != nil {
		t.Fatal(err)
	}
	store := dynamo.New(db, dynamo.Config{Table: table})
	f := &fixture{store: store, streams: streams, streamARN: arn,
		failures: filepath.Join(t.TempDir(), "audit-failures.jsonl"),
		handler:  &audit.Handler{Writer: store, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}}

	m, err := testenv.Template(t).StreamMapping("AuditStreamFunction")
	if err != nil {
		t.Fatal(err)
	}
	cfg := localstack.PollerConfigFromMapping(m)
	cfg.Streams, cfg.StreamARN, cfg.Region = streams, arn, "us-east-1"
	cfg.MaximumBatchingWindow, cfg.MaximumRetryAttempts = 0, 1
	cfg.PollInterval, cfg.RetryBackoff = 20*time.Millisecond, 5*time.Millisecond
	cfg.Invoke = func(context.Context, events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
		return events.DynamoDBEventResponse{}, errors.New("the audit function is down")
	}
	cfg.OnFailure = localstack.AppendFailureFile(f.failures)
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	if f.poller, err = localstack.NewPoller(cfg); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = f.poller.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return f
}

func (f *fixture) mustProviders(t *testing.T, n int) {
	t.Helper()
	for i := range n {
		p := &passport.Provider{Name: fmt.Sprintf("p%d", i), Type: "oauth2", ClientID: "c", Scopes: []string{"s"}, RedirectURI: "https://a.example/cb"}
		if err := f.store.CreateProvider(context.Background(), p); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := f.poller.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) entries(t *testing.T) int {
	t.Helper()
	list, _, err := f.store.ListAuditEntries(context.Background(), passport.AuditFilter{}, passport.Page{Limit: 200})
	if err != nil {
		t.Fatal(err)
	}
	return len(list)
}

func (f *fixture) replayer() *auditreplay.Replayer {
	return &auditreplay.Replayer{Streams: f.streams, Invoke: f.handler.Handle, Region: "us-east-1"}
}

// Batches the function gave up on are replayed from the OnFailure file:
// every change gets its one entry, and the file empties.
func TestRunReplaysTheFailureFile(t *testing.T) {
	f := mustFixture(t)
	f.mustProviders(t, 5)
	if got := f.poller.Stats().Failed; got != 5 {
		t.Fatalf("records sent to OnFailure = %d, want 5", got)
	}
	if n := f.entries(t); n != 0 {
		t.Fatalf("entries before replay = %d, want 0", n)
	}

	src := auditreplay.FileSource{Path: f.failures}
	sum, err := auditreplay.Run(context.Background(), src, f.replayer(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Replayed == 0 || sum.Failed != 0 || sum.Replayed != sum.Messages {
		t.Errorf("summary = %+v", sum)
	}
	if n := f.entries(t); n != 5 {
		t.Errorf("entries after replay = %d, want 5", n)
	}
	left, err := src.Messages(context.Background())
	if err != nil || len(left) != 0 {
		t.Errorf("messages left = %d (%v), want 0", len(left), err)
	}
}

// Replaying a batch twice adds nothing the second time.
func TestReplayIsIdempotent(t *testing.T) {
	f := mustFixture(t)
	f.mustProviders(t, 3)
	msgs, err := auditreplay.FileSource{Path: f.failures}.Messages(context.Background())
	if err != nil || len(msgs) == 0 {
		t.Fatalf("messages %d, %v", len(msgs), err)
	}
	for range 2 {
		for _, m := range msgs {
			if _, err := f.replayer().Replay(context.Background(), m.Failure.DDBStreamBatchInfo); err != nil {
				t.Fatal(err)
			}
		}
	}
	if n := f.entries(t); n != 3 {
		t.Errorf("entries = %d, want 3", n)
	}
}

// A replay the function fails keeps its message for the next run.
func TestRunKeepsMessagesItCannotReplay(t *testing.T) {
	f := mustFixture(t)
	f.mustProviders(t, 2)
	src := auditreplay.FileSource{Path: f.failures}
	before, _ := os.ReadFile(f.failures)
	broken := &auditreplay.Replayer{Streams: f.streams, Region: "us-east-1",
		Invoke: func(context.Context, events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
			return events.DynamoDBEventResponse{}, errors.New("still down")
		}}
	sum, err := auditreplay.Run(context.Background(), src, broken, nil)
	if err == nil || sum.Failed != sum.Messages || sum.Replayed != 0 {
		t.Fatalf("summary %+v err %v", sum, err)
	}
	if after, _ := os.ReadFile(f.failures); string(after) != string(before) {
		t.Error("the failure file changed although nothing was replayed")
	}
}

func TestReplayRejectsIncompleteInfo(t *testing.T) {
	r := &auditreplay.Replayer{}
	if _, err := r.Replay(context.Background(), localstack.DDBStreamBatchInfo{ShardID: "s"}); err == nil {
		t.Error("no error for a message without sequence numbers")
	}
}

package audit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/passport-oss/passport/internal/audit"
	"github.com/passport-oss/passport/internal/dynamo"
	"github.com/passport-oss/passport/internal/passport"
	"github.com/passport-oss/passport/internal/testenv"
)

func mustEvent(t *testing.T) events.DynamoDBEvent {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testenv.RepoRoot(t), "events", "audit-stream.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ev events.DynamoDBEvent
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatal(err)
	}
	return ev
}

func TestEntry_FixtureRecords(t *testing.T) {
	ev := mustEvent(t)
	want := []struct{ action, providerID, userID string }{
		{passport.ActionProviderCreated, "p1q2r3s4", ""},
		{passport.ActionAuthorizationCreated, "p1q2r3s4", "user-abc"},
		{passport.ActionAuthorizationUpdated, "p1q2r3s4", "user-abc"},
		{passport.ActionAuthorizationExpired, "", ""}, // TTL purge, real AWS shape
		{passport.ActionAuthorizationExpired, "", ""}, // TTL purge, DynamoDB Local shape
		{"", "", ""}, // an audit item: never audited
	}
	if len(ev.Records) != len(want) {
		t.Fatalf("fixture has %d records, want %d", len(ev.Records), len(want))
	}
	for i, w := range want {
		e, err := audit.Entry(&ev.Records[i])
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		if w.action == "" {
			if e != nil {
				t.Errorf("record %d: entry %+v for an unaudited item", i, e)
			}
			continue
		}
		if e == nil || e.Action != w.action {
			t.Fatalf("record %d: entry %+v, want action %s", i, e, w.action)
		}
		if w.providerID != "" && (e.ProviderID != w.providerID || e.UserID != w.userID) {
			t.Errorf("record %d: provider %q user %q, want %q %q", i, e.ProviderID, e.UserID, w.providerID, w.userID)
		}
		if e.ID != audit.EntryID(ev.Records[i].EventID) || e.Timestamp.IsZero() {
			t.Errorf("record %d: id %q timestamp %v", i, e.ID, e.Timestamp)
		}
	}
}

func TestEntry_CreationTimeIsTheItemsOwn(t *testing.T) {
	ev := mustEvent(t)
	e, err := audit.Entry(&ev.Records[0])
	if err != nil {
		t.Fatal(err)
	}
	if got, want := passport.FormatTime(e.Timestamp), ev.Records[0].Change.NewImage["createdAt"].String(); got != want {
		t.Errorf("timestamp = %s, want the item's createdAt %s", got, want)
	}
}

func TestEntry_NeverCopiesSecrets(t *testing.T) {
	ev := mustEvent(t)
	for i := range ev.Records {
		e, _ := audit.Entry(&ev.Records[i])
		if s := fmt.Sprintf("%+v", e); strings.Contains(s, "tokenCiphertext") || strings.Contains(s, "AQID") {
			t.Errorf("record %d: entry %s carries token material", i, s)
		}
	}
}

func TestEntryID_StableAndDistinct(t *testing.T) {
	a, b := audit.EntryID("e1"), audit.EntryID("e2")
	if a != audit.EntryID("e1") || a == b || len(a) != 26 {
		t.Errorf("ids %q %q", a, b)
	}
}

// storeFixture is the handler writing to a fresh table of DynamoDB Local.
type storeFixture struct {
	store   *dynamo.Store
	handler *audit.Handler
}

func mustStore(t *testing.T) *storeFixture {
	t.Helper()
	db := testenv.DynamoDB(t)
	store := dynamo.New(db, dynamo.Config{Table: testenv.NewTable(t, db)})
	return &storeFixture{store: store, handler: &audit.Handler{Writer: store}}
}

func (f *storeFixture) entries(t *testing.T) []*passport.AuditEntry {
	t.Helper()
	list, _, err := f.store.ListAuditEntries(context.Background(), passport.AuditFilter{}, passport.Page{Limit: 200})
	if err != nil {
		t.Fatal(err)
	}
	return list
}

func TestHandle_RedeliveredBatchWritesOnce(t *testing.T) {
	f := mustStore(t)
	ev := mustEvent(t)
	for range 2 {
		resp, err := f.handler.Handle(context.Background(), ev)
		if err != nil || len(resp.BatchItemFailures) != 0 {
			t.Fatalf("resp %+v err %v", resp, err)
		}
	}
	got := f.entries(t)
	if len(got) != 5 {
		t.Fatalf("entries = %d, want 5 (one per audited record)", len(got))
	}
	ids := map[string]bool{}
	for _, e := range got {
		ids[e.ID] = true
	}
	for i, r := range ev.Records[:5] {
		if !ids[audit.EntryID(r.EventID)] {
			t.Errorf("record %d has no entry", i)
		}
	}
}

// failingWriter fails writes that include the entry with id failID, once.
type failingWriter struct {
	next   audit.Writer
	failID string
	mu     sync.Mutex
	failed bool
}

func (w *failingWriter) PutAuditEntries(ctx context.Context, entries []*passport.AuditEntry) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for i, e := range entries {
		if e.ID == w.failID && !w.failed {
			w.failed = true
			n, err := w.next.PutAuditEntries(ctx, entries[:i])
			if err != nil {
				return n, err
			}
			return i, errors.New("injected write failure")
		}
	}
	return w.next.PutAuditEntries(ctx, entries)
}

func TestHandle_FailedRecordIsReportedBySequenceNumber(t *testing.T) {
	f := mustStore(t)
	ev := mustEvent(t)
	failing := &failingWriter{next: f.store, failID: audit.EntryID(ev.Records[2].EventID)}
	h := &audit.Handler{Writer: failing}

	resp, err := h.Handle(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	want := ev.Records[2].Change.SequenceNumber
	if len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != want {
		t.Fatalf("failures = %+v, want the third record's SequenceNumber %s", resp.BatchItemFailures, want)
	}
	if n := len(f.entries(t)); n != 2 {
		t.Fatalf("entries after failure = %d, want the 2 before the failed record", n)
	}
	// The event source mapping redelivers from the failed record on.
	retry := ev
	retry.Records = ev.Records[2:]
	if resp, err := h.Handle(context.Background(), retry); err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("redelivery: %+v %v", resp, err)
	}
	if n := len(f.entries(t)); n != 5 {
		t.Fatalf("entries after redelivery = %d, want 5", n)
	}
}

func TestHandle_PoisonRecordStopsTheBatchThere(t *testing.T) {
	f := mustStore(t)
	ev := mustEvent(t)
	poison := ev.Records[1]
	poison.Change.NewImage = nil // an authorization change with no image: unreadable
	ev.Records = []events.DynamoDBEventRecord{ev.Records[0], poison, ev.Records[2]}

	resp, err := f.handler.Handle(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != poison.Change.SequenceNumber {
		t.Fatalf("failures = %+v, want the poison record", resp.BatchItemFailures)
	}
	if n := len(f.entries(t)); n != 1 {
		t.Fatalf("entries = %d, want 1 (the record before the poison one)", n)
	}
}

// One structured line per batch, with its counts and lag, and nothing of the
// item images.
func TestHandle_LogsOneLinePerBatch(t *testing.T) {
	f := mustStore(t)
	var logs bytes.Buffer
	h := &audit.Handler{Writer: f.store, Logger: slog.New(slog.NewJSONHandler(&logs, nil))}
	if _, err := h.Handle(context.Background(), mustEvent(t)); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("log lines = %d, want 1: %s", len(lines), logs.String())
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"msg": "audit batch", "records": 6.0, "written": 5.0, "skipped": 1.0, "failed": false}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	if _, ok := got["lagMs"].(float64); !ok {
		t.Errorf("no lagMs in %v", got)
	}
	for _, secret := range []string{"tokenCiphertext", "clientId", "Iv1.", "redirectUri"} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("the log line holds %q: %s", secret, logs.String())
		}
	}
}

// One EMF line per batch: entries written, records failed, lag.
func TestHandle_EmitsBatchMetrics(t *testing.T) {
	f := mustStore(t)
	var emf bytes.Buffer
	h := &audit.Handler{Writer: f.store, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Metrics: &emf}
	if _, err := h.Handle(context.Background(), mustEvent(t)); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(emf.Bytes(), &got); err != nil {
		t.Fatalf("metrics line %q: %v", emf.String(), err)
	}
	if got["AuditRecordsWritten"] != 5.0 || got["AuditRecordsFailed"] != 0.0 || got["_aws"] == nil {
		t.Errorf("metrics = %v", got)
	}
}

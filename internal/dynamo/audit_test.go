package dynamo_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/passport-oss/passport/internal/passport"
	"github.com/passport-oss/passport/internal/testenv"
)

// mustAuditEntries writes n entries spread over 3 providers, 5 users, every
// action and one day, and returns them.
func (f *fixture) mustAuditEntries(t *testing.T, n int) []*passport.AuditEntry {
	t.Helper()
	rnd := rand.New(rand.NewPCG(1, 2))
	entries := make([]*passport.AuditEntry, n)
	for i := range entries {
		e := &passport.AuditEntry{
			ID:         fmt.Sprintf("%c%05d", 'a'+rnd.IntN(26), i), // first character picks the shard
			Action:     passport.AuditActions[rnd.IntN(len(passport.AuditActions))],
			ProviderID: "p" + strconv.Itoa(rnd.IntN(3)),
			Timestamp:  f.now.Add(time.Duration(rnd.IntN(86_400_000)) * time.Millisecond),
			Actor:      passport.Actor{Type: passport.ActorUser, ID: "admin"},
		}
		if e.Action != passport.ActionProviderCreated {
			e.UserID = "u" + strconv.Itoa(rnd.IntN(5))
		}
		entries[i] = e
	}
	if n, err := f.store.PutAuditEntries(context.Background(), entries); err != nil || n != len(entries) {
		t.Fatalf("put: %d, %v", n, err)
	}
	return entries
}

// want filters and orders entries as the trail must: newest first.
func want(entries []*passport.AuditEntry, f passport.AuditFilter) []string {
	var out []*passport.AuditEntry
	for _, e := range entries {
		if (f.ProviderID == "" || e.ProviderID == f.ProviderID) && (f.UserID == "" || e.UserID == f.UserID) &&
			(f.Action == "" || e.Action == f.Action) && (f.Since.IsZero() || !e.Timestamp.Before(f.Since)) &&
			(f.Until.IsZero() || !e.Timestamp.After(f.Until)) {
			out = append(out, e)
		}
	}
	slices.SortFunc(out, func(a, b *passport.AuditEntry) int {
		return -cmpKey(passport.FormatTime(a.Timestamp)+"#"+a.ID, passport.FormatTime(b.Timestamp)+"#"+b.ID)
	})
	ids := make([]string, len(out))
	for i, e := range out {
		ids[i] = e.ID
	}
	return ids
}

func cmpKey(a, b string) int {
	if a < b {
		return -1
	}
	if a > b {
		return 1
	}
	return 0
}

// Every filter, paged at several sizes, yields exactly the matching entries,
// newest first, with no page over its limit and at most one Query per shard.
func TestListAuditEntries_FiltersAndPaging(t *testing.T) {
	f := mustFixture(t)
	entries := f.mustAuditEntries(t, 120)
	mid := f.now.Add(12 * time.Hour)
	filters := []passport.AuditFilter{
		{},
		{ProviderID: "p1"},
		{UserID: "u3"},
		{ProviderID: "p2", UserID: "u0"},
		{Action: passport.ActionAuthorizationCreated},
		{Since: mid},
		{Until: mid},
		{Since: f.now.Add(6 * time.Hour), Until: mid},
		{UserID: "u1", Action: passport.ActionAuthorizationUpdated, Since: f.now.Add(3 * time.Hour)},
		{ProviderID: "nobody"},
	}
	for _, filter := range filters {
		for _, limit := range []int{1, 7, 200} {
			t.Run(fmt.Sprintf("%+v/limit=%d", filter, limit), func(t *testing.T) {
				var got []string
				page := passport.Page{Limit: limit}
				for pages := 1; ; pages++ {
					f.calls.Take()
					list, next, err := f.store.ListAuditEntries(context.Background(), filter, page)
					if err != nil {
						t.Fatal(err)
					}
					if len(list) > limit {
						t.Fatalf("page %d has %d entries, limit %d", pages, len(list), limit)
					}
					if calls := f.calls.Take()["DynamoDB.Query"]; calls > 4 {
						t.Fatalf("page %d made %d Queries", pages, calls)
					}
					for _, e := range list {
						got = append(got, e.ID)
					}
					if next == "" {
						break
					}
					if pages > 500 {
						t.Fatal("paging does not end")
					}
					page.Cursor = next
				}
				if w := want(entries, filter); fmt.Sprint(got) != fmt.Sprint(w) {
					t.Fatalf("got %d entries %v\nwant %d %v", len(got), got, len(w), w)
				}
			})
		}
	}
}

func TestListAuditEntries_CursorBoundToFilter(t *testing.T) {
	f := mustFixture(t)
	f.mustAuditEntries(t, 30)
	p1 := passport.AuditFilter{ProviderID: "p1"}
	_, next, err := f.store.ListAuditEntries(context.Background(), p1, passport.Page{Limit: 1})
	if err != nil || next == "" {
		t.Fatalf("next %q err %v", next, err)
	}
	for _, other := range []passport.AuditFilter{{ProviderID: "p2"}, {}, {ProviderID: "p1", Action: passport.ActionProviderCreated}, {UserID: "u1"}} {
		_, _, err := f.store.ListAuditEntries(context.Background(), other, passport.Page{Cursor: next})
		assertCode(t, err, passport.EINVALID)
	}
	if _, _, err := f.store.ListAuditEntries(context.Background(), p1, passport.Page{Cursor: next}); err != nil {
		t.Errorf("same filter: %v", err)
	}
}

// Entries spread over the shards: no one partition takes them all.
func TestPutAuditEntries_SpreadOverShards(t *testing.T) {
	f := mustFixture(t)
	f.mustAuditEntries(t, 100)
	perShard := map[string]int{}
	for _, it := range testenv.Items(t, f.db, f.table) {
		pk := it["PK"].(*types.AttributeValueMemberS).Value
		if len(pk) == len("AUDIT#0") { // the entries themselves, not their copies
			perShard[pk]++
		}
	}
	if len(perShard) != 4 {
		t.Fatalf("entries per shard partition = %v, want 4 partitions", perShard)
	}
	for pk, n := range perShard {
		if n > 50 {
			t.Errorf("partition %s holds %d of 100 entries", pk, n)
		}
	}
}

func TestAuditItem_RetentionAndCaller(t *testing.T) {
	f := mustFixture(t)
	e := &passport.AuditEntry{ID: "x1", Action: passport.ActionProviderCreated, ProviderID: "p1", Timestamp: f.now,
		Actor:   passport.Actor{Type: passport.ActorIAM, ID: "arn:aws:iam::123456789012:role/admin"},
		Request: passport.RequestInfo{ID: "req-1", SourceIP: "203.0.113.10", UserAgent: "curl/8"}}
	if _, err := f.store.PutAuditEntries(context.Background(), []*passport.AuditEntry{e}); err != nil {
		t.Fatal(err)
	}
	items := testenv.Items(t, f.db, f.table)
	if len(items) != 2 { // the entry and its provider's copy
		t.Fatalf("items = %d, want 2", len(items))
	}
	wantPurge := strconv.FormatInt(f.now.Add(400*24*time.Hour).Unix(), 10)
	for _, it := range items {
		if got := it["purgeAt"].(*types.AttributeValueMemberN).Value; got != wantPurge {
			t.Errorf("%v: purgeAt = %s, want %s (400 days)", it["PK"], got, wantPurge)
		}
	}
	list, _, err := f.store.ListAuditEntries(context.Background(), passport.AuditFilter{}, passport.Page{})
	if err != nil || len(list) != 1 {
		t.Fatalf("list %v err %v", list, err)
	}
	if got := *list[0]; got.Actor != e.Actor || got.Request != e.Request {
		t.Errorf("read back %+v, want actor %+v request %+v", got, e.Actor, e.Request)
	}
}

package dynamo

// An internal test: decodeCursor and encodeCursor are unexported, and the
// cursor is the one input of a list that a client hands back to the store.

import (
	"encoding/base64"
	"slices"
	"testing"
	"time"

	"github.com/passport-oss/passport/internal/passport"
)

// fuzzKey signs the fuzzed lists' cursors, as Config.CursorKey does.
var fuzzKey = []byte("fuzz-cursor-key")

// fuzzLists are the lists a cursor may belong to: one source on GSI1, one
// source on the base table, and the four merged shards of the whole trail.
func fuzzLists() []*listQuery {
	since := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	providers := providersList
	lists := []*listQuery{
		&providers,
		auditQuery(passport.AuditFilter{}),
		auditQuery(passport.AuditFilter{ProviderID: "p1"}),
		auditQuery(passport.AuditFilter{UserID: "user-1", Action: passport.ActionTokenRead, Since: since}),
	}
	for _, q := range lists {
		q.key = fuzzKey
	}
	return lists
}

// signed is payload as a cursor signed with fuzzKey: what only the server
// could make. Seeds built so reach the checks behind the signature.
func signed(payload string) string {
	p := base64.RawURLEncoding.EncodeToString([]byte(payload))
	return p + "." + base64.RawURLEncoding.EncodeToString(cursorMAC(fuzzKey, p))
}

// fuzzPositions returns positions the paging could produce for q: some
// sources done, some at a key, some not yet started.
func fuzzPositions(q *listQuery) []position {
	pos := make([]position, len(q.sources))
	for i, src := range q.sources {
		switch i % 3 {
		case 0:
			key := map[string]string{}
			for _, a := range q.keyAttrs {
				key[a] = "v-" + a
			}
			key[src.pkAttr] = src.partition
			pos[i] = position{Key: key}
		case 1:
			pos[i] = position{Done: true}
		}
	}
	return pos
}

// FuzzDecodeCursor feeds arbitrary strings as the cursor of each list. The
// decoder must never panic, must refuse with the cursor's validation error,
// and may accept only what the encoder itself makes for that list: the exact
// string, holding a state the paging can produce (no position both done and
// keyed, every key exactly the list's key attributes, non-empty, in the
// source's own partition).
func FuzzDecodeCursor(f *testing.F) {
	lists := fuzzLists()
	for i, q := range lists {
		valid := encodeCursor(q, fuzzPositions(q))
		f.Add(uint8(i), valid)
		f.Add(uint8(i+1), valid) // another list's cursor
		f.Add(uint8(i), valid+"A")
		f.Add(uint8(i), valid[:len(valid)-1])
	}
	f.Add(uint8(0), "")
	// Signed, yet not the encoder's: an unknown field, a name in other case,
	// a key outside the partition, a done source with a key.
	f.Add(uint8(0), signed(`{"v":1,"l":"providers","p":[{}],"x":1}`))
	f.Add(uint8(0), signed(`{"V":1,"L":"providers","P":[{}]}`))
	f.Add(uint8(0), signed(`{"v":1,"l":"providers","p":[{"k":{"PK":"PROVIDER#a","SK":"PROVIDER","GSI1PK":"AUDIT#0","GSI1SK":"x"}}]}`))
	f.Add(uint8(0), signed(`{"v":1,"l":"providers","p":[{"d":true,"k":{"PK":"a","SK":"b","GSI1PK":"PROVIDERS","GSI1SK":"x"}}]}`))
	f.Add(uint8(0), signed(`{"v":1,"l":"providers","p":[{}]}`)[:10]+"\n"+signed(`{"v":1,"l":"providers","p":[{}]}`)[10:])
	f.Add(uint8(0), "e30")                                    // {}
	f.Add(uint8(0), "bnVsbA")                                 // null
	f.Add(uint8(1), "eyJ2IjoxLCJsIjoiYXVkaXQiLCJwIjpudWxsfQ") // {"v":1,"l":"audit","p":null}

	f.Fuzz(func(t *testing.T, which uint8, s string) {
		q := lists[int(which)%len(lists)]
		pos, err := decodeCursor(q, s)
		if err != nil {
			details := passport.ErrorDetails(err)
			if passport.ErrorCode(err) != passport.EINVALID || len(details) != 1 || details[0].Field != "cursor" {
				t.Fatalf("decodeCursor(%q) error = %v (details %v), want VALIDATION_ERROR on cursor", s, err, details)
			}
			if pos != nil {
				t.Fatalf("decodeCursor(%q) returned positions with an error", s)
			}
			return
		}
		if len(pos) != len(q.sources) {
			t.Fatalf("decodeCursor(%q) = %d positions, want %d", s, len(pos), len(q.sources))
		}
		if s == "" {
			for i, p := range pos {
				if p.Done || p.Key != nil {
					t.Fatalf("the empty cursor starts source %d at %+v, want the start", i, p)
				}
			}
			return
		}
		if got := encodeCursor(q, pos); got != s {
			t.Fatalf("decodeCursor accepted %q, which the encoder never makes (it makes %q of the same state)", s, got)
		}
		for i, p := range pos {
			if p.Key == nil {
				continue
			}
			if p.Done {
				t.Fatalf("cursor %q: source %d is both done and at a key", s, i)
			}
			if got, want := slices.Sorted(mapKeys(p.Key)), slices.Sorted(slices.Values(q.keyAttrs)); !slices.Equal(got, want) {
				t.Fatalf("cursor %q: source %d key has attributes %v, want %v", s, i, got, want)
			}
			if p.Key[q.sources[i].pkAttr] != q.sources[i].partition {
				t.Fatalf("cursor %q: source %d key leaves its partition %q: %v", s, i, q.sources[i].partition, p.Key)
			}
			for a, v := range p.Key {
				if v == "" {
					t.Fatalf("cursor %q: source %d key attribute %s is empty", s, i, a)
				}
			}
		}
	})
}

func mapKeys(m map[string]string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// The encoder's own cursors, for every list, decode to what was encoded.
func TestCursorRoundTrip(t *testing.T) {
	for _, q := range fuzzLists() {
		want := fuzzPositions(q)
		s := encodeCursor(q, want)
		got, err := decodeCursor(q, s)
		if err != nil {
			t.Fatalf("%s: decodeCursor(encodeCursor) = %v", q.name, err)
		}
		if encodeCursor(q, got) != s {
			t.Errorf("%s: decoded %+v, want %+v", q.name, got, want)
		}
	}
}

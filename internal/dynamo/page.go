package dynamo

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"slices"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/passport-oss/passport/internal/passport"
)

// Every list is one or more index partitions ("sources") read in sort-key
// order and merged: one source for most lists, auditShards for the whole
// audit trail. A page runs one Query per source that is not yet exhausted,
// in parallel, and its cursor records each source's position.

// source is one partition of the table or of one index.
type source struct {
	index     string // "" for the base table
	pkAttr    string
	skAttr    string
	partition string
}

// listQuery is one paged list.
type listQuery struct {
	name     string // the list's name, bound into its cursors
	binding  string // the filter's fingerprint, bound into its cursors
	sources  []source
	keyAttrs []string // the index's and the table's key attributes
	key      []byte   // signs the list's cursors (Config.CursorKey)
	forward  bool     // oldest first; newest first otherwise
	// Optional sort-key range (inclusive) and filter, applied to every source.
	skLow, skHigh string
	filter        string
	filterNames   map[string]string
	filterValues  map[string]types.AttributeValue
}

// addFilter ANDs a condition onto q's filter, with one name and one value
// placeholder (either may be "").
func (q *listQuery) addFilter(cond, namePH, name, valuePH string, value types.AttributeValue) {
	if q.filter != "" {
		q.filter += " AND "
	}
	q.filter += cond
	if namePH != "" {
		q.filterNames[namePH] = name
	}
	if valuePH != "" {
		q.filterValues[valuePH] = value
	}
}

// position is where a source's next Query starts.
type position struct {
	Done bool              `json:"d,omitempty"`
	Key  map[string]string `json:"k,omitempty"` // nil: from the start
}

// cursor is the opaque state between pages, as base64url JSON. Decoding
// checks the list, the filter and each key's partition, so a cursor can
// neither move a Query to another partition nor serve another list or filter.
type cursor struct {
	V       int        `json:"v"`
	List    string     `json:"l"`
	Binding string     `json:"b,omitempty"`
	Pos     []position `json:"p"`
}

const cursorVersion = 1

// maxCursorLen bounds what a client may send us to decode.
const maxCursorLen = 4096

func invalidCursor() error {
	return &passport.Error{
		Code:    passport.EINVALID,
		Message: "Request validation failed.",
		Details: []passport.FieldError{{Field: "cursor", Message: "is not a cursor of this list and filter"}},
	}
}

// A cursor is signed: payload "." HMAC-SHA256(key, payload), truncated to
// 128 bits, so a client can neither forge one nor edit the positions inside.
func encodeCursor(q *listQuery, pos []position) string {
	b, _ := json.Marshal(cursor{V: cursorVersion, List: q.name, Binding: q.binding, Pos: pos}) // strings and bools always marshal
	payload := base64.RawURLEncoding.EncodeToString(b)
	return payload + "." + base64.RawURLEncoding.EncodeToString(cursorMAC(q.key, payload))
}

func cursorMAC(key []byte, payload string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(payload))
	return m.Sum(nil)[:16]
}

func decodeCursor(q *listQuery, s string) ([]position, error) {
	if s == "" {
		return make([]position, len(q.sources)), nil
	}
	if len(s) > maxCursorLen {
		return nil, invalidCursor()
	}
	payload, sig, ok := strings.Cut(s, ".")
	mac, err := base64.RawURLEncoding.DecodeString(sig)
	if !ok || err != nil || !hmac.Equal(mac, cursorMAC(q.key, payload)) {
		return nil, invalidCursor()
	}
	b, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return nil, invalidCursor()
	}
	var c cursor
	if json.Unmarshal(b, &c) != nil || c.V != cursorVersion || c.List != q.name || c.Binding != q.binding || len(c.Pos) != len(q.sources) {
		return nil, invalidCursor()
	}
	for i, p := range c.Pos {
		if p.Key == nil {
			continue
		}
		if p.Done || len(p.Key) != len(q.keyAttrs) || p.Key[q.sources[i].pkAttr] != q.sources[i].partition {
			return nil, invalidCursor()
		}
		for name, v := range p.Key {
			if !slices.Contains(q.keyAttrs, name) || v == "" {
				return nil, invalidCursor()
			}
		}
	}
	// Only the encoder's own output: encoding/json ignores unknown fields
	// and matches names without case, and base64 skips newlines, so other
	// strings decode to a state too (found by FuzzDecodeCursor).
	if encodeCursor(q, c.Pos) != s {
		return nil, invalidCursor()
	}
	return c.Pos, nil
}

// fingerprint binds a cursor to the filter it was made for.
func fingerprint(parts ...string) string {
	sum := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return hex.EncodeToString(sum[:8])
}

// sourcePage is what one source's Query returned.
type sourcePage struct {
	items []item
	last  item // LastEvaluatedKey
}

// queryPage reads one page of q and returns its items and the next cursor.
func (s *Store) queryPage(ctx context.Context, base *listQuery, page passport.Page) ([]item, string, error) {
	q := *base
	q.key = s.cfg.CursorKey
	limit := clampLimit(page.Limit)
	pos, err := decodeCursor(&q, page.Cursor)
	if err != nil {
		return nil, "", err
	}
	results := make([]*sourcePage, len(q.sources))
	errs := make([]error, len(q.sources))
	var wg sync.WaitGroup
	for i := range q.sources {
		if pos[i].Done {
			continue
		}
		wg.Go(func() { results[i], errs[i] = s.querySource(ctx, &q, i, pos[i], limit+1) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, "", storageError("query "+q.name, err)
		}
	}
	items, next := mergePages(&q, results, pos, limit)
	if allDone(next) {
		return items, "", nil
	}
	return items, encodeCursor(&q, next), nil
}

// querySource asks source i for up to n items after its position. Asking
// for one more than a page lets a page that ends the list carry no cursor.
func (s *Store) querySource(ctx context.Context, q *listQuery, i int, from position, n int) (*sourcePage, error) {
	src := q.sources[i]
	names := map[string]string{"#pk": src.pkAttr}
	values := map[string]types.AttributeValue{":pk": attrS(src.partition)}
	cond := "#pk = :pk"
	switch {
	case q.skLow != "" && q.skHigh != "":
		cond += " AND #sk BETWEEN :lo AND :hi"
	case q.skLow != "":
		cond += " AND #sk >= :lo"
	case q.skHigh != "":
		cond += " AND #sk <= :hi"
	}
	if q.skLow != "" || q.skHigh != "" {
		names["#sk"] = src.skAttr
	}
	if q.skLow != "" {
		values[":lo"] = attrS(q.skLow)
	}
	if q.skHigh != "" {
		values[":hi"] = attrS(q.skHigh)
	}
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(s.cfg.Table),
		KeyConditionExpression:    aws.String(cond),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
		ScanIndexForward:          aws.Bool(q.forward),
		Limit:                     aws.Int32(int32(n)),
	}
	if src.index != "" {
		in.IndexName = aws.String(src.index)
	}
	if q.filter != "" {
		in.FilterExpression = aws.String(q.filter)
		for k, v := range q.filterNames {
			names[k] = v
		}
		for k, v := range q.filterValues {
			values[k] = v
		}
	}
	if from.Key != nil {
		in.ExclusiveStartKey = make(item, len(from.Key))
		for k, v := range from.Key {
			in.ExclusiveStartKey[k] = attrS(v)
		}
	}
	out, err := s.db.Query(ctx, in)
	if err != nil {
		return nil, err
	}
	return &sourcePage{items: out.Items, last: out.LastEvaluatedKey}, nil
}

// mergePages merges the sources' results into one page in list order and
// computes each source's next position.
//
// A source whose Query stopped early (LastEvaluatedKey set) has read, and
// returned if they matched, exactly the items up to that key; what lies
// beyond it is unknown. So only items up to the horizon (the earliest such
// stopping point of all sources, in list order) can be placed; later ones
// wait for the next page. The source that set the horizon resumes from its
// LastEvaluatedKey, which guarantees progress even when a filter matched
// nothing; the others resume after their last item on the page.
func mergePages(q *listQuery, results []*sourcePage, pos []position, limit int) ([]item, []position) {
	type entry struct {
		it  item
		src int
	}
	// before reports whether sort key a comes before b in list order.
	before := func(a, b string) bool { return (a < b) == q.forward && a != b }
	horizon, horizonSrc := "", -1
	for i, r := range results {
		if r == nil || r.last == nil {
			continue
		}
		k := getS(r.last, q.sources[i].skAttr)
		if horizonSrc < 0 || before(k, horizon) {
			horizon, horizonSrc = k, i
		}
	}
	var candidates []entry
	for i, r := range results {
		if r == nil {
			continue
		}
		for _, it := range r.items {
			if horizonSrc < 0 || !before(horizon, getS(it, q.sources[i].skAttr)) {
				candidates = append(candidates, entry{it, i})
			}
		}
	}
	slices.SortStableFunc(candidates, func(a, b entry) int {
		ka, kb := getS(a.it, q.sources[a.src].skAttr), getS(b.it, q.sources[b.src].skAttr)
		switch {
		case before(ka, kb):
			return -1
		case before(kb, ka):
			return 1
		}
		return 0
	})
	cut := len(candidates) > limit
	if cut {
		candidates = candidates[:limit]
	}
	page := make([]item, len(candidates))
	lastOf := make([]item, len(results))
	placed := make([]int, len(results))
	for i, c := range candidates {
		page[i] = c.it
		lastOf[c.src] = c.it
		placed[c.src]++
	}
	next := slices.Clone(pos)
	for i, r := range results {
		switch {
		case r == nil: // already done
		case !cut && r.last == nil && placed[i] == len(r.items):
			next[i] = position{Done: true}
		case !cut && i == horizonSrc:
			next[i] = position{Key: stringKey(r.last, q.keyAttrs)}
		case lastOf[i] != nil:
			next[i] = position{Key: stringKey(lastOf[i], q.keyAttrs)}
		}
	}
	return page, next
}

func stringKey(it item, attrs []string) map[string]string {
	key := make(map[string]string, len(attrs))
	for _, a := range attrs {
		key[a] = getS(it, a)
	}
	return key
}

func allDone(pos []position) bool {
	for _, p := range pos {
		if !p.Done {
			return false
		}
	}
	return true
}

func clampLimit(n int) int {
	switch {
	case n <= 0:
		return passport.DefaultPageLimit
	case n > passport.MaxPageLimit:
		return passport.MaxPageLimit
	default:
		return n
	}
}

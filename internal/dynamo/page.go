package dynamo

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/passport-oss/passport/internal/passport"
)

// A cursor is the key of the last item of a page, with the list it belongs
// to, as base64url JSON. Decoding checks both, so a cursor can neither move a
// Query to another partition nor be replayed against another list.
type cursor struct {
	V    int               `json:"v"`
	List string            `json:"l"`
	Key  map[string]string `json:"k"`
}

const cursorVersion = 1

func encodeCursor(list string, key item) string {
	c := cursor{V: cursorVersion, List: list, Key: make(map[string]string, len(key))}
	for name := range key {
		c.Key[name] = getS(key, name)
	}
	b, _ := json.Marshal(c) // a struct of strings always marshals
	return base64.RawURLEncoding.EncodeToString(b)
}

func invalidCursor() error {
	return &passport.Error{
		Code:    passport.EINVALID,
		Message: "Request validation failed.",
		Details: []passport.FieldError{{Field: "cursor", Message: "is not a cursor of this list"}},
	}
}

// decodeCursor returns the ExclusiveStartKey of s for list, whose index
// partition attribute must hold partition.
func decodeCursor(s, list string, keyAttrs []string, partitionAttr, partition string) (item, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) > 2048 {
		return nil, invalidCursor()
	}
	var c cursor
	if json.Unmarshal(b, &c) != nil || c.V != cursorVersion || c.List != list || len(c.Key) != len(keyAttrs) {
		return nil, invalidCursor()
	}
	key := make(item, len(keyAttrs))
	for name, v := range c.Key {
		if !slices.Contains(keyAttrs, name) || v == "" {
			return nil, invalidCursor()
		}
		key[name] = attrS(v)
	}
	if c.Key[partitionAttr] != partition {
		return nil, invalidCursor()
	}
	return key, nil
}

// listQuery describes one paged list over an index partition.
type listQuery struct {
	name      string // the list's name, bound into its cursors
	index     string
	pkAttr    string
	partition string
	keyAttrs  []string // the index's and the table's key attributes
	forward   bool
}

var gsi1KeyAttrs = []string{attrPK, attrSK, attrGSI1PK, attrGSI1SK}

// queryPage runs one Query for page of q and returns its items and the next
// cursor. It asks for one item more than the limit, so that a page that ends
// the list carries no cursor and the client makes no empty extra call.
func (s *Store) queryPage(ctx context.Context, q listQuery, page passport.Page) ([]item, string, error) {
	limit := clampLimit(page.Limit)
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(s.cfg.Table),
		IndexName:                 aws.String(q.index),
		KeyConditionExpression:    aws.String("#pk = :pk"),
		ExpressionAttributeNames:  map[string]string{"#pk": q.pkAttr},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": attrS(q.partition)},
		ScanIndexForward:          aws.Bool(q.forward),
		Limit:                     aws.Int32(int32(limit + 1)),
	}
	if page.Cursor != "" {
		start, err := decodeCursor(page.Cursor, q.name, q.keyAttrs, q.pkAttr, q.partition)
		if err != nil {
			return nil, "", err
		}
		in.ExclusiveStartKey = start
	}
	out, err := s.db.Query(ctx, in)
	if err != nil {
		return nil, "", storageError("query "+q.name, err)
	}
	items := out.Items
	switch {
	case len(items) > limit:
		items = items[:limit]
		return items, encodeCursor(q.name, keyOf(items[limit-1], q.keyAttrs)), nil
	case out.LastEvaluatedKey != nil && len(items) > 0:
		// The 1 MB page cap cut the Query short of the limit.
		return items, encodeCursor(q.name, keyOf(items[len(items)-1], q.keyAttrs)), nil
	default:
		return items, "", nil
	}
}

func keyOf(it item, attrs []string) item {
	key := make(item, len(attrs))
	for _, a := range attrs {
		key[a] = it[a]
	}
	return key
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

package dynamo

import (
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/passport-oss/passport/internal/passport"
)

// Items are built and read by hand rather than by reflection
// (attributevalue.Marshal): it is the hot path of every request, and the
// explicit layout doubles as the schema's documentation.

type item = map[string]types.AttributeValue

func attrS(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }

func attrN(v int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(v, 10)}
}

func attrTime(t time.Time) types.AttributeValue { return attrS(passport.FormatTime(t)) }

func attrList(vs []string) types.AttributeValue {
	l := make([]types.AttributeValue, len(vs))
	for i, v := range vs {
		l[i] = attrS(v)
	}
	return &types.AttributeValueMemberL{Value: l}
}

func getS(it item, name string) string {
	if v, ok := it[name].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

func getTime(it item, name string) time.Time {
	t, _ := time.Parse(time.RFC3339Nano, getS(it, name))
	return t
}

func getList(it item, name string) []string {
	l, ok := it[name].(*types.AttributeValueMemberL)
	if !ok {
		return nil
	}
	out := make([]string, 0, len(l.Value))
	for _, v := range l.Value {
		if s, ok := v.(*types.AttributeValueMemberS); ok {
			out = append(out, s.Value)
		}
	}
	return out
}

func getN(it item, name string) string {
	if v, ok := it[name].(*types.AttributeValueMemberN); ok {
		return v.Value
	}
	return ""
}

func getInt(it item, name string) int64 {
	n, _ := strconv.ParseInt(getN(it, name), 10, 64)
	return n
}

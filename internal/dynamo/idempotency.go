package dynamo

import (
	"context"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/passport-oss/passport/internal/passport"
)

// idempotencyWindow is how long a key replays its first response.
const idempotencyWindow = 24 * time.Hour

// IdempotencyPrefix keys the records of idempotency keys.
const IdempotencyPrefix = "IDEMPOTENCY#"

// idempotencyPut returns the transaction item that records the request's key
// with its response, or nil when ctx asks for none. It is put only if no
// live record has the key: a record past its window counts as absent even
// before TTL removes it. On failure its old item comes back with the
// cancellation, for idempotencyOutcome.
func (s *Store) idempotencyPut(ctx context.Context, created any) *types.TransactWriteItem {
	i := passport.IdempotencyFromContext(ctx)
	if i == nil {
		return nil
	}
	status, body := i.Render(created)
	now := s.now()
	return &types.TransactWriteItem{Put: &types.Put{
		TableName: aws.String(s.cfg.Table),
		Item: item{
			attrPK:        attrS(IdempotencyPrefix + i.Key),
			attrSK:        attrS("IDEMPOTENCY"),
			attrKind:      attrS("idempotency"),
			"requestHash": attrS(i.RequestHash),
			"status":      attrN(int64(status)),
			"body":        &types.AttributeValueMemberB{Value: body},
			"version":     attrN(version(i, created)),
			"createdAt":   attrTime(now),
			attrPurgeAt:   attrN(now.Add(idempotencyWindow).Unix()),
		},
		ConditionExpression:                 aws.String("attribute_not_exists(PK) OR purgeAt < :now"),
		ExpressionAttributeValues:           map[string]types.AttributeValue{":now": attrN(now.Unix())},
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	}}
}

// idempotencyOutcome turns a failed key record into the first response (the
// same request again) or EIDEMPOTENCY (another request under the key).
func idempotencyOutcome(ctx context.Context, old item) error {
	i := passport.IdempotencyFromContext(ctx)
	if getS(old, "requestHash") != i.RequestHash {
		return passport.Errorf(passport.EIDEMPOTENCY, "This Idempotency-Key was used with another request in the last 24 hours.")
	}
	status, _ := strconv.Atoi(getN(old, "status"))
	body, _ := old["body"].(*types.AttributeValueMemberB)
	if body == nil {
		return passport.Errorf(passport.EIDEMPOTENCY, "This Idempotency-Key's first request left no response to replay.")
	}
	return &passport.Replayed{Status: status, Body: body.Value, Version: getInt(old, "version")}
}

// withIdempotency appends the key's record to items, returning its index
// (-1 when there is none).
func (s *Store) withIdempotency(ctx context.Context, items []types.TransactWriteItem, created any) ([]types.TransactWriteItem, int) {
	put := s.idempotencyPut(ctx, created)
	if put == nil {
		return items, -1
	}
	return append(items, *put), len(items)
}

func version(i *passport.Idempotency, created any) int64 {
	if i.Version == nil {
		return 0
	}
	return i.Version(created)
}

package dynamo

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/passport-oss/passport/internal/passport"
)

// transactAttempts bounds retries of a transaction that lost a race with
// another transaction on the same item (reason TransactionConflict). Such a
// transaction changed nothing, and its conditions make a retry safe; the SDK
// does not retry it by itself.
const transactAttempts = 6

// transactWrite runs in and returns the cancellation reasons when DynamoDB
// cancelled it for a failed condition, or an error otherwise.
func (s *Store) transactWrite(ctx context.Context, op string, in *dynamodb.TransactWriteItemsInput) ([]types.CancellationReason, error) {
	for attempt := 1; ; attempt++ {
		_, err := s.db.TransactWriteItems(ctx, in)
		if err == nil {
			return nil, nil
		}
		var tce *types.TransactionCanceledException
		if !errors.As(err, &tce) {
			return nil, storageError(op, err)
		}
		// A transaction DynamoDB throttled changed nothing; unless a
		// condition failed too (a definite answer), the caller may retry.
		if hasReason(tce.CancellationReasons, "ThrottlingError") && !hasReason(tce.CancellationReasons, "ConditionalCheckFailed") {
			return nil, &passport.Error{Code: passport.EUNAVAILABLE, Message: "Storage is temporarily unavailable; retry shortly."}
		}
		if !hasReason(tce.CancellationReasons, "TransactionConflict") {
			return tce.CancellationReasons, nil
		}
		if attempt == transactAttempts {
			return nil, &passport.Error{Code: passport.EUNAVAILABLE, Message: "The resource is busy; retry shortly."}
		}
		if err := pause(ctx, attempt); err != nil {
			return nil, storageError(op, err)
		}
	}
}

// pause waits before the next attempt of a write that lost a race: a
// random time up to 10 ms × 2^attempt (at most 320 ms), so racers spread
// out instead of meeting again; it returns early, with ctx's error, when
// ctx ends.
func pause(ctx context.Context, attempt int) error {
	limit := 10 * time.Millisecond << min(attempt, 5)
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(limit/2 + rand.N(limit/2)):
		return nil
	}
}

func hasReason(reasons []types.CancellationReason, code string) bool {
	for _, r := range reasons {
		if r.Code != nil && *r.Code == code {
			return true
		}
	}
	return false
}

// failedCondition reports whether the i-th action's condition failed.
func failedCondition(reasons []types.CancellationReason, i int) bool {
	return i < len(reasons) && reasons[i].Code != nil && *reasons[i].Code == "ConditionalCheckFailed"
}

// isConditionFailed reports a single write's failed condition.
func isConditionFailed(err error) bool {
	var ccf *types.ConditionalCheckFailedException
	return errors.As(err, &ccf)
}

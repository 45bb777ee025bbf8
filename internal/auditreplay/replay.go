// Package auditreplay recovers stream batches the audit function gave up on.
// When a batch exhausts its retries, the event source mapping sends its
// location (shard, first and last sequence numbers) to the OnFailure
// destination: an SQS queue in AWS, a JSON-lines file in the local stack.
// Replay reads the records again from the stream, while the stream still
// retains them (24 hours), and hands them to the audit function. Audit
// entries are keyed by the record's eventID, so replaying a batch that was
// partly written, or twice, adds nothing twice.
package auditreplay

import (
	"context"
	"errors"
	"fmt"
	"math/big"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"

	"github.com/passport-oss/passport/internal/localstack"
)

// Replayer re-reads failed batches and invokes the audit function.
type Replayer struct {
	Streams localstack.StreamsAPI
	Invoke  localstack.StreamFunc
	// Region is the records' awsRegion when the stream omits it.
	Region string
	// BatchSize is the most records per invocation (the mapping's: 100).
	BatchSize int
}

// maxEmptyReads bounds GetRecords calls that return nothing before the end
// of the batch is reached: an open shard can answer empty pages.
const maxEmptyReads = 50

// ErrNotRetained means the stream no longer holds the batch's records.
var ErrNotRetained = errors.New("auditreplay: the records are no longer in the stream (retention is 24 hours)")

// Replay re-reads the records of info, from its first sequence number to its
// last, and invokes the audit function with them in order. It returns how
// many records it delivered. An error from the function, or a batch item
// failure it reports, stops the replay: the batch should stay queued.
func (r *Replayer) Replay(ctx context.Context, info localstack.DDBStreamBatchInfo) (int, error) {
	start, ok1 := new(big.Int).SetString(info.StartSequenceNumber, 10)
	end, ok2 := new(big.Int).SetString(info.EndSequenceNumber, 10)
	if !ok1 || !ok2 || info.ShardID == "" || info.StreamARN == "" {
		return 0, fmt.Errorf("auditreplay: incomplete batch info %+v", info)
	}
	it, err := r.Streams.GetShardIterator(ctx, &dynamodbstreams.GetShardIteratorInput{
		StreamArn:         aws.String(info.StreamARN),
		ShardId:           aws.String(info.ShardID),
		ShardIteratorType: types.ShardIteratorTypeAtSequenceNumber,
		SequenceNumber:    aws.String(info.StartSequenceNumber),
	})
	var trimmed *types.TrimmedDataAccessException
	var gone *types.ResourceNotFoundException
	if errors.As(err, &trimmed) || errors.As(err, &gone) {
		return 0, ErrNotRetained
	}
	if err != nil {
		return 0, fmt.Errorf("auditreplay: shard iterator: %w", err)
	}
	var batch []events.DynamoDBEventRecord
	delivered, empty := 0, 0
	iterator := it.ShardIterator
	for iterator != nil {
		out, err := r.Streams.GetRecords(ctx, &dynamodbstreams.GetRecordsInput{ShardIterator: iterator})
		if err != nil {
			return delivered, fmt.Errorf("auditreplay: get records: %w", err)
		}
		iterator = out.NextShardIterator
		if len(out.Records) == 0 {
			if empty++; empty > maxEmptyReads {
				return delivered, fmt.Errorf("auditreplay: sequence number %s not reached in shard %s", info.EndSequenceNumber, info.ShardID)
			}
			continue
		}
		empty = 0
		for _, rec := range out.Records {
			seq, _ := new(big.Int).SetString(aws.ToString(rec.Dynamodb.SequenceNumber), 10)
			if seq == nil || seq.Cmp(start) < 0 {
				continue
			}
			if seq.Cmp(end) > 0 {
				return r.flush(ctx, batch, delivered)
			}
			ev, err := localstack.ConvertRecord(rec, info.StreamARN, r.Region)
			if err != nil {
				return delivered, fmt.Errorf("auditreplay: record %s: %w", aws.ToString(rec.EventID), err)
			}
			if batch = append(batch, ev); len(batch) == r.batchSize() {
				if delivered, err = r.flush(ctx, batch, delivered); err != nil {
					return delivered, err
				}
				batch = nil
			}
		}
	}
	return r.flush(ctx, batch, delivered) // the shard closed at or before the end
}

func (r *Replayer) batchSize() int {
	if r.BatchSize <= 0 {
		return 100
	}
	return r.BatchSize
}

// flush invokes the function with batch and adds it to delivered.
func (r *Replayer) flush(ctx context.Context, batch []events.DynamoDBEventRecord, delivered int) (int, error) {
	if len(batch) == 0 {
		return delivered, nil
	}
	resp, err := r.Invoke(ctx, events.DynamoDBEvent{Records: batch})
	if err != nil {
		return delivered, fmt.Errorf("auditreplay: the audit function failed: %w", err)
	}
	if len(resp.BatchItemFailures) > 0 {
		return delivered, fmt.Errorf("auditreplay: the audit function failed at record %s", resp.BatchItemFailures[0].ItemIdentifier)
	}
	return delivered + len(batch), nil
}

package testenv

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"
)

// StreamJSON returns every record the table's stream holds, from the start
// of every shard, each as JSON: tests search it for what must never be
// streamed.
func StreamJSON(t testing.TB, db *dynamodb.Client, table string) []string {
	t.Helper()
	ctx := context.Background()
	desc, err := db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: &table})
	if err != nil {
		t.Fatal(err)
	}
	arn := desc.Table.LatestStreamArn
	streams := dynamodbstreams.NewFromConfig(AWSConfig(t, nil))
	var out []string
	var start *string
	for {
		d, err := streams.DescribeStream(ctx, &dynamodbstreams.DescribeStreamInput{StreamArn: arn, ExclusiveStartShardId: start})
		if err != nil {
			t.Fatal(err)
		}
		for _, sh := range d.StreamDescription.Shards {
			out = append(out, shardJSON(t, streams, arn, sh.ShardId)...)
		}
		if start = d.StreamDescription.LastEvaluatedShardId; start == nil {
			return out
		}
	}
}

// shardJSON reads one shard until it has nothing more to give now.
func shardJSON(t testing.TB, streams *dynamodbstreams.Client, arn, shard *string) []string {
	t.Helper()
	ctx := context.Background()
	it, err := streams.GetShardIterator(ctx, &dynamodbstreams.GetShardIteratorInput{
		StreamArn: arn, ShardId: shard, ShardIteratorType: types.ShardIteratorTypeTrimHorizon,
	})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	iterator := it.ShardIterator
	for empty := 0; iterator != nil && empty < 3; {
		page, err := streams.GetRecords(ctx, &dynamodbstreams.GetRecordsInput{ShardIterator: iterator})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Records) == 0 {
			empty++
		}
		for _, r := range page.Records {
			b, err := json.Marshal(r)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, string(b))
		}
		iterator = page.NextShardIterator
	}
	return out
}

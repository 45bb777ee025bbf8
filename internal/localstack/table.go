package localstack

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/passport-oss/passport/internal/samtemplate"
)

// CreateTable creates table name from the template's table definition, waits
// until it is ACTIVE and applies its TimeToLiveSpecification. A table that
// already exists is left as it is (TTL still applied).
func CreateTable(ctx context.Context, client *dynamodb.Client, tmpl *samtemplate.Template, name string) (*types.TableDescription, error) {
	create, ttl, err := tmpl.TableDefinition(name)
	if err != nil {
		return nil, err
	}
	if create == nil {
		return nil, errors.New("template has no table definition")
	}
	create.TableName = aws.String(name)
	if _, err := client.CreateTable(ctx, create); err != nil {
		var inUse *types.ResourceInUseException
		if !errors.As(err, &inUse) {
			return nil, fmt.Errorf("create table %s: %w", name, err)
		}
	}
	desc, err := waitTableActive(ctx, client, name)
	if err != nil {
		return nil, err
	}
	if ttl != nil {
		ttl.TableName = aws.String(name)
		if _, err := client.UpdateTimeToLive(ctx, ttl); err != nil {
			// Applying the same TTL twice is a ValidationException.
			cur, derr := client.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(name)})
			if derr != nil || cur.TimeToLiveDescription == nil ||
				aws.ToString(cur.TimeToLiveDescription.AttributeName) != aws.ToString(ttl.TimeToLiveSpecification.AttributeName) {
				return nil, fmt.Errorf("update TTL of %s: %w", name, err)
			}
		}
	}
	return desc, nil
}

func waitTableActive(ctx context.Context, client *dynamodb.Client, name string) (*types.TableDescription, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for {
		out, err := client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)})
		if err == nil && out.Table.TableStatus == types.TableStatusActive {
			active := true
			for _, g := range out.Table.GlobalSecondaryIndexes {
				if g.IndexStatus != types.IndexStatusActive && g.IndexStatus != "" {
					active = false
				}
			}
			if active {
				return out.Table, nil
			}
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("table %s not ACTIVE: %w (last error: %v)", name, ctx.Err(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// LatestStreamARN returns the table's current stream ARN.
func LatestStreamARN(ctx context.Context, client *dynamodb.Client, table string) (string, error) {
	out, err := client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
	if err != nil {
		return "", err
	}
	arn := aws.ToString(out.Table.LatestStreamArn)
	if arn == "" {
		return "", fmt.Errorf("table %s has no stream", table)
	}
	return arn, nil
}

// PollerConfigFromMapping fills a PollerConfig's event source mapping settings
// from the template's StreamMapping. The plumbing (Streams, StreamARN,
// Invoke, OnFailure, ...) is the caller's.
func PollerConfigFromMapping(m samtemplate.StreamMapping) PollerConfig {
	return PollerConfig{
		BatchSize:               m.BatchSize,
		MaximumBatchingWindow:   m.MaximumBatchingWindow,
		MaximumRetryAttempts:    m.MaximumRetryAttempts,
		MaximumRecordAge:        m.MaximumRecordAge,
		BisectOnError:           m.BisectOnError,
		ReportBatchItemFailures: m.ReportBatchItemFailures,
		StartingPosition:        m.StartingPosition,
		FilterPatterns:          m.FilterPatterns,
	}
}

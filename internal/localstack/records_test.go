package localstack_test

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"

	"github.com/passport-oss/passport/internal/localstack"
)

// allTypesStreams is an item with every attribute type, as DynamoDB Streams
// returns it; allTypesLambda is the same item as Lambda delivers it.
var (
	allTypesStreams = map[string]types.AttributeValue{
		"S":    &types.AttributeValueMemberS{Value: "text"},
		"N":    &types.AttributeValueMemberN{Value: "-12.5"},
		"B":    &types.AttributeValueMemberB{Value: []byte{0, 1, 0xff}},
		"BOOL": &types.AttributeValueMemberBOOL{Value: true},
		"NULL": &types.AttributeValueMemberNULL{Value: true},
		"SS":   &types.AttributeValueMemberSS{Value: []string{"a", "b"}},
		"NS":   &types.AttributeValueMemberNS{Value: []string{"1", "2.5"}},
		"BS":   &types.AttributeValueMemberBS{Value: [][]byte{{1}, {2, 3}}},
		"L": &types.AttributeValueMemberL{Value: []types.AttributeValue{
			&types.AttributeValueMemberS{Value: "x"}, &types.AttributeValueMemberN{Value: "7"},
			&types.AttributeValueMemberL{Value: []types.AttributeValue{&types.AttributeValueMemberBOOL{Value: false}}},
		}},
		"M": &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{
			"inner": &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{"deep": &types.AttributeValueMemberNULL{Value: true}}},
			"s":     &types.AttributeValueMemberS{Value: "y"},
		}},
		"EmptyM": &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{}},
		"EmptyL": &types.AttributeValueMemberL{Value: []types.AttributeValue{}},
	}
	allTypesLambda = map[string]events.DynamoDBAttributeValue{
		"S":    events.NewStringAttribute("text"),
		"N":    events.NewNumberAttribute("-12.5"),
		"B":    events.NewBinaryAttribute([]byte{0, 1, 0xff}),
		"BOOL": events.NewBooleanAttribute(true),
		"NULL": events.NewNullAttribute(),
		"SS":   events.NewStringSetAttribute([]string{"a", "b"}),
		"NS":   events.NewNumberSetAttribute([]string{"1", "2.5"}),
		"BS":   events.NewBinarySetAttribute([][]byte{{1}, {2, 3}}),
		"L": events.NewListAttribute([]events.DynamoDBAttributeValue{
			events.NewStringAttribute("x"), events.NewNumberAttribute("7"),
			events.NewListAttribute([]events.DynamoDBAttributeValue{events.NewBooleanAttribute(false)}),
		}),
		"M": events.NewMapAttribute(map[string]events.DynamoDBAttributeValue{
			"inner": events.NewMapAttribute(map[string]events.DynamoDBAttributeValue{"deep": events.NewNullAttribute()}),
			"s":     events.NewStringAttribute("y"),
		}),
		"EmptyM": events.NewMapAttribute(map[string]events.DynamoDBAttributeValue{}),
		"EmptyL": events.NewListAttribute([]events.DynamoDBAttributeValue{}),
	}
)

// jsonOf compares through JSON: the form Lambda delivers.
func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestConvertItemAllTypes(t *testing.T) {
	got, err := localstack.ConvertItem(allTypesStreams)
	if err != nil {
		t.Fatal(err)
	}
	if g, w := jsonOf(t, got), jsonOf(t, allTypesLambda); g != w {
		t.Errorf("ConvertItem =\n%s\nwant\n%s", g, w)
	}
	for k, want := range allTypesLambda {
		if got[k].DataType() != want.DataType() {
			t.Errorf("%s: DataType = %v, want %v", k, got[k].DataType(), want.DataType())
		}
	}
	if got, want := got["B"].Binary(), []byte{0, 1, 0xff}; !reflect.DeepEqual(got, want) {
		t.Errorf("B = %v, want %v", got, want)
	}
	if got, _ := localstack.ConvertItem(nil); got != nil {
		t.Errorf("ConvertItem(nil) = %v, want nil", got)
	}
}

func TestConvertRecord(t *testing.T) {
	created := time.Date(2026, 3, 5, 12, 0, 0, 0, time.UTC)
	arn := "arn:aws:dynamodb:us-east-1:000000000000:table/t/stream/2026-03-05T12:00:00.000"
	tests := []struct {
		name string
		in   types.Record
		want events.DynamoDBEventRecord
	}{
		{
			name: "REMOVE by TTL on real DynamoDB",
			in: types.Record{
				AwsRegion: aws.String("us-east-1"), EventID: aws.String("id-1"), EventName: types.OperationTypeRemove,
				EventSource: aws.String("aws:dynamodb"), EventVersion: aws.String("1.1"),
				UserIdentity: &types.Identity{Type: aws.String("Service"), PrincipalId: aws.String("dynamodb.amazonaws.com")},
				Dynamodb: &types.StreamRecord{
					ApproximateCreationDateTime: &created, SequenceNumber: aws.String("111"), SizeBytes: aws.Int64(42),
					StreamViewType: types.StreamViewTypeNewAndOldImages,
					Keys:           map[string]types.AttributeValue{"PK": &types.AttributeValueMemberS{Value: "AUTHZ#1"}},
					OldImage:       allTypesStreams,
				},
			},
			want: events.DynamoDBEventRecord{
				AWSRegion: "us-east-1", EventID: "id-1", EventName: "REMOVE", EventSource: "aws:dynamodb", EventVersion: "1.1",
				EventSourceArn: arn,
				UserIdentity:   &events.DynamoDBUserIdentity{Type: "Service", PrincipalID: "dynamodb.amazonaws.com"},
				Change: events.DynamoDBStreamRecord{
					ApproximateCreationDateTime: events.SecondsEpochTime{Time: created}, SequenceNumber: "111", SizeBytes: 42,
					StreamViewType: "NEW_AND_OLD_IMAGES",
					Keys:           map[string]events.DynamoDBAttributeValue{"PK": events.NewStringAttribute("AUTHZ#1")},
					OldImage:       allTypesLambda,
				},
			},
		},
		{
			name: "DynamoDB Local TTL delete passes through",
			in: types.Record{
				AwsRegion: aws.String("ddblocal"), EventID: aws.String("id-2"), EventName: types.OperationType("UNKNOWN_TO_SDK_VERSION"),
				EventSource: aws.String("aws:dynamodb"), EventVersion: aws.String("1.1"),
				Dynamodb: &types.StreamRecord{
					ApproximateCreationDateTime: &created, SequenceNumber: aws.String("112"), SizeBytes: aws.Int64(7),
					StreamViewType: types.StreamViewTypeNewAndOldImages,
					Keys: map[string]types.AttributeValue{"PK": &types.AttributeValueMemberS{Value: "AUTHZ#1"},
						"GSI1PK": &types.AttributeValueMemberS{Value: "USER#u"}},
				},
			},
			want: events.DynamoDBEventRecord{
				AWSRegion: "ddblocal", EventID: "id-2", EventName: "UNKNOWN_TO_SDK_VERSION", EventSource: "aws:dynamodb", EventVersion: "1.1",
				EventSourceArn: arn,
				Change: events.DynamoDBStreamRecord{
					ApproximateCreationDateTime: events.SecondsEpochTime{Time: created}, SequenceNumber: "112", SizeBytes: 7,
					StreamViewType: "NEW_AND_OLD_IMAGES",
					Keys: map[string]events.DynamoDBAttributeValue{"PK": events.NewStringAttribute("AUTHZ#1"),
						"GSI1PK": events.NewStringAttribute("USER#u")},
				},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := localstack.ConvertRecord(tt.in, arn, "us-east-1")
			if err != nil {
				t.Fatal(err)
			}
			if g, w := jsonOf(t, got), jsonOf(t, tt.want); g != w {
				t.Errorf("ConvertRecord =\n%s\nwant\n%s", g, w)
			}
		})
	}
}

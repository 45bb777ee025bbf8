package localstack_test

import (
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/passport-oss/passport/internal/localstack"
)

func rec(eventName string, keys map[string]events.DynamoDBAttributeValue) events.DynamoDBEventRecord {
	return events.DynamoDBEventRecord{
		EventName: eventName, EventSource: "aws:dynamodb", AWSRegion: "us-east-1", EventID: "e1", EventVersion: "1.1",
		Change: events.DynamoDBStreamRecord{
			Keys: keys, SequenceNumber: "100", SizeBytes: 10, StreamViewType: "NEW_AND_OLD_IMAGES",
			ApproximateCreationDateTime: events.SecondsEpochTime{Time: time.Unix(1700000000, 0)},
		},
	}
}

func s(v string) events.DynamoDBAttributeValue { return events.NewStringAttribute(v) }

func TestFilters(t *testing.T) {
	provider := `{"dynamodb":{"Keys":{"PK":{"S":[{"prefix":"PROVIDER#"}]}}}}`
	authz := `{"dynamodb":{"Keys":{"PK":{"S":[{"prefix":"AUTHZ#"}]}}}}`
	tests := []struct {
		name     string
		patterns []string
		record   events.DynamoDBEventRecord
		want     bool
	}{
		{"no filters pass everything", nil, rec("INSERT", map[string]events.DynamoDBAttributeValue{"PK": s("AUDIT#1")}), true},
		{"prefix match", []string{provider, authz}, rec("INSERT", map[string]events.DynamoDBAttributeValue{"PK": s("PROVIDER#p1"), "SK": s("META")}), true},
		{"second filter matches (OR)", []string{provider, authz}, rec("MODIFY", map[string]events.DynamoDBAttributeValue{"PK": s("AUTHZ#a1"), "SK": s("META")}), true},
		{"audit items filtered out", []string{provider, authz}, rec("INSERT", map[string]events.DynamoDBAttributeValue{"PK": s("AUDIT#2026"), "SK": s("x")}), false},
		{"unique markers filtered out", []string{provider, authz}, rec("INSERT", map[string]events.DynamoDBAttributeValue{"PK": s("UNIQUE#PROVIDER_NAME#github"), "SK": s("x")}), false},
		{"DynamoDB Local TTL delete: Keys carry GSI attributes, still matched on PK", []string{provider, authz},
			rec("UNKNOWN_TO_SDK_VERSION", map[string]events.DynamoDBAttributeValue{"PK": s("AUTHZ#a1"), "SK": s("META"), "GSI1PK": s("USER#u"), "GSI1SK": s("AUTHZ#a1")}), true},
		{"DynamoDB Local TTL delete of an audit item stays filtered", []string{provider, authz},
			rec("UNKNOWN_TO_SDK_VERSION", map[string]events.DynamoDBAttributeValue{"PK": s("AUDIT#x"), "SK": s("1"), "GSI1PK": s("PROVIDER#p")}), false},
		{"prefix on a number type does not match", []string{provider}, rec("INSERT", map[string]events.DynamoDBAttributeValue{"PK": events.NewNumberAttribute("1")}), false},
		{"exact string", []string{`{"eventName":["INSERT","MODIFY"]}`}, rec("MODIFY", nil), true},
		{"exact string mismatch", []string{`{"eventName":["INSERT"]}`}, rec("REMOVE", nil), false},
		{"anything-but value", []string{`{"eventName":[{"anything-but":"REMOVE"}]}`}, rec("INSERT", nil), true},
		{"anything-but value mismatch", []string{`{"eventName":[{"anything-but":"REMOVE"}]}`}, rec("REMOVE", nil), false},
		{"anything-but list", []string{`{"eventName":[{"anything-but":["REMOVE","MODIFY"]}]}`}, rec("MODIFY", nil), false},
		{"anything-but prefix", []string{`{"dynamodb":{"Keys":{"PK":{"S":[{"anything-but":{"prefix":"AUDIT#"}}]}}}}`},
			rec("INSERT", map[string]events.DynamoDBAttributeValue{"PK": s("PROVIDER#1")}), true},
		{"anything-but prefix mismatch", []string{`{"dynamodb":{"Keys":{"PK":{"S":[{"anything-but":{"prefix":"AUDIT#"}}]}}}}`},
			rec("INSERT", map[string]events.DynamoDBAttributeValue{"PK": s("AUDIT#1")}), false},
		{"exists true", []string{`{"dynamodb":{"Keys":{"SK":{"S":[{"exists":true}]}}}}`},
			rec("INSERT", map[string]events.DynamoDBAttributeValue{"PK": s("P"), "SK": s("x")}), true},
		{"exists true, absent", []string{`{"dynamodb":{"Keys":{"SK":{"S":[{"exists":true}]}}}}`},
			rec("INSERT", map[string]events.DynamoDBAttributeValue{"PK": s("P")}), false},
		{"exists false, absent", []string{`{"dynamodb":{"Keys":{"SK":{"S":[{"exists":false}]}}}}`},
			rec("INSERT", map[string]events.DynamoDBAttributeValue{"PK": s("P")}), true},
		{"exists false, present", []string{`{"dynamodb":{"Keys":{"SK":{"S":[{"exists":false}]}}}}`},
			rec("INSERT", map[string]events.DynamoDBAttributeValue{"PK": s("P"), "SK": s("x")}), false},
		{"exists true on an object does not match", []string{`{"dynamodb":{"Keys":[{"exists":true}]}}`},
			rec("INSERT", map[string]events.DynamoDBAttributeValue{"PK": s("P")}), false},
		{"number value", []string{`{"dynamodb":{"SizeBytes":[10]}}`}, rec("INSERT", nil), true},
		{"number value mismatch", []string{`{"dynamodb":{"SizeBytes":[11]}}`}, rec("INSERT", nil), false},
		{"all keys must match", []string{`{"eventName":["INSERT"],"dynamodb":{"Keys":{"PK":{"S":[{"prefix":"PROVIDER#"}]}}}}`},
			rec("REMOVE", map[string]events.DynamoDBAttributeValue{"PK": s("PROVIDER#p")}), false},
		{"string set: any element", []string{`{"dynamodb":{"Keys":{"T":{"SS":["b"]}}}}`},
			rec("INSERT", map[string]events.DynamoDBAttributeValue{"T": events.NewStringSetAttribute([]string{"a", "b"})}), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs, err := localstack.CompileFilters(tt.patterns)
			if err != nil {
				t.Fatal(err)
			}
			got, err := fs.MatchRecord(tt.record)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("match = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestFilterRejectsUnsupported(t *testing.T) {
	for _, p := range []string{
		`{"dynamodb":{"SizeBytes":[{"numeric":[">",10]}]}}`,
		`{"$or":[{"eventName":["INSERT"]},{"eventName":["MODIFY"]}]}`,
		`{"eventName":[{"wildcard":"IN*"}]}`,
		`{"eventName":"INSERT"}`,
		`{"eventName":[]}`,
		`["INSERT"]`,
		`{not json`,
	} {
		if _, err := localstack.CompileFilter(p); err == nil {
			t.Errorf("CompileFilter(%s) succeeded, want an error", p)
		}
	}
}

func TestTemplateFiltersCompile(t *testing.T) {
	m, err := MustTemplate(t).StreamMapping("AuditStreamFunction")
	if err != nil {
		t.Fatal(err)
	}
	if len(m.FilterPatterns) == 0 {
		t.Fatal("AuditStreamFunction has no filter patterns")
	}
	if _, err := localstack.CompileFilters(m.FilterPatterns); err != nil {
		t.Fatal(err)
	}
}

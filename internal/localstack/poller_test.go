package localstack_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"

	"github.com/passport-oss/passport/internal/localstack"
)

const waitLong = 2 * time.Minute

// sink records every invocation of a stream function.
type sink struct {
	mu      sync.Mutex
	batches [][]events.DynamoDBEventRecord
	handle  func(call int, ev events.DynamoDBEvent) (events.DynamoDBEventResponse, error)
}

func (s *sink) fn(_ context.Context, ev events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
	s.mu.Lock()
	s.batches = append(s.batches, ev.Records)
	call := len(s.batches)
	s.mu.Unlock()
	if s.handle != nil {
		return s.handle(call, ev)
	}
	return events.DynamoDBEventResponse{}, nil
}

// calls returns, per invocation, "EVENTNAME PK" of each record.
func (s *sink) calls() [][]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out [][]string
	for _, b := range s.batches {
		var c []string
		for _, r := range b {
			c = append(c, r.EventName+" "+r.Change.Keys["PK"].String())
		}
		out = append(out, c)
	}
	return out
}

// MustPoller starts a poller on the stream and stops it when the test ends.
func MustPoller(t *testing.T, streams localstack.StreamsAPI, arn string, cfg localstack.PollerConfig) *localstack.Poller {
	t.Helper()
	p, _ := startPoller(t, streams, arn, cfg)
	return p
}

// startPoller is MustPoller that also returns a function stopping the
// poller, as a poller that dies stops: it fails the test if Run does not
// return soon after.
func startPoller(t *testing.T, streams localstack.StreamsAPI, arn string, cfg localstack.PollerConfig) (*localstack.Poller, func()) {
	t.Helper()
	cfg.Streams, cfg.StreamARN, cfg.Region = streams, arn, region()
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 20 * time.Millisecond
	}
	if cfg.RetryBackoff == 0 {
		cfg.RetryBackoff = 10 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	p, err := localstack.NewPoller(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("poller Run: %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Errorf("poller Run did not return 30s after it was stopped")
			}
		})
	}
	t.Cleanup(stop)
	return p, stop
}

func MustWaitIdle(t *testing.T, p *localstack.Poller) {
	t.Helper()
	if err := p.WaitIdle(testContext(t, waitLong)); err != nil {
		t.Fatalf("WaitIdle: %v (stats %+v)", err, p.Stats())
	}
}

func sAttr(v string) ddbtypes.AttributeValue { return &ddbtypes.AttributeValueMemberS{Value: v} }

func MustPut(t *testing.T, client *dynamodb.Client, table string, item map[string]ddbtypes.AttributeValue) {
	t.Helper()
	if _, err := client.PutItem(context.Background(), &dynamodb.PutItemInput{TableName: aws.String(table), Item: item}); err != nil {
		t.Fatal(err)
	}
}

func MustDelete(t *testing.T, client *dynamodb.Client, table, pk, sk string) {
	t.Helper()
	if _, err := client.DeleteItem(context.Background(), &dynamodb.DeleteItemInput{TableName: aws.String(table),
		Key: map[string]ddbtypes.AttributeValue{"PK": sAttr(pk), "SK": sAttr(sk)}}); err != nil {
		t.Fatal(err)
	}
}

func item(pk string, extra ...string) map[string]ddbtypes.AttributeValue {
	m := map[string]ddbtypes.AttributeValue{"PK": sAttr(pk), "SK": sAttr("META")}
	for i := 0; i+1 < len(extra); i += 2 {
		m[extra[i]] = sAttr(extra[i+1])
	}
	return m
}

func templateMapping(t *testing.T) localstack.PollerConfig {
	t.Helper()
	m, err := MustTemplate(t).StreamMapping("AuditStreamFunction")
	if err != nil {
		t.Fatal(err)
	}
	cfg := localstack.PollerConfigFromMapping(m)
	cfg.MaximumBatchingWindow = 0 // deliver as soon as read: keeps the tests quick
	return cfg
}

func TestPollerDeliversFilteredRecordsInOrder(t *testing.T) {
	client, streams := MustClients(t)
	table, arn := MustTable(t, client)
	var s sink
	cfg := templateMapping(t)
	cfg.Invoke = s.fn
	p := MustPoller(t, streams, arn, cfg)

	MustPut(t, client, table, item("PROVIDER#p1", "name", "github"))
	MustPut(t, client, table, item("AUDIT#a1"))
	MustPut(t, client, table, item("UNIQUE#PROVIDER_NAME#github"))
	MustPut(t, client, table, item("AUTHZ#z1", "GSI1PK", "USER#u1", "GSI1SK", "AUTHZ#z1"))
	MustPut(t, client, table, item("PROVIDER#p1", "name", "github-renamed"))
	MustDelete(t, client, table, "AUTHZ#z1", "META")
	MustDelete(t, client, table, "AUDIT#a1", "META")
	all := item("PROVIDER#p2")
	for k, v := range allTypesStreamsAsItem() {
		all[k] = v
	}
	// DynamoDB Local streams an empty map as a typeless {} and the SDK then
	// decodes it as the previous attribute's value: leave empty maps out.
	delete(all, "EmptyM")
	MustPut(t, client, table, all)
	MustWaitIdle(t, p)

	var got []string
	var seqs []string
	s.mu.Lock()
	for _, b := range s.batches {
		for _, r := range b {
			got = append(got, r.EventName+" "+r.Change.Keys["PK"].String())
			seqs = append(seqs, r.Change.SequenceNumber)
			if r.EventSourceArn != arn || r.EventSource != "aws:dynamodb" || r.EventID == "" || r.Change.StreamViewType != "NEW_AND_OLD_IMAGES" {
				t.Errorf("record metadata = %+v", r)
			}
		}
	}
	last := s.batches[len(s.batches)-1]
	s.mu.Unlock()
	want := []string{"INSERT PROVIDER#p1", "INSERT AUTHZ#z1", "MODIFY PROVIDER#p1", "REMOVE AUTHZ#z1", "INSERT PROVIDER#p2"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("delivered %v, want %v", got, want)
	}
	if !slices.IsSortedFunc(seqs, compareSeq) {
		t.Errorf("sequence numbers out of order: %v", seqs)
	}
	if st := p.Stats(); st.Delivered != 5 || st.Filtered != 3 || st.Failed != 0 {
		t.Errorf("stats = %+v, want 5 delivered, 3 filtered, 0 failed", st)
	}

	// Every attribute type arrives as Lambda delivers it.
	img := last[len(last)-1].Change.NewImage
	wantImg := map[string]events.DynamoDBAttributeValue{"PK": events.NewStringAttribute("PROVIDER#p2"), "SK": events.NewStringAttribute("META")}
	for k, v := range allTypesLambda {
		wantImg[k] = v
	}
	delete(wantImg, "EmptyM")
	if g, w := jsonOf(t, normaliseSets(img)), jsonOf(t, normaliseSets(wantImg)); g != w {
		t.Errorf("NewImage =\n%s\nwant\n%s", g, w)
	}
}

// compareSeq orders sequence numbers numerically.
func compareSeq(a, b string) int {
	if len(a) != len(b) {
		return len(a) - len(b)
	}
	return strings.Compare(a, b)
}

// allTypesStreamsAsItem is allTypesStreams as a DynamoDB item.
func allTypesStreamsAsItem() map[string]ddbtypes.AttributeValue {
	return map[string]ddbtypes.AttributeValue{
		"S":    &ddbtypes.AttributeValueMemberS{Value: "text"},
		"N":    &ddbtypes.AttributeValueMemberN{Value: "-12.5"},
		"B":    &ddbtypes.AttributeValueMemberB{Value: []byte{0, 1, 0xff}},
		"BOOL": &ddbtypes.AttributeValueMemberBOOL{Value: true},
		"NULL": &ddbtypes.AttributeValueMemberNULL{Value: true},
		"SS":   &ddbtypes.AttributeValueMemberSS{Value: []string{"a", "b"}},
		"NS":   &ddbtypes.AttributeValueMemberNS{Value: []string{"1", "2.5"}},
		"BS":   &ddbtypes.AttributeValueMemberBS{Value: [][]byte{{1}, {2, 3}}},
		"L": &ddbtypes.AttributeValueMemberL{Value: []ddbtypes.AttributeValue{
			&ddbtypes.AttributeValueMemberS{Value: "x"}, &ddbtypes.AttributeValueMemberN{Value: "7"},
			&ddbtypes.AttributeValueMemberL{Value: []ddbtypes.AttributeValue{&ddbtypes.AttributeValueMemberBOOL{Value: false}}},
		}},
		"M": &ddbtypes.AttributeValueMemberM{Value: map[string]ddbtypes.AttributeValue{
			"inner": &ddbtypes.AttributeValueMemberM{Value: map[string]ddbtypes.AttributeValue{"deep": &ddbtypes.AttributeValueMemberNULL{Value: true}}},
			"s":     &ddbtypes.AttributeValueMemberS{Value: "y"},
		}},
		"EmptyM": &ddbtypes.AttributeValueMemberM{Value: map[string]ddbtypes.AttributeValue{}},
		"EmptyL": &ddbtypes.AttributeValueMemberL{Value: []ddbtypes.AttributeValue{}},
	}
}

// normaliseSets sorts set members: DynamoDB does not keep set order.
func normaliseSets(m map[string]events.DynamoDBAttributeValue) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		switch v.DataType() {
		case events.DataTypeStringSet:
			out[k] = slices.Sorted(slices.Values(v.StringSet()))
		case events.DataTypeNumberSet:
			out[k] = slices.Sorted(slices.Values(v.NumberSet()))
		case events.DataTypeBinarySet:
			var ss []string
			for _, b := range v.BinarySet() {
				ss = append(ss, fmt.Sprint(b))
			}
			slices.Sort(ss)
			out[k] = ss
		default:
			out[k] = v
		}
	}
	return out
}

func TestPollerPartialFailureRedeliversFromFailedRecord(t *testing.T) {
	client, streams := MustClients(t)
	table, arn := MustTable(t, client)
	for i := 1; i <= 5; i++ {
		MustPut(t, client, table, item(fmt.Sprintf("AUTHZ#%d", i)))
	}
	s := sink{handle: func(call int, ev events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
		if call == 1 {
			return events.DynamoDBEventResponse{BatchItemFailures: []events.DynamoDBBatchItemFailure{
				{ItemIdentifier: ev.Records[3].Change.SequenceNumber}, // a later failure: the earliest one counts
				{ItemIdentifier: ev.Records[2].Change.SequenceNumber},
			}}, nil
		}
		return events.DynamoDBEventResponse{}, nil
	}}
	cfg := templateMapping(t)
	cfg.Invoke = s.fn
	p := MustPoller(t, streams, arn, cfg)
	MustWaitIdle(t, p)

	got := s.calls()
	want := [][]string{
		{"INSERT AUTHZ#1", "INSERT AUTHZ#2", "INSERT AUTHZ#3", "INSERT AUTHZ#4", "INSERT AUTHZ#5"},
		{"INSERT AUTHZ#3", "INSERT AUTHZ#4", "INSERT AUTHZ#5"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("invocations = %v, want %v", got, want)
	}
	if st := p.Stats(); st.Delivered != 5 || st.Failed != 0 || st.Invocations != 2 {
		t.Errorf("stats = %+v, want 5 delivered, 0 failed, 2 invocations", st)
	}
}

func TestPollerFunctionErrorRetriesThenOnFailure(t *testing.T) {
	client, streams := MustClients(t)
	table, arn := MustTable(t, client)
	for i := 1; i <= 3; i++ {
		MustPut(t, client, table, item(fmt.Sprintf("PROVIDER#%d", i)))
	}
	var fail sync.Mutex
	failing := true
	s := sink{handle: func(int, events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
		fail.Lock()
		defer fail.Unlock()
		if failing {
			return events.DynamoDBEventResponse{}, errors.New("downstream unavailable")
		}
		return events.DynamoDBEventResponse{}, nil
	}}
	failFile := filepath.Join(t.TempDir(), "failures.jsonl")
	writeFile := localstack.AppendFailureFile(failFile)
	var mu sync.Mutex
	var failed [][]string
	cfg := templateMapping(t)
	cfg.Invoke = s.fn
	cfg.BisectOnError = false
	cfg.MaximumRetryAttempts = 2
	cfg.OnFailure = func(ctx context.Context, msg localstack.FailureMessage, recs []events.DynamoDBEventRecord) error {
		mu.Lock()
		var pks []string
		for _, r := range recs {
			pks = append(pks, r.Change.Keys["PK"].String())
		}
		failed = append(failed, pks)
		mu.Unlock()
		return writeFile(ctx, msg, recs)
	}
	p := MustPoller(t, streams, arn, cfg)
	MustWaitIdle(t, p)

	batch := []string{"INSERT PROVIDER#1", "INSERT PROVIDER#2", "INSERT PROVIDER#3"}
	if got, want := s.calls(), [][]string{batch, batch, batch}; !reflect.DeepEqual(got, want) {
		t.Fatalf("invocations = %v, want the batch 3 times (1 + 2 retries): %v", got, want)
	}
	mu.Lock()
	if got, want := failed, [][]string{{"PROVIDER#1", "PROVIDER#2", "PROVIDER#3"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("OnFailure got %v, want %v", got, want)
	}
	mu.Unlock()

	msgs := MustReadFailures(t, failFile)
	if len(msgs) != 1 {
		t.Fatalf("failure file has %d lines, want 1", len(msgs))
	}
	m := msgs[0]
	first, last := s.batches[0][0].Change.SequenceNumber, s.batches[0][2].Change.SequenceNumber
	if got, want := m.DDBStreamBatchInfo, (localstack.DDBStreamBatchInfo{
		ShardID: m.DDBStreamBatchInfo.ShardID, StartSequenceNumber: first, EndSequenceNumber: last,
		ApproximateArrivalOfFirstRecord: m.DDBStreamBatchInfo.ApproximateArrivalOfFirstRecord,
		ApproximateArrivalOfLastRecord:  m.DDBStreamBatchInfo.ApproximateArrivalOfLastRecord,
		BatchSize:                       3, StreamARN: arn,
	}); got != want {
		t.Errorf("DDBStreamBatchInfo = %+v, want %+v", got, want)
	}
	if !strings.HasPrefix(m.DDBStreamBatchInfo.ShardID, "shardId-") {
		t.Errorf("shardId = %q", m.DDBStreamBatchInfo.ShardID)
	}
	if got, want := m.RequestContext.Condition, localstack.ConditionRetryAttemptsExhausted; got != want {
		t.Errorf("condition = %q, want %q", got, want)
	}
	if got, want := m.RequestContext.ApproximateInvokeCount, 3; got != want {
		t.Errorf("approximateInvokeCount = %d, want %d", got, want)
	}

	// The mapping moved on: a new record is delivered on its own.
	fail.Lock()
	failing = false
	fail.Unlock()
	MustPut(t, client, table, item("PROVIDER#4"))
	MustWaitIdle(t, p)
	calls := s.calls()
	if got, want := calls[len(calls)-1], []string{"INSERT PROVIDER#4"}; !reflect.DeepEqual(got, want) {
		t.Errorf("after the failure, delivered %v, want %v", got, want)
	}
	if st := p.Stats(); st.Delivered != 1 || st.Failed != 3 {
		t.Errorf("stats = %+v, want 1 delivered, 3 failed", st)
	}
}

func MustReadFailures(t *testing.T, path string) []localstack.FailureMessage {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []localstack.FailureMessage
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var m localstack.FailureMessage
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("failure line %q: %v", sc.Text(), err)
		}
		out = append(out, m)
	}
	return out
}

func TestPollerBisectIsolatesPoisonRecord(t *testing.T) {
	client, streams := MustClients(t)
	table, arn := MustTable(t, client)
	for i := 1; i <= 6; i++ {
		MustPut(t, client, table, item(fmt.Sprintf("AUTHZ#%d", i)))
	}
	var mu sync.Mutex
	var ok []string
	s := sink{handle: func(_ int, ev events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
		for _, r := range ev.Records {
			if r.Change.Keys["PK"].String() == "AUTHZ#4" {
				return events.DynamoDBEventResponse{}, errors.New("poison")
			}
		}
		mu.Lock()
		for _, r := range ev.Records {
			ok = append(ok, r.Change.Keys["PK"].String())
		}
		mu.Unlock()
		return events.DynamoDBEventResponse{}, nil
	}}
	var failed []string
	cfg := templateMapping(t)
	cfg.Invoke = s.fn
	cfg.BisectOnError = true
	cfg.MaximumRetryAttempts = 1
	cfg.OnFailure = func(_ context.Context, _ localstack.FailureMessage, recs []events.DynamoDBEventRecord) error {
		mu.Lock()
		defer mu.Unlock()
		for _, r := range recs {
			failed = append(failed, r.Change.Keys["PK"].String())
		}
		return nil
	}
	p := MustPoller(t, streams, arn, cfg)
	MustWaitIdle(t, p)
	mu.Lock()
	defer mu.Unlock()
	if got, want := ok, []string{"AUTHZ#1", "AUTHZ#2", "AUTHZ#3", "AUTHZ#5", "AUTHZ#6"}; !reflect.DeepEqual(got, want) {
		t.Errorf("processed %v, want %v", got, want)
	}
	if got, want := failed, []string{"AUTHZ#4"}; !reflect.DeepEqual(got, want) {
		t.Errorf("OnFailure got %v, want %v", got, want)
	}
}

func TestPollerRecordAgeExceeded(t *testing.T) {
	client, streams := MustClients(t)
	table, arn := MustTable(t, client)
	MustPut(t, client, table, item("PROVIDER#old"))
	var s sink
	var mu sync.Mutex
	var conds []string
	cfg := templateMapping(t)
	cfg.Invoke = s.fn
	cfg.MaximumRecordAge = time.Nanosecond
	cfg.OnFailure = func(_ context.Context, msg localstack.FailureMessage, _ []events.DynamoDBEventRecord) error {
		mu.Lock()
		defer mu.Unlock()
		conds = append(conds, msg.RequestContext.Condition)
		return nil
	}
	p := MustPoller(t, streams, arn, cfg)
	MustWaitIdle(t, p)
	if got := s.calls(); len(got) != 0 {
		t.Errorf("aged-out record delivered: %v", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if got, want := conds, []string{localstack.ConditionRecordAgeExceeded}; !reflect.DeepEqual(got, want) {
		t.Errorf("OnFailure conditions = %v, want %v", got, want)
	}
}

// TestPollerTTLDeletion records how DynamoDB Local streams a TTL deletion:
// eventName UNKNOWN_TO_SDK_VERSION, no userIdentity, GSI attributes in Keys.
// The record still passes the template's Keys.PK filter.
func TestPollerTTLDeletion(t *testing.T) {
	client, streams := MustClients(t)
	table, arn := MustTable(t, client)
	var s sink
	cfg := templateMapping(t)
	cfg.Invoke = s.fn
	p := MustPoller(t, streams, arn, cfg)
	it := item("AUTHZ#ttl", "GSI1PK", "USER#u", "GSI1SK", "AUTHZ#ttl")
	it["purgeAt"] = &ddbtypes.AttributeValueMemberN{Value: fmt.Sprint(time.Now().Add(-time.Hour).Unix())}
	MustPut(t, client, table, it)

	deadline := time.Now().Add(waitLong)
	var ttl *events.DynamoDBEventRecord
	for ttl == nil && time.Now().Before(deadline) {
		MustWaitIdle(t, p)
		s.mu.Lock()
		for _, b := range s.batches {
			for i := range b {
				if b[i].EventName != "INSERT" {
					ttl = &b[i]
				}
			}
		}
		s.mu.Unlock()
		if ttl == nil {
			time.Sleep(200 * time.Millisecond)
		}
	}
	if ttl == nil {
		// DynamoDB Local's TTL sweeper stalls on a busy machine with many
		// tables: the emulator's precondition, not the poller, failed.
		t.Skipf("DynamoDB Local did not delete the expired item within %v (its TTL sweeper stalls under load); got %v", waitLong, s.calls())
	}
	if ttl.EventName != "REMOVE" && ttl.EventName != "UNKNOWN_TO_SDK_VERSION" {
		t.Errorf("TTL deletion eventName = %q", ttl.EventName)
	}
	if got, want := ttl.Change.Keys["PK"].String(), "AUTHZ#ttl"; got != want {
		t.Errorf("Keys.PK = %q, want %q", got, want)
	}
	if ttl.Change.OldImage == nil {
		t.Errorf("TTL deletion has no OldImage")
	}
	t.Logf("TTL deletion as streamed: eventName=%s userIdentity=%v keys=%v", ttl.EventName, ttl.UserIdentity, keysOf(ttl.Change.Keys))
}

func keysOf(m map[string]events.DynamoDBAttributeValue) []string {
	return slices.Sorted(func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	})
}

func TestNewPollerRejectsUnsupportedFilter(t *testing.T) {
	_, err := localstack.NewPoller(localstack.PollerConfig{
		Streams: fakeStreams{}, StreamARN: "arn", Invoke: (&sink{}).fn,
		FilterPatterns: []string{`{"dynamodb":{"SizeBytes":[{"numeric":[">",1]}]}}`},
	})
	if err == nil {
		t.Fatal("NewPoller accepted a numeric filter")
	}
}

// fakeStreams scripts a stream whose parent shard closed and rolled over to
// a child. DynamoDB Local does not roll shards within a test's time, so this
// one test uses a scripted stream; DescribeStream pages one shard at a time
// and lists the child first.
type fakeStreams struct {
	shards  []types.Shard
	records map[string][]types.Record
	closed  map[string]bool
}

func (f fakeStreams) DescribeStream(_ context.Context, in *dynamodbstreams.DescribeStreamInput, _ ...func(*dynamodbstreams.Options)) (*dynamodbstreams.DescribeStreamOutput, error) {
	i := 0
	if in.ExclusiveStartShardId != nil {
		for j, s := range f.shards {
			if *s.ShardId == *in.ExclusiveStartShardId {
				i = j + 1
			}
		}
	}
	desc := &types.StreamDescription{StreamArn: in.StreamArn}
	if i < len(f.shards) {
		desc.Shards = f.shards[i : i+1]
		if i+1 < len(f.shards) {
			desc.LastEvaluatedShardId = f.shards[i].ShardId
		}
	}
	return &dynamodbstreams.DescribeStreamOutput{StreamDescription: desc}, nil
}

func (f fakeStreams) GetShardIterator(_ context.Context, in *dynamodbstreams.GetShardIteratorInput, _ ...func(*dynamodbstreams.Options)) (*dynamodbstreams.GetShardIteratorOutput, error) {
	if in.ShardIteratorType != types.ShardIteratorTypeTrimHorizon {
		return nil, fmt.Errorf("unexpected iterator type %s", in.ShardIteratorType)
	}
	return &dynamodbstreams.GetShardIteratorOutput{ShardIterator: aws.String(*in.ShardId + "|0")}, nil
}

func (f fakeStreams) GetRecords(_ context.Context, in *dynamodbstreams.GetRecordsInput, _ ...func(*dynamodbstreams.Options)) (*dynamodbstreams.GetRecordsOutput, error) {
	shard, pos, _ := strings.Cut(*in.ShardIterator, "|")
	var n int
	fmt.Sscan(pos, &n)
	recs := f.records[shard]
	if n >= len(recs) {
		if f.closed[shard] {
			return &dynamodbstreams.GetRecordsOutput{}, nil
		}
		return &dynamodbstreams.GetRecordsOutput{NextShardIterator: in.ShardIterator}, nil
	}
	// One record per call, so that the child's turn comes while the parent
	// still has records.
	return &dynamodbstreams.GetRecordsOutput{Records: recs[n : n+1], NextShardIterator: aws.String(fmt.Sprintf("%s|%d", shard, n+1))}, nil
}

func fakeRecord(seq, pk string) types.Record {
	now := time.Now()
	return types.Record{EventID: aws.String("id-" + seq), EventName: types.OperationTypeInsert, EventSource: aws.String("aws:dynamodb"),
		EventVersion: aws.String("1.1"), AwsRegion: aws.String("us-east-1"),
		Dynamodb: &types.StreamRecord{ApproximateCreationDateTime: &now, SequenceNumber: aws.String(seq), SizeBytes: aws.Int64(1),
			StreamViewType: types.StreamViewTypeNewAndOldImages,
			Keys:           map[string]types.AttributeValue{"PK": &types.AttributeValueMemberS{Value: pk}}}}
}

func TestPollerFollowsChildShards(t *testing.T) {
	parent, child := "shardId-00000001-parent", "shardId-00000002-child"
	f := fakeStreams{
		shards: []types.Shard{
			{ShardId: aws.String(child), ParentShardId: aws.String(parent)},
			{ShardId: aws.String(parent)},
		},
		records: map[string][]types.Record{
			parent: {fakeRecord("100", "PROVIDER#1"), fakeRecord("101", "AUDIT#x"), fakeRecord("102", "PROVIDER#2")},
			child:  {fakeRecord("200", "PROVIDER#3"), fakeRecord("201", "AUTHZ#4")},
		},
		closed: map[string]bool{parent: true},
	}
	var s sink
	cfg := templateMapping(t)
	cfg.Invoke = s.fn
	p := MustPoller(t, f, "arn:aws:dynamodb:us-east-1:0:table/t/stream/x", cfg)
	MustWaitIdle(t, p)
	var got []string
	for _, c := range s.calls() {
		got = append(got, c...)
	}
	want := []string{"INSERT PROVIDER#1", "INSERT PROVIDER#2", "INSERT PROVIDER#3", "INSERT AUTHZ#4"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("delivered %v, want %v", got, want)
	}
}

// A function that panics on one record: the batch is bisected down to that
// record, which goes to OnFailure after MaximumRetryAttempts+1 invocations
// of it alone; every other record is acknowledged exactly once, in order.
// Records before the poison one were also handed to the failing
// invocations, so a real handler must be idempotent (the audit function is).
func TestPollerBisectsDownToPanickingRecord(t *testing.T) {
	client, streams := MustClients(t)
	table, arn := MustTable(t, client)
	var want []string
	for i := range 10 {
		MustPut(t, client, table, item(fmt.Sprintf("AUTHZ#%02d", i)))
		if i != 6 {
			want = append(want, fmt.Sprintf("AUTHZ#%02d", i))
		}
	}
	const poison = "AUTHZ#06"
	var mu sync.Mutex
	var acked []string
	var withPoison, alone int
	var poisonSeq string
	s := sink{handle: func(_ int, ev events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
		for _, r := range ev.Records {
			if r.Change.Keys["PK"].String() == poison {
				mu.Lock()
				withPoison++
				if len(ev.Records) == 1 {
					alone++
				}
				poisonSeq = r.Change.SequenceNumber
				mu.Unlock()
				panic("cannot handle " + poison)
			}
		}
		mu.Lock()
		for _, r := range ev.Records {
			acked = append(acked, r.Change.Keys["PK"].String())
		}
		mu.Unlock()
		return events.DynamoDBEventResponse{}, nil
	}}
	failFile := filepath.Join(t.TempDir(), "failures.jsonl")
	cfg := templateMapping(t)
	cfg.Invoke = s.fn
	cfg.BisectOnError = true
	cfg.MaximumRetryAttempts = 2
	cfg.OnFailure = localstack.AppendFailureFile(failFile)
	p := MustPoller(t, streams, arn, cfg)
	MustWaitIdle(t, p)

	mu.Lock()
	defer mu.Unlock()
	if !reflect.DeepEqual(acked, want) {
		t.Errorf("acknowledged %v, want each other record once, in order: %v", acked, want)
	}
	if got, want := alone, cfg.MaximumRetryAttempts+1; got != want {
		t.Errorf("the poison record was invoked alone %d times, want %d (MaximumRetryAttempts+1)", got, want)
	}
	msgs := MustReadFailures(t, failFile)
	if len(msgs) != 1 {
		t.Fatalf("%d OnFailure messages, want 1: %+v", len(msgs), msgs)
	}
	b := msgs[0].DDBStreamBatchInfo
	if b.StartSequenceNumber != poisonSeq || b.EndSequenceNumber != poisonSeq || b.BatchSize != 1 {
		t.Errorf("OnFailure batch %s..%s (%d records), want the poison record %s alone", b.StartSequenceNumber, b.EndSequenceNumber, b.BatchSize, poisonSeq)
	}
	rc := msgs[0].RequestContext
	if rc.Condition != localstack.ConditionRetryAttemptsExhausted || rc.ApproximateInvokeCount != cfg.MaximumRetryAttempts+1 {
		t.Errorf("OnFailure %s after %d invocations, want %s after %d", rc.Condition, rc.ApproximateInvokeCount, localstack.ConditionRetryAttemptsExhausted, cfg.MaximumRetryAttempts+1)
	}
	st := p.Stats()
	if st.Delivered != 9 || st.Failed != 1 || st.Errors != withPoison || st.Bisections == 0 {
		t.Errorf("stats = %+v, want 9 delivered, 1 failed, %d errors (the invocations with the poison record), bisections", st, withPoison)
	}
	t.Logf("%d invocations, %d with the poison record (%d alone), %d bisections, %d retries", st.Invocations, withPoison, alone, st.Bisections, st.Retries)
}

// A function that overruns its Timeout and ignores its context: the poller
// does not wait for it; the invocation fails, is retried and the batch is
// delivered by the retry. The late answer (a success) is dropped.
func TestPollerTimeoutFailsTheInvocation(t *testing.T) {
	client, streams := MustClients(t)
	table, arn := MustTable(t, client)
	for i := 1; i <= 3; i++ {
		MustPut(t, client, table, item(fmt.Sprintf("PROVIDER#%d", i)))
	}
	release := make(chan struct{})
	defer close(release)
	s := sink{handle: func(call int, _ events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
		if call == 1 {
			<-release // hangs, context or not, until the test ends
		}
		return events.DynamoDBEventResponse{}, nil
	}}
	cfg := templateMapping(t)
	cfg.Invoke = s.fn
	cfg.BisectOnError = false
	cfg.MaximumRetryAttempts = 2
	cfg.Timeout = 250 * time.Millisecond
	p := MustPoller(t, streams, arn, cfg)
	if err := p.WaitIdle(testContext(t, 30*time.Second)); err != nil {
		t.Fatalf("WaitIdle: %v: the poller waited for a function past its Timeout (stats %+v)", err, p.Stats())
	}

	batch := []string{"INSERT PROVIDER#1", "INSERT PROVIDER#2", "INSERT PROVIDER#3"}
	if got, want := s.calls(), [][]string{batch, batch}; !reflect.DeepEqual(got, want) {
		t.Errorf("invocations = %v, want the batch twice (timed out, then retried): %v", got, want)
	}
	want := localstack.PollerStats{Read: 3, Delivered: 3, Invocations: 2, Errors: 1, TimedOut: 1, Retries: 1}
	if got := p.Stats(); got != want {
		t.Errorf("stats = %+v, want %+v", got, want)
	}
}

// A poller stopped while the function handles a batch (and ignores its
// context), then a new poller on the same Checkpoints: the new one starts
// at the unacknowledged batch, redelivers it and goes on; nothing
// acknowledged is delivered again and nothing is skipped.
func TestPollerRestartResumesAfterCheckpoint(t *testing.T) {
	client, streams := MustClients(t)
	table, arn := MustTable(t, client)
	for i := 1; i <= 6; i++ {
		MustPut(t, client, table, item(fmt.Sprintf("AUTHZ#%d", i)))
	}
	cps := &localstack.Checkpoints{}
	inFlight, release := make(chan struct{}, 1), make(chan struct{})
	defer close(release)
	first := sink{handle: func(call int, _ events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
		if call == 2 {
			inFlight <- struct{}{}
			<-release // the poller dies meanwhile
		}
		return events.DynamoDBEventResponse{}, nil
	}}
	cfg := templateMapping(t)
	cfg.BatchSize = 2
	cfg.Checkpoints = cps
	cfg.Invoke = first.fn
	_, stop := startPoller(t, streams, arn, cfg)
	select {
	case <-inFlight:
	case <-time.After(waitLong):
		t.Fatalf("the second batch was not invoked; invocations %v", first.calls())
	}
	stop()

	MustPut(t, client, table, item("AUTHZ#7")) // while no poller runs
	var second sink
	cfg.Invoke = second.fn
	p := MustPoller(t, streams, arn, cfg)
	MustWaitIdle(t, p)

	if got, want := first.calls(), [][]string{{"INSERT AUTHZ#1", "INSERT AUTHZ#2"}, {"INSERT AUTHZ#3", "INSERT AUTHZ#4"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("first poller's invocations = %v, want %v", got, want)
	}
	var got []string
	for _, c := range second.calls() {
		got = append(got, c...)
	}
	if want := []string{"INSERT AUTHZ#3", "INSERT AUTHZ#4", "INSERT AUTHZ#5", "INSERT AUTHZ#6", "INSERT AUTHZ#7"}; !reflect.DeepEqual(got, want) {
		t.Errorf("the new poller delivered %v, want %v: from the unacknowledged batch on", got, want)
	}
}

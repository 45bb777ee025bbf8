package faults_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/smithy-go"

	"github.com/passport-oss/passport/internal/faults"
	"github.com/passport-oss/passport/internal/testenv"
)

// noRetries makes the SDK show each attempt's own error.
func noRetries(o *dynamodb.Options) { o.RetryMaxAttempts = 1 }

func mustDynamoDB(t *testing.T, tr *faults.Transport) (*dynamodb.Client, string) {
	t.Helper()
	testenv.Require(t, "AWS_ENDPOINT_URL_DYNAMODB")
	plain := testenv.DynamoDB(t)
	table := testenv.NewTable(t, plain)
	return dynamodb.NewFromConfig(testenv.AWSConfig(t, tr.Client()), noRetries), table
}

func apiCode(t *testing.T, err error) string {
	t.Helper()
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) {
		t.Fatalf("error %v is not an API error", err)
	}
	return apiErr.ErrorCode()
}

func key(pk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		"PK": &types.AttributeValueMemberS{Value: pk}, "SK": &types.AttributeValueMemberS{Value: "X"},
	}
}

// Each fault reaches the SDK as DynamoDB's own answer, and only on the
// operation its rule names.
func TestDynamoDBFaultsAreDynamoDBsAnswers(t *testing.T) {
	tr := faults.New(nil, 1)
	db, table := mustDynamoDB(t, tr)
	ctx := context.Background()
	get := &dynamodb.GetItemInput{TableName: &table, Key: key("k")}
	for _, tt := range []struct {
		kind   faults.Kind
		code   string
		status int
	}{
		{faults.Throttle, "ThrottlingException", 400},
		{faults.ThroughputExceeded, "ProvisionedThroughputExceededException", 400},
		{faults.TransactionThrottled, "ThrottlingException", 400}, // not a transaction
		{faults.ServerError, "InternalServerError", 500},
	} {
		tr.SetRules(faults.Rule{Op: "DynamoDB.GetItem", Kind: tt.kind, Rate: 1})
		_, err := db.GetItem(ctx, get)
		if got := apiCode(t, err); got != tt.code {
			t.Errorf("%v: code %s, want %s", tt.kind, got, tt.code)
		}
		var re interface{ HTTPStatusCode() int }
		if !errors.As(err, &re) || re.HTTPStatusCode() != tt.status {
			t.Errorf("%v: %v, want status %d", tt.kind, err, tt.status)
		}
		if _, err := db.Query(ctx, &dynamodb.QueryInput{TableName: &table, KeyConditionExpression: aws.String("PK = :p"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":p": &types.AttributeValueMemberS{Value: "k"}}}); err != nil {
			t.Errorf("%v on GetItem faulted a Query: %v", tt.kind, err)
		}
	}
	c := tr.Take()
	if got := c.Faults(); got != 4 {
		t.Errorf("injected %d faults, want 4: %v", got, c.Injected)
	}
	if got := c.Calls["DynamoDB.GetItem"]; got != 4 {
		t.Errorf("counted %d GetItem calls, want 4", got)
	}
}

// A throttled transaction is cancelled as DynamoDB cancels it: one reason
// per action, ThrottlingError first; nothing is written.
func TestTransactionThrottled(t *testing.T) {
	tr := faults.New(nil, 1, faults.Rule{Op: "DynamoDB.TransactWriteItems", Kind: faults.TransactionThrottled, Rate: 1})
	db, table := mustDynamoDB(t, tr)
	_, err := db.TransactWriteItems(context.Background(), &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Put: &types.Put{TableName: &table, Item: key("a")}},
		{Put: &types.Put{TableName: &table, Item: key("b")}},
	}})
	var tce *types.TransactionCanceledException
	if !errors.As(err, &tce) {
		t.Fatalf("err = %v, want TransactionCanceledException", err)
	}
	var codes []string
	for _, r := range tce.CancellationReasons {
		codes = append(codes, aws.ToString(r.Code))
	}
	if strings.Join(codes, ",") != "ThrottlingError,None" {
		t.Errorf("reasons %v, want ThrottlingError,None", codes)
	}
	if items := testenv.Items(t, testenv.DynamoDB(t), table); len(items) != 0 {
		t.Errorf("a cancelled transaction wrote %d items", len(items))
	}
}

// BadGateway reaches the SDK as a 502 whose code is none of DynamoDB's:
// a caller can tell it is transient only by its status.
func TestBadGatewayHasOnlyAStatus(t *testing.T) {
	tr := faults.New(nil, 1, faults.Rule{Op: "DynamoDB.GetItem", Kind: faults.BadGateway, Rate: 1})
	db, table := mustDynamoDB(t, tr)
	_, err := db.GetItem(context.Background(), &dynamodb.GetItemInput{TableName: &table, Key: key("k")})
	var re interface{ HTTPStatusCode() int }
	if !errors.As(err, &re) || re.HTTPStatusCode() != 502 {
		t.Fatalf("err = %v, want an error with status 502", err)
	}
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) && strings.Contains(apiErr.ErrorCode(), "Exception") {
		t.Errorf("code %q looks like one of DynamoDB's", apiErr.ErrorCode())
	}
	if got := tr.Counts().Faults(faults.BadGateway); got < 1 {
		t.Errorf("%d bad-gateway faults counted, want at least 1", got)
	}
}

// Drop fails before the service sees the call; DropResponse after it has
// done it.
func TestDrops(t *testing.T) {
	tr := faults.New(nil, 1)
	db, table := mustDynamoDB(t, tr)
	plain := testenv.DynamoDB(t)
	for _, tt := range []struct {
		kind    faults.Kind
		pk      string
		written bool
	}{
		{faults.Drop, "dropped", false},
		{faults.DropResponse, "response-dropped", true},
	} {
		tr.SetRules(faults.Rule{Op: "DynamoDB.PutItem", Kind: tt.kind, Rate: 1})
		_, err := db.PutItem(context.Background(), &dynamodb.PutItemInput{TableName: &table, Item: key(tt.pk)})
		var opErr *net.OpError
		if !errors.As(err, &opErr) || !strings.Contains(err.Error(), "connection reset") {
			t.Errorf("%v: err = %v, want a connection reset", tt.kind, err)
		}
		out, err := plain.GetItem(context.Background(), &dynamodb.GetItemInput{TableName: &table, Key: key(tt.pk), ConsistentRead: aws.Bool(true)})
		if err != nil {
			t.Fatal(err)
		}
		if got := out.Item != nil; got != tt.written {
			t.Errorf("%v: item written = %v, want %v", tt.kind, got, tt.written)
		}
	}
}

// KMS faults are KMS's answers.
func TestKMSFaultsAreKMSsAnswers(t *testing.T) {
	testenv.Require(t, "AWS_ENDPOINT_URL_KMS")
	_, keyID := testenv.KMS(t)
	tr := faults.New(nil, 1)
	client := kms.NewFromConfig(testenv.AWSConfig(t, tr.Client()), func(o *kms.Options) { o.RetryMaxAttempts = 1 })
	in := &kms.GenerateDataKeyInput{KeyId: &keyID, KeySpec: kmstypes.DataKeySpecAes256}
	for _, tt := range []struct {
		kind faults.Kind
		code string
	}{
		{faults.Throttle, "ThrottlingException"},
		{faults.ThroughputExceeded, "ThrottlingException"},
		{faults.ServerError, "KMSInternalException"},
	} {
		tr.SetRules(faults.Rule{Op: "KMS.*", Kind: tt.kind, Rate: 1})
		_, err := client.GenerateDataKey(context.Background(), in)
		if got := apiCode(t, err); got != tt.code {
			t.Errorf("%v: code %s, want %s", tt.kind, got, tt.code)
		}
	}
	tr.SetRules()
	if _, err := client.GenerateDataKey(context.Background(), in); err != nil {
		t.Errorf("without rules: %v", err)
	}
}

// ok is a service that answers every call with an empty JSON object.
func ok(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("{}")) }))
	t.Cleanup(srv.Close)
	return srv
}

func call(t *testing.T, client *http.Client, url, target string) error {
	t.Helper()
	req, err := http.NewRequest("POST", url, strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Amz-Target", target)
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		return errors.New(resp.Status)
	}
	return nil
}

// One seed, one sequence of decisions per operation, however the
// operations interleave; another seed, another sequence. Rates hold.
func TestDeterministicPerSeed(t *testing.T) {
	srv := ok(t)
	rules := []faults.Rule{{Op: "DynamoDB.*", Kind: faults.Throttle, Rate: 0.3}}
	outcomes := func(seed uint64, interleave bool) string {
		tr := faults.New(nil, seed, rules...)
		c := tr.Client()
		var b strings.Builder
		for i := 0; i < 1000; i++ {
			if interleave && i%3 == 0 {
				_ = call(t, c, srv.URL, "DynamoDB_20120810.Query")
			}
			if call(t, c, srv.URL, "DynamoDB_20120810.GetItem") != nil {
				b.WriteByte('x')
			} else {
				b.WriteByte('.')
			}
		}
		return b.String()
	}
	a, b, other := outcomes(7, false), outcomes(7, true), outcomes(8, false)
	if a != b {
		t.Errorf("seed 7 decided GetItem differently once Queries interleaved")
	}
	if a == other {
		t.Errorf("seeds 7 and 8 decided alike")
	}
	if n := strings.Count(a, "x"); n < 250 || n > 350 {
		t.Errorf("rate 0.3 faulted %d of 1000 calls", n)
	}
}

// Latency holds a call for its delay, and no longer than the caller waits.
func TestLatency(t *testing.T) {
	srv := ok(t)
	tr := faults.New(nil, 1, faults.Rule{Op: "*", Kind: faults.Latency, Rate: 1, Delay: time.Hour})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", srv.URL, strings.NewReader("{}"))
	req.Header.Set("X-Amz-Target", "TrentService.Decrypt")
	_, err := tr.Client().Do(req)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want the caller's deadline", err)
	}
	if got := tr.Counts().Injected["KMS.Decrypt"][faults.Latency]; got != 1 {
		t.Errorf("counted %d latency faults on KMS.Decrypt, want 1", got)
	}

	tr.SetRules(faults.Rule{Op: "KMS.Decrypt", Kind: faults.Latency, Rate: 1, Delay: time.Millisecond})
	if err := call(t, tr.Client(), srv.URL, "TrentService.Decrypt"); err != nil {
		t.Errorf("a delayed call failed: %v", err)
	}
}

// Every attempt of one SDK call counts at the wire; the call itself once.
func TestCountsAttemptsPerSDKCall(t *testing.T) {
	tr := faults.New(nil, 1)
	testenv.Require(t, "AWS_ENDPOINT_URL_DYNAMODB")
	table := testenv.NewTable(t, testenv.DynamoDB(t))
	db := dynamodb.NewFromConfig(testenv.AWSConfig(t, tr.Client()), func(o *dynamodb.Options) { o.RetryMaxAttempts = 3 })
	tr.SetRules(faults.Rule{Op: "DynamoDB.GetItem", Kind: faults.ServerError, Rate: 1})
	if _, err := db.GetItem(context.Background(), &dynamodb.GetItemInput{TableName: &table, Key: key("k")}); err == nil {
		t.Fatal("a GetItem failing every attempt succeeded")
	}
	c := tr.Take()
	if c.Calls["DynamoDB.GetItem"] != 3 || c.Invocations["DynamoDB.GetItem"] != 1 || c.MostAttempts != 3 {
		t.Errorf("calls %v, invocations %v, most attempts %d; want 3 attempts of 1 call", c.Calls, c.Invocations, c.MostAttempts)
	}
	if got := c.Faults(faults.ServerError); got != 3 {
		t.Errorf("%d server errors injected, want 3", got)
	}
}

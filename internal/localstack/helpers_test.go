package localstack_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"

	"github.com/passport-oss/passport/internal/localstack"
	"github.com/passport-oss/passport/internal/samtemplate"
)

// MustEndpoint returns the DynamoDB Local endpoint the stack exported. Without
// one the test is skipped, or fails when PASSPORT_REQUIRE_STACK=1.
func MustEndpoint(t *testing.T) string {
	t.Helper()
	ep := os.Getenv("AWS_ENDPOINT_URL_DYNAMODB")
	if ep == "" {
		if os.Getenv("PASSPORT_REQUIRE_STACK") == "1" {
			t.Fatal("AWS_ENDPOINT_URL_DYNAMODB is not set but PASSPORT_REQUIRE_STACK=1")
		}
		t.Skip("AWS_ENDPOINT_URL_DYNAMODB not set; run under `go run ./cmd/passport-local exec -- go test ./...`")
	}
	return ep
}

func region() string {
	if r := os.Getenv("AWS_REGION"); r != "" {
		return r
	}
	return "us-east-1"
}

// MustClients returns DynamoDB and DynamoDB Streams clients for the stack.
func MustClients(t *testing.T) (*dynamodb.Client, *dynamodbstreams.Client) {
	t.Helper()
	ep := MustEndpoint(t)
	streamsEP := os.Getenv("AWS_ENDPOINT_URL_DYNAMODB_STREAMS")
	if streamsEP == "" {
		streamsEP = ep
	}
	creds := credentials.NewStaticCredentialsProvider("local", "local", "")
	return localstack.NewDynamoDBClient(ep, region()),
		dynamodbstreams.New(dynamodbstreams.Options{Region: region(), BaseEndpoint: aws.String(streamsEP), Credentials: creds})
}

// MustTemplate loads the repository's template.yaml.
func MustTemplate(t *testing.T) *samtemplate.Template {
	t.Helper()
	root, err := localstack.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	tmpl, err := samtemplate.Load(filepath.Join(root, "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return tmpl
}

// MustTable creates a uniquely named table from template.yaml's definition
// and deletes it when the test ends. It returns the name and stream ARN.
func MustTable(t *testing.T, client *dynamodb.Client) (string, string) {
	t.Helper()
	ctx := context.Background()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "localstack-test-" + hex.EncodeToString(b)
	if _, err := localstack.CreateTable(ctx, client, MustTemplate(t), name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = client.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(name)})
	})
	arn, err := localstack.LatestStreamARN(ctx, client, name)
	if err != nil {
		t.Fatal(err)
	}
	return name, arn
}

func testContext(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

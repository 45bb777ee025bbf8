package localstack_test

import (
	"context"
	"os/exec"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/passport-oss/passport/internal/localstack"
)

// TestStartServices starts a fresh DynamoDB Local and local-kms (as `run`
// and `exec` do) and checks both answer. Skipped with -short or when java or
// npm is missing.
func TestStartServices(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a JVM; skipped with -short")
	}
	for _, tool := range []string{"java", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	ddb, err := localstack.StartDynamoDB(ctx, localstack.DynamoDBOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ddb.Stop() })
	if _, err := localstack.NewDynamoDBClient(ddb.Endpoint, "us-east-1").ListTables(ctx, &dynamodb.ListTablesInput{}); err != nil {
		t.Fatalf("ListTables on %s: %v", ddb.Endpoint, err)
	}

	k, err := localstack.StartKMS(ctx, localstack.KMSOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { k.Stop() })
	key, err := localstack.CreateKey(ctx, k.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	if key.ID == "" || key.ARN == "" {
		t.Fatalf("CreateKey = %+v, want id and ARN", key)
	}
	client := localstack.NewKMSClient(k.Endpoint, "us-east-1")
	enc, err := client.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String(key.ID), Plaintext: []byte("secret"),
		EncryptionContext: map[string]string{"a": "b"}})
	if err != nil {
		t.Fatal(err)
	}
	dec, err := client.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: map[string]string{"a": "b"}})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(dec.Plaintext), "secret"; got != want {
		t.Fatalf("Decrypt = %q, want %q", got, want)
	}

	ddb.Stop()
	select {
	case <-ddb.Exited():
	case <-time.After(30 * time.Second):
		t.Fatal("DynamoDB Local still running after Stop")
	}
}

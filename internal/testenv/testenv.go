// Package testenv gives tests the real local services that `make test` starts
// (DynamoDB Local, local-kms; see cmd/passport-local exec): SDK clients
// pointed at them and a fresh table per test, created from template.yaml's
// own definition.
//
// Outside `make test` the services may be absent: tests then skip, unless
// PASSPORT_REQUIRE_STACK=1 (set by `make test`), where a missing service
// fails the test rather than letting it pass unrun.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/passport-oss/passport/internal/samtemplate"
)

// Require returns the value of the environment variable name, skipping or
// failing the test when it is unset (see the package comment).
func Require(t testing.TB, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v != "" {
		return v
	}
	if os.Getenv("PASSPORT_REQUIRE_STACK") == "1" {
		t.Fatalf("%s is not set, but PASSPORT_REQUIRE_STACK=1: the local stack did not start", name)
	}
	t.Skipf("%s is not set: run through `make test` (or cmd/passport-local exec) to use the local stack", name)
	return ""
}

// AWSConfig returns an SDK config for the local services with fake
// credentials, and the given HTTP client (nil for the default).
func AWSConfig(t testing.TB, client *http.Client) aws.Config {
	t.Helper()
	opts := []func(*config.LoadOptions) error{
		config.WithRegion("us-east-1"),
		config.WithCredentialsProvider(aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "local", SecretAccessKey: "local", Source: "testenv"}, nil
		})),
	}
	cfg, err := config.LoadDefaultConfig(context.Background(), opts...)
	if err != nil {
		t.Fatalf("load AWS config: %v", err)
	}
	if client != nil {
		// Set after loading: the loader refuses a plain *http.Client when
		// AWS_CA_BUNDLE is set, and the local services need no custom CA.
		cfg.HTTPClient = client
	}
	return cfg
}

// DynamoDB returns a client for DynamoDB Local.
func DynamoDB(t testing.TB) *dynamodb.Client {
	t.Helper()
	Require(t, "AWS_ENDPOINT_URL_DYNAMODB")
	return dynamodb.NewFromConfig(AWSConfig(t, nil))
}

// KMS returns a client for local-kms and the id of a key `make test` created.
func KMS(t testing.TB) (*kms.Client, string) {
	t.Helper()
	Require(t, "AWS_ENDPOINT_URL_KMS")
	keyID := Require(t, "PASSPORT_KMS_KEY_ID")
	return kms.NewFromConfig(AWSConfig(t, nil)), keyID
}

// RepoRoot returns the module's root folder.
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the working directory")
		}
		dir = parent
	}
}

var (
	templateOnce sync.Once
	template     *samtemplate.Template
	templateErr  error
)

// Template returns the parsed template.yaml.
func Template(t testing.TB) *samtemplate.Template {
	t.Helper()
	templateOnce.Do(func() {
		template, templateErr = samtemplate.Load(filepath.Join(RepoRoot(t), "template.yaml"))
	})
	if templateErr != nil {
		t.Fatalf("load template.yaml: %v", templateErr)
	}
	return template
}

// NewTable creates a table with a unique name from template.yaml's definition
// of the Passport table, waits until it is active, and deletes it when the
// test ends. It returns the table's name.
func NewTable(t testing.TB, db *dynamodb.Client) string {
	t.Helper()
	name := "passport-test-" + strings.ToLower(sanitize(t.Name())) + "-" + randomHex(4)
	if len(name) > 255 {
		name = name[:255]
	}
	create, ttl, err := Template(t).TableDefinition(name)
	if err != nil {
		t.Fatalf("table definition: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := db.CreateTable(ctx, create); err != nil {
		t.Fatalf("create table %s: %v", name, err)
	}
	if err := dynamodb.NewTableExistsWaiter(db).Wait(ctx, &dynamodb.DescribeTableInput{TableName: &name}, time.Minute); err != nil {
		t.Fatalf("wait for table %s: %v", name, err)
	}
	if ttl != nil {
		if _, err := db.UpdateTimeToLive(ctx, ttl); err != nil {
			t.Fatalf("enable TTL on %s: %v", name, err)
		}
	}
	t.Cleanup(func() {
		_, _ = db.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: &name})
	})
	return name
}

func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' {
			return r
		}
		return '-'
	}, s)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Items returns every item of table. Tests use it to prove what a request
// left behind; request paths never Scan.
func Items(t testing.TB, db *dynamodb.Client, table string) []map[string]types.AttributeValue {
	t.Helper()
	var items []map[string]types.AttributeValue
	p := dynamodb.NewScanPaginator(db, &dynamodb.ScanInput{TableName: &table, ConsistentRead: aws.Bool(true)})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatalf("scan %s: %v", table, err)
		}
		items = append(items, page.Items...)
	}
	return items
}

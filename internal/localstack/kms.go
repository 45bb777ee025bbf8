package localstack

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
)

// LocalKMSModule is the Go package built into the local-kms binary (a `tool`
// of this module, so its version is pinned by go.mod/go.sum).
const LocalKMSModule = "github.com/nsmithuk/local-kms"

// KMSOptions configures StartKMS.
type KMSOptions struct {
	// Port to listen on; 0 picks a free port. local-kms binds all interfaces.
	Port int
	// DataDir is local-kms's database folder; empty means a temporary folder
	// removed by Stop.
	DataDir string
	// BinDir receives the built binary (default <module root>/.cache/bin).
	BinDir string
	// Region and AccountID appear in key ARNs (defaults us-east-1, 111122223333).
	Region, AccountID string
	// ReadyTimeout bounds the wait for the first answer (default 30s).
	ReadyTimeout time.Duration
}

// BuildLocalKMS builds local-kms into binDir once (from the module root, so
// the version in go.mod is used) and returns the binary's path.
func BuildLocalKMS(ctx context.Context, binDir string) (string, error) {
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	if binDir == "" {
		binDir = filepath.Join(root, ".cache", "bin")
	}
	bin := filepath.Join(binDir, "local-kms")
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	unlock, err := lockDir(binDir)
	if err != nil {
		return "", err
	}
	defer unlock()
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	goTool, err := lookTool("go", "the Go toolchain builds local-kms")
	if err != nil {
		return "", err
	}
	tmp := bin + ".tmp"
	if err := runCmd(ctx, root, nil, goTool, "build", "-o", tmp, LocalKMSModule); err != nil {
		return "", fmt.Errorf("build local-kms: %w", err)
	}
	if err := os.Rename(tmp, bin); err != nil {
		return "", err
	}
	return bin, nil
}

// StartKMS builds (once) and starts local-kms, waiting until it answers.
func StartKMS(ctx context.Context, opts KMSOptions) (*Service, error) {
	bin, err := BuildLocalKMS(ctx, opts.BinDir)
	if err != nil {
		return nil, err
	}
	port := opts.Port
	if port == 0 {
		if port, err = freePort(); err != nil {
			return nil, err
		}
	}
	var cleanup []func()
	dataDir := opts.DataDir
	if dataDir == "" {
		tmp, err := os.MkdirTemp("", "passport-kms-*")
		if err != nil {
			return nil, err
		}
		dataDir = tmp
		cleanup = append(cleanup, func() { os.RemoveAll(tmp) })
	}
	region := opts.Region
	if region == "" {
		region = "us-east-1"
	}
	account := opts.AccountID
	if account == "" {
		account = "111122223333"
	}
	cmd := exec.Command(bin)
	cmd.Dir = dataDir
	cmd.Env = append(os.Environ(),
		"PORT="+portString(port),
		"KMS_DATA_PATH="+dataDir,
		"KMS_REGION="+region,
		"KMS_ACCOUNT_ID="+account,
		"KMS_SEED_PATH="+filepath.Join(dataDir, "no-seed.yaml"),
	)
	timeout := opts.ReadyTimeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	client := NewKMSClient(loopbackEndpoint(port), region)
	return launch(ctx, "local-kms", cmd, port, timeout, cleanup, func(ctx context.Context) error {
		_, err := client.ListKeys(ctx, &kms.ListKeysInput{})
		return err
	})
}

// NewKMSClient returns a KMS client for a local endpoint with fake credentials.
func NewKMSClient(endpoint, region string) *kms.Client {
	return kms.New(kms.Options{
		Region:       region,
		BaseEndpoint: aws.String(endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider("local", "local", ""),
		HTTPClient:   &http.Client{Timeout: 30 * time.Second},
	})
}

// Key is a created KMS key.
type Key struct{ ID, ARN string }

// CreateKey creates a symmetric encryption key (SYMMETRIC_DEFAULT,
// ENCRYPT_DECRYPT) on the KMS at endpoint.
func CreateKey(ctx context.Context, endpoint string) (Key, error) {
	region := os.Getenv("AWS_REGION")
	if region == "" {
		region = "us-east-1"
	}
	out, err := NewKMSClient(endpoint, region).CreateKey(ctx, &kms.CreateKeyInput{
		Description: aws.String("passport local token vault key"),
		KeySpec:     kmstypes.KeySpecSymmetricDefault,
		KeyUsage:    kmstypes.KeyUsageTypeEncryptDecrypt,
	})
	if err != nil {
		return Key{}, fmt.Errorf("create KMS key: %w", err)
	}
	return Key{ID: aws.ToString(out.KeyMetadata.KeyId), ARN: aws.ToString(out.KeyMetadata.Arn)}, nil
}

package kmsenvelope_test

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/passport-oss/passport/internal/kmsenvelope"
)

// ---------------------------------------------------------------------------
// The local-kms stack.
//
// The project's test runner exports AWS_ENDPOINT_URL_KMS (plus AWS_REGION and
// fake credentials) for a running local-kms. Without it these tests skip,
// unless PASSPORT_REQUIRE_STACK=1, in which case they fail.

const stackHelp = "AWS_ENDPOINT_URL_KMS is not set; run the tests with `make test` (it starts local-kms), " +
	"or start it from the module root (PORT=4599 KMS_REGION=us-east-1 KMS_DATA_PATH=$(mktemp -d) go tool local-kms &) " +
	"and export AWS_ENDPOINT_URL_KMS=http://127.0.0.1:4599 AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=x AWS_SECRET_ACCESS_KEY=x"

var stack struct {
	once   sync.Once
	client *kms.Client
	keyID  string // ARN of a fresh symmetric key created for this test run
	err    error
	mu     sync.Mutex
	extra  []string // other keys created during the run, to schedule for deletion
}

func requireStack(t testing.TB) {
	t.Helper()
	if os.Getenv("AWS_ENDPOINT_URL_KMS") != "" {
		return
	}
	if os.Getenv("PASSPORT_REQUIRE_STACK") == "1" {
		t.Fatal("PASSPORT_REQUIRE_STACK=1 but " + stackHelp)
	}
	t.Skip(stackHelp)
}

// stackKMS returns a real SDK client for local-kms (the SDK honours
// AWS_ENDPOINT_URL_KMS) and the ARN of a symmetric key created once per test
// process.
func stackKMS(t testing.TB) (*kms.Client, string) {
	t.Helper()
	requireStack(t)
	stack.once.Do(func() {
		ctx := context.Background()
		var opts []func(*config.LoadOptions) error
		if os.Getenv("AWS_REGION") == "" && os.Getenv("AWS_DEFAULT_REGION") == "" {
			opts = append(opts, config.WithRegion("us-east-1"))
		}
		if os.Getenv("AWS_ACCESS_KEY_ID") == "" && os.Getenv("AWS_PROFILE") == "" {
			opts = append(opts, config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("x", "x", "")))
		}
		cfg, err := config.LoadDefaultConfig(ctx, opts...)
		if err != nil {
			stack.err = fmt.Errorf("load AWS config: %w", err)
			return
		}
		stack.client = kms.NewFromConfig(cfg)
		stack.keyID, stack.err = createKey(ctx, stack.client)
	})
	if stack.err != nil {
		t.Fatalf("local-kms at %s: %v", os.Getenv("AWS_ENDPOINT_URL_KMS"), stack.err)
	}
	return stack.client, stack.keyID
}

func createKey(ctx context.Context, c *kms.Client) (string, error) {
	out, err := c.CreateKey(ctx, &kms.CreateKeyInput{
		Description: aws.String("passport kmsenvelope test " + time.Now().UTC().Format(time.RFC3339)),
		KeySpec:     types.KeySpecSymmetricDefault,
		KeyUsage:    types.KeyUsageTypeEncryptDecrypt,
	})
	if err != nil {
		return "", fmt.Errorf("CreateKey: %w", err)
	}
	return aws.ToString(out.KeyMetadata.Arn), nil
}

// MustCreateKey creates an additional symmetric key (scheduled for deletion
// after the run).
func MustCreateKey(t testing.TB) string {
	t.Helper()
	c, _ := stackKMS(t)
	arn, err := createKey(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	stack.mu.Lock()
	stack.extra = append(stack.extra, arn)
	stack.mu.Unlock()
	return arn
}

func TestMain(m *testing.M) {
	code := m.Run()
	if stack.client != nil {
		// Keep a shared KMS tidy: schedule this run's keys for deletion
		// (7 days is the KMS minimum).
		for _, k := range append([]string{stack.keyID}, stack.extra...) {
			if k == "" {
				continue
			}
			_, _ = stack.client.ScheduleKeyDeletion(context.Background(), &kms.ScheduleKeyDeletionInput{
				KeyId: aws.String(k), PendingWindowInDays: aws.Int32(7),
			})
		}
	}
	os.Exit(code)
}

// ---------------------------------------------------------------------------
// Helpers.

// countingKMS wraps a KMS client, counts calls, and lets a test inject
// failures or rewrite requests.
type countingKMS struct {
	inner kmsenvelope.KMS
	gen   atomic.Int64
	dec   atomic.Int64

	// Optional hooks, called before the inner client. A non-nil error is
	// returned instead of calling it.
	beforeGen func(*kms.GenerateDataKeyInput) error
	beforeDec func(*kms.DecryptInput) error
}

func (c *countingKMS) GenerateDataKey(ctx context.Context, in *kms.GenerateDataKeyInput, optFns ...func(*kms.Options)) (*kms.GenerateDataKeyOutput, error) {
	c.gen.Add(1)
	if c.beforeGen != nil {
		if err := c.beforeGen(in); err != nil {
			return nil, err
		}
	}
	return c.inner.GenerateDataKey(ctx, in, optFns...)
}

func (c *countingKMS) Decrypt(ctx context.Context, in *kms.DecryptInput, optFns ...func(*kms.Options)) (*kms.DecryptOutput, error) {
	c.dec.Add(1)
	if c.beforeDec != nil {
		if err := c.beforeDec(in); err != nil {
			return nil, err
		}
	}
	return c.inner.Decrypt(ctx, in, optFns...)
}

func (c *countingKMS) calls() (gen, dec int64) { return c.gen.Load(), c.dec.Load() }

// fakeClock is an injectable Options.Now.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func MustNew(t testing.TB, client kmsenvelope.KMS, opts kmsenvelope.Options) *kmsenvelope.Envelope {
	t.Helper()
	e, err := kmsenvelope.New(client, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return e
}

func MustSeal(t testing.TB, e *kmsenvelope.Envelope, plaintext []byte, encCtx map[string]string) []byte {
	t.Helper()
	blob, err := e.Seal(context.Background(), plaintext, encCtx)
	if err != nil {
		t.Fatalf("Seal: %v", err)
	}
	return blob
}

func MustOpen(t testing.TB, e *kmsenvelope.Envelope, blob []byte, encCtx map[string]string) []byte {
	t.Helper()
	pt, err := e.Open(context.Background(), blob, encCtx)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return pt
}

// wantKind fails unless err is an *kmsenvelope.Error of the given kind.
func wantKind(t testing.TB, err, kind error) {
	t.Helper()
	if err == nil {
		t.Fatalf("got nil error, want %v", kind)
	}
	if !errors.Is(err, kind) {
		t.Fatalf("got error %q, want kind %v", err, kind)
	}
	var e *kmsenvelope.Error
	if !errors.As(err, &e) {
		t.Fatalf("got %T, want *kmsenvelope.Error", err)
	}
	if got, want := e.Retryable(), kind == kmsenvelope.ErrUnavailable; got != want {
		t.Fatalf("Retryable() = %v, want %v (err %q)", got, want, err)
	}
	if got, want := kmsenvelope.IsRetryable(err), kind == kmsenvelope.ErrUnavailable; got != want {
		t.Fatalf("IsRetryable() = %v, want %v (err %q)", got, want, err)
	}
}

// authzCtx is a Passport-shaped encryption context.
func authzCtx(authz, provider, user string) map[string]string {
	return map[string]string{"authorizationId": authz, "providerId": provider, "userId": user}
}

func cloneCtx(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// uniq returns a random hex suffix so contexts differ between runs.
func uniq(t testing.TB) string {
	t.Helper()
	return fmt.Sprintf("%x", randBytes(t, 6))
}

func randBytes(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// ---------------------------------------------------------------------------
// fakeKMS: an in-memory stand-in used only where a real KMS is not the
// point (the fuzz target, error-mapping tests). It wraps data keys with
// AES-GCM under a fixed master key, binding the encryption context, and
// fails like KMS (InvalidCiphertextException).

type fakeKMS struct {
	keyID string
	aead  cipher.AEAD
}

func newFakeKMS() *fakeKMS {
	master := make([]byte, 32)
	for i := range master {
		master[i] = 0x42
	}
	block, _ := aes.NewCipher(master)
	aead, _ := cipher.NewGCM(block)
	return &fakeKMS{keyID: "fake-key", aead: aead}
}

func fakeAAD(keyID string, encCtx map[string]string) []byte {
	keys := make([]string, 0, len(encCtx))
	for k := range encCtx {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	b.WriteString(keyID)
	for _, k := range keys {
		fmt.Fprintf(&b, "|%d:%s=%d:%s", len(k), k, len(encCtx[k]), encCtx[k])
	}
	return []byte(b.String())
}

func (f *fakeKMS) GenerateDataKey(_ context.Context, in *kms.GenerateDataKeyInput, _ ...func(*kms.Options)) (*kms.GenerateDataKeyOutput, error) {
	if aws.ToString(in.KeyId) != f.keyID {
		return nil, &types.NotFoundException{Message: aws.String("no such key")}
	}
	key := make([]byte, 32)
	rand.Read(key)
	nonce := make([]byte, 12)
	rand.Read(nonce)
	edk := f.aead.Seal(nonce, nonce, key, fakeAAD(f.keyID, in.EncryptionContext))
	return &kms.GenerateDataKeyOutput{KeyId: in.KeyId, Plaintext: key, CiphertextBlob: edk}, nil
}

func (f *fakeKMS) Decrypt(_ context.Context, in *kms.DecryptInput, _ ...func(*kms.Options)) (*kms.DecryptOutput, error) {
	if aws.ToString(in.KeyId) != f.keyID {
		return nil, &types.IncorrectKeyException{Message: aws.String("wrong key")}
	}
	b := in.CiphertextBlob
	if len(b) < 12+16 {
		return nil, &types.InvalidCiphertextException{}
	}
	pt, err := f.aead.Open(nil, b[:12], b[12:], fakeAAD(f.keyID, in.EncryptionContext))
	if err != nil {
		return nil, &types.InvalidCiphertextException{}
	}
	return &kms.DecryptOutput{KeyId: in.KeyId, Plaintext: pt}, nil
}

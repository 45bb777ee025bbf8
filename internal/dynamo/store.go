// Package dynamo implements Passport's services on one DynamoDB table.
// keys.go documents the table's key design; every method makes exactly one
// DynamoDB call per write and per page of a list.
package dynamo

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/smithy-go"

	"github.com/passport-oss/passport/internal/passport"
)

// DB is the part of *dynamodb.Client the store uses.
type DB interface {
	GetItem(context.Context, *dynamodb.GetItemInput, ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(context.Context, *dynamodb.PutItemInput, ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(context.Context, *dynamodb.UpdateItemInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	Query(context.Context, *dynamodb.QueryInput, ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	TransactWriteItems(context.Context, *dynamodb.TransactWriteItemsInput, ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
	BatchWriteItem(context.Context, *dynamodb.BatchWriteItemInput, ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error)
}

// TokenSealer encrypts a token, bound to the encryption context given, before
// it reaches the table. Errors it returns are passed on as they are, so it
// should return *passport.Error for conditions a caller can act on
// (EUNAVAILABLE when the key service is unreachable).
type TokenSealer interface {
	Seal(ctx context.Context, plaintext []byte, encryptionContext map[string]string) ([]byte, error)
}

// TokenOpener decrypts a token sealed by a TokenSealer under the same
// encryption context. Like TokenSealer's, its errors are passed on as they
// are.
type TokenOpener interface {
	Open(ctx context.Context, sealed []byte, encryptionContext map[string]string) ([]byte, error)
}

// Config configures a Store.
type Config struct {
	Table string
	// AuthorizationRetention is how long an authorization stays after it
	// expires before DynamoDB's TTL purges it.
	AuthorizationRetention time.Duration
	// AuditRetention is how long an audit entry is kept.
	AuditRetention time.Duration
	// Sealer encrypts tokens. Required to create authorizations.
	Sealer TokenSealer
	// Opener decrypts tokens. Required to read them.
	Opener TokenOpener
	// CursorKey signs list cursors, so clients cannot forge or edit them.
	// Every function serving one list must share it.
	CursorKey []byte
	// Now returns the current time; time.Now when nil.
	Now func() time.Time
}

// Retention defaults, used when Config leaves them zero.
const (
	DefaultAuthorizationRetention = 30 * 24 * time.Hour
	DefaultAuditRetention         = 400 * 24 * time.Hour
)

// Store implements passport.ProviderService, passport.AuthorizationService
// and passport.AuditService, and writes audit entries for internal/audit.
type Store struct {
	db  DB
	cfg Config
}

var (
	_ passport.ProviderService      = (*Store)(nil)
	_ passport.AuthorizationService = (*Store)(nil)
	_ passport.AuditService         = (*Store)(nil)
)

// New returns a Store on the table cfg.Table.
func New(db DB, cfg Config) *Store {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.AuthorizationRetention <= 0 {
		cfg.AuthorizationRetention = DefaultAuthorizationRetention
	}
	if cfg.AuditRetention <= 0 {
		cfg.AuditRetention = DefaultAuditRetention
	}
	return &Store{db: db, cfg: cfg}
}

// now is the current time at the millisecond precision of the wire format,
// so what is stored is exactly what is returned.
func (s *Store) now() time.Time { return s.cfg.Now().UTC().Truncate(time.Millisecond) }

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// newID returns an opaque, URL-safe identifier with 128 random bits.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never returns an error (Go 1.24+).
	return idEncoding.EncodeToString(b[:])
}

// unavailable reports errors worth a retry by the caller: throttling, the
// service's own 5xx after the SDK's retries, timeouts and broken
// connections. A 5xx or 429 counts whatever its code: a proxy's 502 or an
// error code this list does not know is still the service failing, not
// the request.
func unavailable(err error) bool {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		switch apiErr.ErrorCode() {
		case "ProvisionedThroughputExceededException", "ThrottlingException",
			"RequestLimitExceeded", "InternalServerError", "ServiceUnavailable",
			"TransactionInProgressException", "LimitExceededException":
			return true
		}
	}
	var resp interface{ HTTPStatusCode() int }
	if errors.As(err, &resp) && (resp.HTTPStatusCode() >= 500 || resp.HTTPStatusCode() == http.StatusTooManyRequests) {
		return true
	}
	var netErr net.Error
	return errors.As(err, &netErr) || errors.Is(err, context.DeadlineExceeded)
}

// storageError turns an SDK error into what the service returns: a 503 for
// transient faults, an internal error (never shown to callers) otherwise.
func storageError(op string, err error) error {
	if unavailable(err) {
		return &passport.Error{Code: passport.EUNAVAILABLE, Message: "Storage is temporarily unavailable; retry shortly."}
	}
	return fmt.Errorf("dynamo: %s: %w", op, err)
}

// lower folds a provider name for the uniqueness marker. Names are ASCII.
func lower(s string) string { return strings.ToLower(s) }

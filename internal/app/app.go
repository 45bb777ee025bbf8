// Package app wires Passport together: configuration from the environment,
// the AWS SDK clients, the store, and the handlers each Lambda function
// serves. functions/*/main.go and the local stack (cmd/passport-local) both
// build their handlers here, so the local run executes exactly the code the
// functions run.
package app

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/passport-oss/passport/internal/audit"
	"github.com/passport-oss/passport/internal/dynamo"
	"github.com/passport-oss/passport/internal/httpapi"
	"github.com/passport-oss/passport/internal/kmsenvelope"
	"github.com/passport-oss/passport/internal/metrics"
	"github.com/passport-oss/passport/internal/passport"
)

// Config is what the functions read from their environment (template.yaml
// sets it; see LoadConfig for the variables).
type Config struct {
	Table                  string
	KMSKeyID               string
	AuthorizationRetention time.Duration
	AuditRetention         time.Duration
	LogLevel               slog.Level
	// CursorKey signs list cursors (CURSOR_SIGNING_KEY).
	CursorKey []byte
	// LogOutput receives the JSON logs and the EMF metrics lines; os.Stdout
	// (Lambda's log stream) when nil. Not read from the environment: tests
	// set it to read logs.
	LogOutput io.Writer
}

// LoadConfig reads the configuration:
//
//	TABLE_NAME                    the DynamoDB table (required)
//	KMS_KEY_ID                    the KMS key that seals tokens (required by functions that store tokens)
//	AUTHORIZATION_RETENTION_DAYS  days an expired authorization is kept before TTL purges it (default 30)
//	AUDIT_RETENTION_DAYS          days an audit entry is kept (default 400)
//	CURSOR_SIGNING_KEY            signs list cursors; every function of one list must share it
//	AWS_LAMBDA_LOG_LEVEL          DEBUG, INFO, WARN or ERROR (default INFO)
func LoadConfig(getenv func(string) string) (Config, error) {
	cfg := Config{Table: getenv("TABLE_NAME"), KMSKeyID: getenv("KMS_KEY_ID"), CursorKey: []byte(getenv("CURSOR_SIGNING_KEY"))}
	if len(cfg.CursorKey) == 0 {
		// Without a configured secret, cursors are still bound to their list,
		// filter and partitions, and signed with a key anyone who knows the
		// table's name could derive: set CURSOR_SIGNING_KEY to make them
		// unforgeable.
		sum := sha256.Sum256([]byte("passport-cursor\x00" + cfg.Table))
		cfg.CursorKey = sum[:]
	}
	var errs []error
	if cfg.Table == "" {
		errs = append(errs, errors.New("TABLE_NAME is required"))
	}
	var err error
	if cfg.AuthorizationRetention, err = days(getenv, "AUTHORIZATION_RETENTION_DAYS", 30); err != nil {
		errs = append(errs, err)
	}
	if cfg.AuditRetention, err = days(getenv, "AUDIT_RETENTION_DAYS", 400); err != nil {
		errs = append(errs, err)
	}
	if s := getenv("AWS_LAMBDA_LOG_LEVEL"); s != "" {
		if err := cfg.LogLevel.UnmarshalText([]byte(s)); err != nil {
			errs = append(errs, fmt.Errorf("AWS_LAMBDA_LOG_LEVEL %q: want DEBUG, INFO, WARN or ERROR", s))
		}
	}
	return cfg, errors.Join(errs...)
}

func days(getenv func(string) string, name string, def int) (time.Duration, error) {
	s := getenv(name)
	if s == "" {
		return time.Duration(def) * 24 * time.Hour, nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 1 || n > 3650 {
		return 0, fmt.Errorf("%s %q: want a whole number of days from 1 to 3650", name, s)
	}
	return time.Duration(n) * 24 * time.Hour, nil
}

// App holds what a function builds once per container, at init.
type App struct {
	cfg    Config
	aws    aws.Config
	store  *dynamo.Store
	logs   io.Writer // the log stream: logs and EMF metrics
	logger *slog.Logger
}

// New builds the SDK clients and the store. The SDK reads credentials,
// region and endpoints (AWS_ENDPOINT_URL_DYNAMODB, AWS_ENDPOINT_URL_KMS)
// from the environment; nothing here calls AWS.
func New(ctx context.Context, cfg Config) (*App, error) {
	awsCfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("load AWS config: %w", err)
	}
	return NewWithAWS(cfg, awsCfg)
}

// NewWithAWS is New with a given SDK config.
func NewWithAWS(cfg Config, awsCfg aws.Config) (*App, error) {
	logs := cfg.LogOutput
	if logs == nil {
		logs = os.Stdout
	}
	awsCfg = boundRetries(awsCfg) // retry.go: at most 3 attempts per AWS call
	a := &App{cfg: cfg, aws: awsCfg, logs: logs, logger: NewLogger(logs, cfg.LogLevel)}
	storeCfg := dynamo.Config{
		Table:                  cfg.Table,
		CursorKey:              cfg.CursorKey,
		AuthorizationRetention: cfg.AuthorizationRetention,
		AuditRetention:         cfg.AuditRetention,
	}
	if cfg.KMSKeyID != "" {
		env, err := kmsenvelope.New(kms.NewFromConfig(awsCfg), kmsenvelope.Options{KeyID: cfg.KMSKeyID})
		if err != nil {
			return nil, fmt.Errorf("token envelope: %w", err)
		}
		storeCfg.Sealer, storeCfg.Opener = vault{env}, vault{env}
	}
	a.store = dynamo.New(dynamodb.NewFromConfig(awsCfg), storeCfg)
	return a, nil
}

// Logger returns the app's structured logger.
func (a *App) Logger() *slog.Logger { return a.logger }

// needsKMS lists the functions that seal or open tokens.
var needsKMS = map[string]bool{"CreateAuthorizationFunction": true, "ReadTokenFunction": true}

// APIHandler returns the net/http handler of the API function functionID
// (a logical id in template.yaml).
func (a *App) APIHandler(functionID string) (http.Handler, error) {
	if needsKMS[functionID] && a.cfg.KMSKeyID == "" {
		return nil, fmt.Errorf("%s: KMS_KEY_ID is required", functionID)
	}
	srv := &httpapi.Server{Providers: a.store, Authorizations: a.store, Audit: a.store, Logger: a.logger}
	h, err := srv.Handler(functionID)
	if err != nil {
		return nil, err
	}
	// A deadline before the function's Timeout: 503, not Lambda's cut-off.
	h = httpapi.WithDeadline(h, httpapi.RequestBudget, httpapi.ResponseReserve)
	return metrics.Requests(a.logs, h), nil // EMF: requests, 4xx, 5xx, latency per route
}

// APIFunction is the Lambda handler of the API function functionID: its
// net/http handler behind the API Gateway HTTP API (payload v2) adapter.
func (a *App) APIFunction(functionID string) (func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error), error) {
	h, err := a.APIHandler(functionID)
	if err != nil {
		return nil, err
	}
	return httpapi.LambdaHandler(h), nil // the proxy's adapter, safe for HTTP API's decoded rawPath
}

// AuditFunction is the Lambda handler of the audit function.
func (a *App) AuditFunction() func(context.Context, events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
	h := &audit.Handler{Writer: a.store, Logger: a.logger, Metrics: a.logs}
	return h.Handle
}

// StartAPIFunction runs the API function functionID as a Lambda: config and
// clients at init, then lambda.Start. A missing setting stops init with a
// clear log line, so the deployment fails fast instead of at first request.
func StartAPIFunction(functionID string) {
	a := mustNew()
	h, err := a.APIFunction(functionID)
	if err != nil {
		fatal(err)
	}
	lambda.Start(h)
}

// StartAuditFunction runs the audit function as a Lambda.
func StartAuditFunction() {
	lambda.Start(mustNew().AuditFunction())
}

func mustNew() *App {
	cfg, err := LoadConfig(os.Getenv)
	if err != nil {
		fatal(err)
	}
	a, err := New(context.Background(), cfg)
	if err != nil {
		fatal(err)
	}
	return a
}

func fatal(err error) {
	NewLogger(os.Stderr, slog.LevelInfo).Error("init failed", "error", err.Error())
	os.Exit(1)
}

// vault adapts the KMS envelope to the store, turning KMS outages into the
// 503 a caller can retry.
type vault struct{ env *kmsenvelope.Envelope }

func (v vault) Seal(ctx context.Context, plaintext []byte, encCtx map[string]string) ([]byte, error) {
	blob, err := v.env.Seal(ctx, plaintext, encCtx)
	return blob, keyServiceError(err)
}

func (v vault) Open(ctx context.Context, blob []byte, encCtx map[string]string) ([]byte, error) {
	plaintext, err := v.env.Open(ctx, blob, encCtx)
	return plaintext, keyServiceError(err)
}

func keyServiceError(err error) error {
	if errors.Is(err, kmsenvelope.ErrUnavailable) {
		return &passport.Error{Code: passport.EUNAVAILABLE, Message: "The key service is temporarily unavailable; retry shortly."}
	}
	return err
}

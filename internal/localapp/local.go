// Package localapp assembles the whole API on one machine, as AWS runs it:
// the template's routes through the local gateway to each function's
// handler (built by internal/app, or the built binaries under the Lambda
// emulator) and the table's stream polled into the stream functions. It is
// what `make run`, the end-to-end tests and the benchmarks serve; the Lambda
// binaries never link it.
package localapp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"

	"github.com/passport-oss/passport/internal/app"
	"github.com/passport-oss/passport/internal/localstack"
	"github.com/passport-oss/passport/internal/samtemplate"
)

// LocalOptions configures NewLocal.
type LocalOptions struct {
	Table    string // the table, created from the template if absent
	KMSKeyID string // the key that template's AWS::KMS::Key resources stand for
	// FailuresFile receives the stream mapping's OnFailure messages.
	FailuresFile string
	Logger       *slog.Logger
	// Functions, when set, supplies the handlers instead of this process
	// (passport-local run -lambda=rie: RIEFunctions, the built binaries).
	Functions Functions
	// LogOutput, when set, receives every function's logs (tests read them).
	LogOutput io.Writer
	// WrapStream, when set, wraps each stream function as the pollers invoke
	// it: tests use it to inject the faults a real consumer meets.
	WrapStream func(localstack.StreamFunc) localstack.StreamFunc
	// HTTPClient, when set, returns the HTTP client the SDK clients of the
	// function functionID send through (nil: the default): tests put fault
	// injection (internal/faults) between a function and AWS here. Table
	// setup and the stream pollers keep the default.
	HTTPClient func(functionID string) aws.HTTPClient
}

// Local is the whole API as `make run` serves it: every route of the
// template through the local gateway to the function that serves it, and the
// table's stream polled into each stream function as its event source
// mapping would.
type Local struct {
	Gateway   *localstack.Gateway
	Routes    []samtemplate.Route
	Pollers   []*localstack.Poller
	Consumers []string
	StreamARN string
}

// NewLocal creates the table from tmpl (unless it exists) and builds the
// gateway and pollers. Each function gets its own App from its own
// environment, as each Lambda builds its own at init; references to the
// template's table and KMS key resolve to the local ones.
func NewLocal(ctx context.Context, tmpl *samtemplate.Template, awsCfg aws.Config, opts LocalOptions) (*Local, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	ddb := dynamodb.NewFromConfig(awsCfg)
	if _, err := localstack.CreateTable(ctx, ddb, tmpl, opts.Table); err != nil {
		return nil, err
	}
	streamARN, err := localstack.LatestStreamARN(ctx, ddb, opts.Table)
	if err != nil {
		return nil, err
	}
	apps, timeouts, err := functionApps(tmpl, awsCfg, opts)
	if err != nil {
		return nil, err
	}
	l := &Local{Routes: tmpl.Routes(), StreamARN: streamARN}

	fns := map[string]localstack.APIFunc{}
	for _, r := range l.Routes {
		if fns[r.FunctionID] != nil {
			continue
		}
		if opts.Functions != nil {
			fns[r.FunctionID], err = opts.Functions.API(r.FunctionID)
		} else {
			fns[r.FunctionID], err = apps[r.FunctionID].APIFunction(r.FunctionID)
		}
		if err != nil {
			return nil, err
		}
	}
	l.Gateway = localstack.NewGateway(l.Routes, fns)
	l.Gateway.Timeouts = timeouts
	l.Gateway.Logger = opts.Logger

	streams := dynamodbstreams.NewFromConfig(awsCfg)
	for _, id := range tmpl.FunctionIDs() {
		m, err := tmpl.StreamMapping(id)
		if err != nil {
			continue // not a stream consumer
		}
		pc := localstack.PollerConfigFromMapping(m)
		pc.Streams, pc.StreamARN, pc.Region = streams, streamARN, awsCfg.Region
		pc.Invoke = apps[id].AuditFunction()
		if opts.WrapStream != nil {
			pc.Invoke = opts.WrapStream(pc.Invoke)
		}
		if opts.Functions != nil {
			if pc.Invoke, err = opts.Functions.Stream(id); err != nil {
				return nil, err
			}
		}
		if opts.FailuresFile != "" {
			pc.OnFailure = localstack.AppendFailureFile(opts.FailuresFile)
		}
		pc.FunctionARN = "arn:aws:lambda:" + awsCfg.Region + ":123456789012:function:" + id
		pc.Timeout = timeouts[id]
		pc.Logger = opts.Logger.With("function", id)
		p, err := localstack.NewPoller(pc)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", id, err)
		}
		l.Pollers = append(l.Pollers, p)
		l.Consumers = append(l.Consumers, id)
	}
	return l, nil
}

func functionApps(tmpl *samtemplate.Template, awsCfg aws.Config, opts LocalOptions) (map[string]*app.App, map[string]time.Duration, error) {
	resources := map[string]string{}
	for id, r := range tmpl.Resources {
		switch r.Type {
		case samtemplate.TypeTable:
			resources[id] = opts.Table
		case "AWS::KMS::Key", "AWS::KMS::Alias":
			resources[id] = opts.KMSKeyID
		}
	}
	apps := map[string]*app.App{}
	timeouts := map[string]time.Duration{}
	for _, id := range tmpl.FunctionIDs() {
		env, err := tmpl.ResolveEnv(id, resources, nil)
		if err != nil {
			return nil, nil, err
		}
		cfg, err := app.LoadConfig(func(k string) string {
			if v, ok := env[k]; ok {
				return v
			}
			return os.Getenv(k) // e.g. AWS_LAMBDA_LOG_LEVEL, as Lambda sets it
		})
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", id, err)
		}
		cfg.LogOutput = opts.LogOutput
		fnCfg := awsCfg
		if opts.HTTPClient != nil {
			if c := opts.HTTPClient(id); c != nil {
				fnCfg.HTTPClient = c
			}
		}
		if apps[id], err = app.NewWithAWS(cfg, fnCfg); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", id, err)
		}
		if f, ok := tmpl.Function(id); ok && f.Timeout > 0 {
			timeouts[id] = time.Duration(f.Timeout) * time.Second
		}
	}
	return apps, timeouts, nil
}

// RunPollers polls the stream until ctx ends or a poller fails.
func (l *Local) RunPollers(ctx context.Context) error {
	errc := make(chan error, len(l.Pollers))
	for _, p := range l.Pollers {
		go func() { errc <- p.Run(ctx) }()
	}
	var errs []error
	for range l.Pollers {
		if err := <-errc; err != nil && !errors.Is(err, context.Canceled) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// WaitIdle waits until every poller has delivered what the stream holds.
func (l *Local) WaitIdle(ctx context.Context) error {
	for _, p := range l.Pollers {
		if err := p.WaitIdle(ctx); err != nil {
			return err
		}
	}
	return nil
}

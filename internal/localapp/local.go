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
	"sync"
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
	// LogOutput, when set, receives every function's logs and metrics lines
	// (tests read or discard them); nil: stdout, as in Lambda.
	LogOutput io.Writer
	// WrapStream, when set, wraps each stream function as the pollers invoke
	// it: tests use it to inject the faults a real consumer meets.
	WrapStream func(localstack.StreamFunc) localstack.StreamFunc
	// HTTPClient, when set, returns the HTTP client the SDK clients of the
	// function functionID send through (nil: the default): tests put fault
	// injection (internal/faults) between a function and AWS here. Table
	// setup and the stream pollers keep the default.
	HTTPClient func(functionID string) aws.HTTPClient
	// Auth, when set, authorizes every request as the API's authorizers do
	// (see localstack.Gateway.Auth); nil lets every request through.
	Auth localstack.Authorizer
	// Mapping, when set, adjusts each stream function's event source
	// mapping as read from the template: tests shorten Timeout and
	// RetryBackoff.
	Mapping func(functionID string, cfg *localstack.PollerConfig)
}

// Local is the whole API as `make run` serves it: every route of the
// template through the local gateway to the function that serves it, and the
// table's stream polled into each stream function as its event source
// mapping would.
type Local struct {
	Gateway   *localstack.Gateway
	Routes    []samtemplate.Route
	Consumers []string
	StreamARN string

	mappings []localstack.PollerConfig // one per consumer, each with its own Checkpoints

	mu         sync.Mutex
	pollers    []*localstack.Poller   // one per mapping
	retired    localstack.PollerStats // of the pollers RestartPollers replaced
	stop       context.CancelFunc     // stops the running pollers; nil when none run
	restarting bool                   // RestartPollers stopped them
	replaced   chan struct{}          // closed when RestartPollers has new pollers
}

// NewLocal creates the table from tmpl (unless it exists) and builds the
// gateway and pollers. Each function gets its own App from its own
// environment, as each Lambda builds its own at init; references to the
// template's table and KMS key resolve to the local ones, and the cursor
// signing key (CursorKeySecret) to one random key per template that every
// function shares (samtemplate.ResolveEnv), as one stack's functions do.
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
	l := &Local{Routes: tmpl.Routes(), StreamARN: streamARN, replaced: make(chan struct{})}

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
	l.Gateway.Auth = opts.Auth

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
		pc.Checkpoints = &localstack.Checkpoints{}
		pc.Logger = opts.Logger.With("function", id)
		if opts.Mapping != nil {
			opts.Mapping(id, &pc)
		}
		if _, err := localstack.NewPoller(pc); err != nil {
			return nil, fmt.Errorf("%s: %w", id, err)
		}
		l.mappings = append(l.mappings, pc)
		l.Consumers = append(l.Consumers, id)
	}
	l.pollers = newPollers(l.mappings)
	return l, nil
}

// newPollers builds a poller for each mapping, which NewLocal validated.
func newPollers(mappings []localstack.PollerConfig) []*localstack.Poller {
	ps := make([]*localstack.Poller, len(mappings))
	for i, m := range mappings {
		ps[i], _ = localstack.NewPoller(m)
	}
	return ps
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

// RunPollers polls the stream until ctx ends or a poller fails. When
// RestartPollers stops the pollers, it goes on with new ones.
func (l *Local) RunPollers(ctx context.Context) error {
	runCtx, stop := context.WithCancel(ctx)
	l.mu.Lock()
	l.stop = stop
	pollers := l.pollers
	l.mu.Unlock()
	for {
		err := runPollers(runCtx, pollers)
		l.mu.Lock()
		if err != nil || ctx.Err() != nil || !l.restarting {
			l.stop = nil
			l.mu.Unlock()
			stop()
			return err
		}
		// RestartPollers stopped them: new pollers on the same checkpoints.
		for _, p := range pollers {
			l.retired = l.retired.Add(p.Stats())
		}
		pollers = newPollers(l.mappings)
		runCtx, stop = context.WithCancel(ctx)
		l.pollers, l.stop, l.restarting = pollers, stop, false
		close(l.replaced)
		l.replaced = make(chan struct{})
		l.mu.Unlock()
	}
}

func runPollers(ctx context.Context, pollers []*localstack.Poller) error {
	errc := make(chan error, len(pollers))
	for _, p := range pollers {
		go func() { errc <- p.Run(ctx) }()
	}
	var errs []error
	for range pollers {
		if err := <-errc; err != nil && !errors.Is(err, context.Canceled) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// RestartPollers stops every poller at once, mid-batch or not, as Lambda
// loses a stream poller that dies, and has RunPollers go on with new ones
// on the same checkpoints: each shard resumes after the last record its
// mapping was done with, so a batch in flight is delivered again and none
// is skipped. A function still running is not waited for. It returns once
// the new pollers replaced the old; RunPollers must be running.
func (l *Local) RestartPollers(ctx context.Context) error {
	l.mu.Lock()
	stop, replaced := l.stop, l.replaced
	l.restarting = stop != nil
	l.mu.Unlock()
	if stop == nil {
		return errors.New("localapp: the pollers are not running")
	}
	stop()
	select {
	case <-replaced:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// WaitIdle waits until every poller has delivered what the stream holds,
// across RestartPollers.
func (l *Local) WaitIdle(ctx context.Context) error {
	for {
		l.mu.Lock()
		pollers, replaced := l.pollers, l.replaced
		l.mu.Unlock()
		err := waitIdle(ctx, pollers)
		if err == nil || ctx.Err() != nil {
			return err
		}
		// A poller stopped: go on with its successor if RestartPollers
		// stopped it.
		l.mu.Lock()
		restarting := l.restarting
		l.mu.Unlock()
		select {
		case <-replaced:
			continue
		default:
		}
		if !restarting {
			return err
		}
		select {
		case <-replaced:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func waitIdle(ctx context.Context, pollers []*localstack.Poller) error {
	for _, p := range pollers {
		if err := p.WaitIdle(ctx); err != nil {
			return err
		}
	}
	return nil
}

// Stats sums the counters of every poller run so far, those RestartPollers
// replaced included.
func (l *Local) Stats() localstack.PollerStats {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.retired
	for _, p := range l.pollers {
		s = s.Add(p.Stats())
	}
	return s
}

// Package bench measures what Passport costs beside its floor, in one run on
// one machine (issue #7; `make bench` runs it through cmd/passport-bench):
//
//   - round trips: DynamoDB and KMS calls per request of every route,
//     counted at the wire;
//   - latency: p50/p95/p99 of every route through the local API gateway,
//     interleaved request by request with the floor, the same DynamoDB
//     requests sent by the bare SDK from the same process;
//   - handler cost: ns, bytes and allocations per request of every function
//     in process, from `go test -bench` with AWS answered by canned responses
//     (internal/httpapi/bench_test.go, internal/bench/canned);
//   - cold start: every function's init and first invoke under the Lambda
//     runtime interface emulator beside a hello-world Go Lambda built the
//     same way, its binary size and its peak RSS over serial invokes;
//   - the audit pipeline: records/s through the audit function against
//     DynamoDB Local, BatchWriteItem calls per record, and the lag from a
//     change to its audit entry on the local stack;
//   - load: closed-loop load from a second process at several concurrencies,
//     with the local stack's processes' CPU and memory from /proc.
//
// Absolute times on a shared two-core machine drift, so every time is
// measured beside its floor in the same run and compared as a ratio.
package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/passport-oss/passport/internal/localapp"
	"github.com/passport-oss/passport/internal/localstack"
	"github.com/passport-oss/passport/internal/samtemplate"
)

// Options configures a run.
type Options struct {
	// Quick runs every measurement on tiny counts: a smoke run whose
	// numbers mean nothing.
	Quick bool
	// Root is the module root (default: found from the working directory).
	Root string
	// UseExisting uses the DynamoDB and KMS endpoints already in the
	// environment (AWS_ENDPOINT_URL_DYNAMODB, AWS_ENDPOINT_URL_KMS and
	// PASSPORT_KMS_KEY_ID, as `passport-local exec` sets them) instead of
	// starting its own.
	UseExisting bool
	// Record, when set, is a folder that receives the AWS responses of each
	// function as recorded against the local stack: the canned responses of
	// the handler benchmarks (internal/bench/canned/testdata).
	Record string
	// Progress receives a line per step; nil discards them.
	Progress io.Writer
}

// counts are a run's sizes: how many of each thing it does.
type counts struct {
	// seedProviders is how many providers (and so audit entries) the table
	// holds before measuring: more than a default page (50), and in a full
	// run enough that each audit shard of the unfiltered audit list has a
	// page of its own, as in a trail of any age.
	seedProviders int
	roundTrips    int           // requests per route counted
	latencyWarmup int           // discarded pairs per route
	latencyPairs  int           // measured pairs per route
	benchTime     string        // go test -benchtime
	benchCount    int           // go test -count
	profile       bool          // CPU and memory profiles of the handler benchmarks
	coldRuns      int           // cold starts per function
	warmInvokes   int           // serial invokes after each function's first, for its peak RSS
	arm64Sizes    bool          // also build for arm64, as deployed, for its size
	auditBatches  int           // batches of 100 records through the audit function
	lagChanges    int           // changes whose audit lag is measured
	loadDuration  time.Duration // per load run
	loadMax       int           // requests per load run, at most
	concurrencies []int
}

var (
	fullCounts = counts{
		seedProviders: 240,
		roundTrips:    50, latencyWarmup: 30, latencyPairs: 400,
		benchTime: "1s", benchCount: 5, profile: true,
		coldRuns: 5, warmInvokes: 100, arm64Sizes: true,
		auditBatches: 40, lagChanges: 100,
		loadDuration: 5 * time.Second, loadMax: 50000, concurrencies: []int{1, 8, 32},
	}
	quickCounts = counts{
		seedProviders: 60,
		roundTrips:    2, latencyWarmup: 1, latencyPairs: 4,
		benchTime: "1x", benchCount: 1,
		coldRuns: 1, warmInvokes: 2,
		auditBatches: 1, lagChanges: 2,
		loadDuration: 300 * time.Millisecond, loadMax: 40, concurrencies: []int{1, 8, 32},
	}
)

// Report is the outcome of a run.
type Report struct {
	Table   Table
	Machine Machine
	Quick   bool
	Took    time.Duration
	// Files lists what a full run left in .cache/bench: benchmark output
	// for benchstat, profiles and their top functions.
	Files []string
}

// env is what every measurement of a run shares.
type env struct {
	opts    Options
	n       counts
	root    string
	tmpl    *samtemplate.Template
	stack   *localstack.Stack
	wire    *Wire
	aws     aws.Config
	db      *dynamodb.Client
	keyID   string
	local   *localapp.Local // the API on table, served at api.base
	table   string
	api     *client
	samples *samples
	out     string // .cache/bench, or a temporary folder in a quick run
	report  *Report
}

func (e *env) progress(format string, args ...any) {
	if e.opts.Progress != nil {
		fmt.Fprintf(e.opts.Progress, "passport-bench: "+format+"\n", args...)
	}
}

// Run starts the local stack (or uses the one in the environment), runs
// every measurement and returns the table. It sets the process's AWS
// environment variables to the stack's, as the functions read them.
func Run(ctx context.Context, opts Options) (*Report, error) {
	started := time.Now()
	e, stop, err := setup(ctx, opts)
	if err != nil {
		return nil, err
	}
	defer stop()
	for _, m := range []struct {
		name string
		run  func(context.Context, *env) ([]Row, error)
	}{
		// Recording (Options.Record) happens in the round trips and the
		// audit pipeline, before the handler benchmarks embed what it wrote.
		{AreaRoundTrips, measureRoundTrips},
		{AreaLatency, measureLatency},
		{AreaAudit, measureAudit},
		{AreaHandler, measureHandlers},
		{AreaColdStart, measureColdStarts},
		{AreaLoad, measureLoad},
	} {
		e.progress("%s ...", m.name)
		t := time.Now()
		rows, err := m.run(ctx, e)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", m.name, err)
		}
		e.report.Table.Add(rows...)
		e.progress("%s: %d rows in %s", m.name, len(rows), time.Since(t).Round(time.Millisecond))
	}
	e.report.Took = time.Since(started)
	return e.report, nil
}

// setup starts the stack, builds the API on a fresh table, serves it on a
// free loopback port and seeds it.
func setup(ctx context.Context, opts Options) (e *env, stop func(), err error) {
	e = &env{opts: opts, n: fullCounts, report: &Report{Quick: opts.Quick, Machine: ReadMachine()}}
	if opts.Quick {
		e.n = quickCounts
	}
	if opts.Record != "" {
		// Recordings answer the handler benchmarks: pages as full as a full
		// run's.
		e.n.seedProviders = fullCounts.seedProviders
	}
	var stops []func()
	stop = func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
	defer func() {
		if err != nil {
			stop()
		}
	}()
	if e.root = opts.Root; e.root == "" {
		if e.root, err = localstack.ModuleRoot(); err != nil {
			return nil, nil, err
		}
	}
	if e.out, err = e.outDir(&stops); err != nil {
		return nil, nil, err
	}
	if e.tmpl, err = samtemplate.Load(filepath.Join(e.root, "template.yaml")); err != nil {
		return nil, nil, err
	}
	if err := e.startStack(ctx, &stops); err != nil {
		return nil, nil, err
	}
	e.wire = NewWire()
	if e.aws, err = awsConfig(ctx, e.wire.Client()); err != nil {
		return nil, nil, err
	}
	e.db = dynamodb.NewFromConfig(e.aws)
	if err := e.serveAPI(ctx, &stops); err != nil {
		return nil, nil, err
	}
	e.progress("seeding table %s", e.table)
	if err := e.seed(ctx); err != nil {
		return nil, nil, fmt.Errorf("seed: %w", err)
	}
	return e, stop, nil
}

// outDir is where a full run leaves its builds, benchmark output and
// profiles: .cache/bench. A quick run works in a temporary folder, so
// that it never clobbers the last full run's files.
func (e *env) outDir(stops *[]func()) (string, error) {
	if e.opts.Quick {
		dir, err := os.MkdirTemp("", "passport-bench-")
		if err != nil {
			return "", err
		}
		*stops = append(*stops, func() { os.RemoveAll(dir) })
		return dir, nil
	}
	dir := filepath.Join(e.root, ".cache", "bench")
	return dir, os.MkdirAll(dir, 0o755)
}

// startStack starts DynamoDB Local and local-kms and points this process's
// environment (and so every SDK client and function it starts) at them.
func (e *env) startStack(ctx context.Context, stops *[]func()) error {
	localstack.SetLocalAWSDefaults()
	if e.opts.UseExisting {
		e.keyID = os.Getenv("PASSPORT_KMS_KEY_ID")
	}
	if e.keyID == "" || os.Getenv("AWS_ENDPOINT_URL_DYNAMODB") == "" || os.Getenv("AWS_ENDPOINT_URL_KMS") == "" {
		e.progress("starting DynamoDB Local and local-kms")
		st, err := localstack.StartStack(ctx, localstack.StackOptions{CreateKey: true})
		if err != nil {
			return err
		}
		*stops = append(*stops, func() { st.Stop() })
		e.stack, e.keyID = st, st.KeyID
		for k, v := range st.Env() {
			os.Setenv(k, v)
		}
	}
	return nil
}

// awsConfig is the SDK configuration every client of the run uses: the
// environment's endpoints and fake credentials, over the given client.
func awsConfig(ctx context.Context, hc *http.Client) (aws.Config, error) {
	cfg, err := config.LoadDefaultConfig(ctx,
		config.WithRegion(os.Getenv("AWS_REGION")),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("local", "local", "")))
	if err != nil {
		return aws.Config{}, err
	}
	// Set after loading: the loader refuses a plain *http.Client when
	// AWS_CA_BUNDLE is set, and the local services need no CA.
	cfg.HTTPClient = hc
	return cfg, nil
}

// serveAPI builds the whole API (localapp.NewLocal, what `make run` serves) on a
// fresh table and serves its gateway on a free loopback port.
func (e *env) serveAPI(ctx context.Context, stops *[]func()) error {
	e.table = "passport-bench-" + newID()[:10]
	local, err := e.newLocal(ctx, e.table)
	if err != nil {
		return err
	}
	*stops = append(*stops, func() {
		_, _ = e.db.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: &e.table})
	})
	e.local = local
	base, closeAPI, err := serve(local.Gateway)
	if err != nil {
		return err
	}
	*stops = append(*stops, closeAPI)
	e.api = newClient(base)
	return nil
}

// newLocal is localapp.NewLocal on table with this run's SDK config. The
// functions log to stdout, as Lambda wants; here that is the table's
// stream, so they get /dev/null (a write per request all the same).
func (e *env) newLocal(ctx context.Context, table string) (*localapp.Local, error) {
	var local *localapp.Local
	err := withStdout(os.DevNull, func() error {
		var err error
		local, err = localapp.NewLocal(ctx, e.tmpl, e.aws, localapp.LocalOptions{
			Table: table, KMSKeyID: e.keyID,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		})
		return err
	})
	return local, err
}

// withStdout runs f with os.Stdout writing to path: loggers built in f
// keep writing there.
func withStdout(path string, f func() error) error {
	out, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	saved := os.Stdout
	os.Stdout = out
	defer func() { os.Stdout = saved }()
	return f()
}

// serve serves h on a free loopback port and returns its base URL.
func serve(h http.Handler) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	return "http://" + ln.Addr().String(), func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}, nil
}

// runPollers runs local's stream pollers until the returned stop is called.
func runPollers(local *localapp.Local) (stop func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- local.RunPollers(ctx) }()
	return func() error {
		cancel()
		return <-done
	}
}

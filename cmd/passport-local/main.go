// Command passport-local runs Passport on one machine as AWS runs it,
// without Docker: DynamoDB Local and local-kms, the template's table, a local
// HTTP API gateway in front of the functions and the stream poller feeding
// the audit function.
//
//	passport-local run [-addr 127.0.0.1:3000] [-template template.yaml]
//	passport-local exec -- CMD ARGS...
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"

	"github.com/passport-oss/passport/internal/app"
	"github.com/passport-oss/passport/internal/localstack"
	"github.com/passport-oss/passport/internal/samtemplate"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	code := 0
	switch os.Args[1] {
	case "run":
		err = run(os.Args[2:])
	case "exec":
		code, err = execCmd(os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "passport-local:", err)
		os.Exit(1)
	}
	os.Exit(code)
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: passport-local run [-addr HOST:PORT] [-template PATH] [-table NAME]\n       passport-local exec -- CMD [ARGS...]")
	os.Exit(2)
}

func run(args []string) error {
	root, err := localstack.ModuleRoot()
	if err != nil {
		return err
	}
	addr := "127.0.0.1:3000"
	if p := os.Getenv("PORT"); p != "" {
		addr = net.JoinHostPort("127.0.0.1", p)
	}
	table := os.Getenv("TABLE")
	if table == "" {
		table = "passport"
	}
	fs := flag.NewFlagSet("run", flag.ExitOnError)
	fs.StringVar(&addr, "addr", addr, "address the API gateway listens on (PORT overrides the default)")
	tmplPath := fs.String("template", filepath.Join(root, "template.yaml"), "SAM template")
	fs.StringVar(&table, "table", table, "DynamoDB table name (TABLE overrides the default)")
	failures := fs.String("failures", filepath.Join(root, ".cache", "audit-failures.jsonl"), "file receiving OnFailure messages of the stream mapping")
	fs.Parse(args)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	localstack.SetLocalAWSDefaults()

	tmpl, err := samtemplate.Load(*tmplPath)
	if err != nil {
		return err
	}
	st, err := localstack.StartStack(ctx, localstack.StackOptions{UseExisting: true})
	if err != nil {
		return err
	}
	defer st.Stop()
	for k, v := range st.Env() {
		os.Setenv(k, v)
	}
	keyID := os.Getenv("KMS_KEY_ID")
	if keyID == "" {
		k, err := localstack.CreateKey(ctx, st.KMSEndpoint)
		if err != nil {
			return err
		}
		keyID = k.ID
	}

	awsCfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return err
	}
	ddb := dynamodb.NewFromConfig(awsCfg)
	if _, err := localstack.CreateTable(ctx, ddb, tmpl, table); err != nil {
		return err
	}
	streamARN, err := localstack.LatestStreamARN(ctx, ddb, table)
	if err != nil {
		return err
	}

	// One App per function, each from its own environment, as each Lambda
	// builds its own at init.
	// !Ref to the table and to a KMS key resolve to the local ones.
	resources := map[string]string{}
	for id, r := range tmpl.Resources {
		switch r.Type {
		case "AWS::DynamoDB::Table":
			resources[id] = table
		case "AWS::KMS::Key", "AWS::KMS::Alias":
			resources[id] = keyID
		}
	}
	apps := map[string]*app.App{}
	timeouts := map[string]time.Duration{}
	for _, id := range tmpl.FunctionIDs() {
		env, err := tmpl.ResolveEnv(id, resources, nil)
		if err != nil {
			return err
		}
		env["TABLE_NAME"] = table
		env["KMS_KEY_ID"] = keyID
		cfg, err := app.LoadConfig(func(k string) string {
			if v, ok := env[k]; ok {
				return v
			}
			return os.Getenv(k)
		})
		if err != nil {
			return fmt.Errorf("%s: %w", id, err)
		}
		if apps[id], err = app.New(ctx, cfg); err != nil {
			return fmt.Errorf("%s: %w", id, err)
		}
		if f, ok := tmpl.Function(id); ok && f.Timeout > 0 {
			timeouts[id] = time.Duration(f.Timeout) * time.Second
		}
	}

	routes := tmpl.Routes()
	fns := map[string]localstack.APIFunc{}
	for _, r := range routes {
		if _, ok := fns[r.FunctionID]; ok {
			continue
		}
		a, ok := apps[r.FunctionID]
		if !ok {
			return fmt.Errorf("route %s: no function %s", r.RouteKey(), r.FunctionID)
		}
		if fns[r.FunctionID], err = a.APIFunction(r.FunctionID); err != nil {
			return err
		}
	}
	gw := localstack.NewGateway(routes, fns)
	gw.Timeouts = timeouts
	gw.Logger = log

	// The stream consumer(s): every function with a DynamoDB event.
	streams := dynamodbstreams.NewFromConfig(awsCfg)
	var pollers []*localstack.Poller
	var consumers []string
	for _, id := range tmpl.FunctionIDs() {
		m, err := tmpl.StreamMapping(id)
		if err != nil {
			continue // no DynamoDB event
		}
		pc := localstack.PollerConfigFromMapping(m)
		pc.Streams, pc.StreamARN, pc.Region = streams, streamARN, awsCfg.Region
		pc.Invoke = apps[id].AuditFunction()
		pc.OnFailure = localstack.AppendFailureFile(*failures)
		pc.FunctionARN = "arn:aws:lambda:" + awsCfg.Region + ":123456789012:function:" + id
		pc.Timeout = timeouts[id]
		pc.Logger = log.With("function", id)
		p, err := localstack.NewPoller(pc)
		if err != nil {
			return fmt.Errorf("%s: %w", id, err)
		}
		pollers = append(pollers, p)
		consumers = append(consumers, id)
	}

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: gw, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1+len(pollers))
	go func() { errc <- srv.Serve(ln) }()
	for _, p := range pollers {
		go func() { errc <- p.Run(ctx) }()
	}

	sort.Strings(consumers)
	fmt.Printf("Passport API:      http://%s\n", ln.Addr())
	fmt.Printf("DynamoDB:          %s (table %s)\n", st.DynamoDBEndpoint, table)
	fmt.Printf("KMS:               %s (key %s)\n", st.KMSEndpoint, keyID)
	fmt.Printf("Stream consumers:  %v (OnFailure -> %s)\n", consumers, *failures)
	for _, r := range routes {
		fmt.Printf("  %-40s -> %s\n", r.RouteKey(), r.FunctionID)
	}
	fmt.Println("Ctrl-C stops everything.")

	select {
	case <-ctx.Done():
	case err = <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
	}
	stop()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(shutdownCtx)
	return err
}

func execCmd(args []string) (int, error) {
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	if len(args) == 0 {
		usage()
	}
	localstack.SetLocalAWSDefaults()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	st, err := localstack.StartStack(ctx, localstack.StackOptions{CreateKey: true})
	stop()
	if err != nil {
		return 1, err
	}
	defer st.Stop()

	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = os.Environ()
	for k, v := range st.Env() {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Env = append(cmd.Env,
		"AWS_REGION="+os.Getenv("AWS_REGION"),
		"AWS_ACCESS_KEY_ID="+os.Getenv("AWS_ACCESS_KEY_ID"),
		"AWS_SECRET_ACCESS_KEY="+os.Getenv("AWS_SECRET_ACCESS_KEY"),
		"PASSPORT_REQUIRE_STACK=1",
	)
	// The child shares the terminal and gets Ctrl-C itself; forward SIGTERM
	// and keep this process alive to stop the services afterwards.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	if err := cmd.Start(); err != nil {
		return 1, err
	}
	go func() {
		for s := range sigs {
			if s == syscall.SIGTERM {
				_ = cmd.Process.Signal(s)
			}
		}
	}()
	err = cmd.Wait()
	st.Stop()
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		if code := exitErr.ExitCode(); code >= 0 {
			return code, nil
		}
		return 1, nil
	}
	if err != nil {
		return 1, err
	}
	return 0, nil
}

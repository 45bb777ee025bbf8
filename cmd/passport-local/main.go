// Command passport-local runs Passport on one machine as AWS runs it,
// without Docker: DynamoDB Local and local-kms, the template's table, a local
// HTTP API gateway in front of the functions and the stream poller feeding
// the audit function.
//
//	passport-local run [-addr 127.0.0.1:3000] [-template template.yaml] [-lambda go|rie] [JWT mode flags]
//	passport-local exec -- CMD ARGS...
//	passport-local token [-scope SCOPE]... [-sub SUBJECT] [-ttl 1h]
//
// By default the local gateway lets every request through, as it binds
// 127.0.0.1. JWT mode (-jwt-issuer or -jwt-dev-key, or PASSPORT_JWT_ISSUER /
// PASSPORT_JWT_DEV_KEY) checks bearer tokens exactly as the deployed API's
// JWT authorizer does, with the routes' scopes from template.yaml; token
// mints tokens for the local development key.
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
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"

	"github.com/passport-oss/passport/internal/localapp"
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
	case "token":
		err = tokenCmd(os.Args[2:])
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
	fmt.Fprintln(os.Stderr, "usage: passport-local run [-addr HOST:PORT] [-template PATH] [-table NAME] [-lambda go|rie] [-jwt-issuer URL -jwt-audience AUD [-jwks-url URL] | -jwt-dev-key PATH]\n       passport-local exec -- CMD [ARGS...]\n       passport-local token [-key PATH] [-scope SCOPE]... [-sub SUBJECT] [-ttl DURATION] [-iss ISSUER] [-aud AUDIENCE]")
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
	var jwt jwtSettings
	jwt.flags(fs)
	lambdaMode := lambdaFlag(fs)
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
	opts := localapp.LocalOptions{Table: table, KMSKeyID: keyID, FailuresFile: *failures, Logger: log}
	functions, functionsDesc, stopFunctions, err := startFunctions(ctx, *lambdaMode, tmpl, opts, root)
	if err != nil {
		return err
	}
	defer stopFunctions()
	opts.Functions = functions
	authDesc := "none: every request passes (the deployed API takes AWS_IAM or JWT callers only)"
	if jwt.enabled() {
		if opts.Auth, authDesc, err = jwt.authorizer(ctx, tmpl, log); err != nil {
			return err
		}
	}
	local, err := localapp.NewLocal(ctx, tmpl, awsCfg, opts)
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: local.Gateway, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 2)
	go func() { errc <- srv.Serve(ln) }()
	go func() { errc <- local.RunPollers(ctx) }()

	envFile := filepath.Join(root, ".cache", "local.env")
	if err := writeLocalEnv(envFile, st, table, keyID); err != nil {
		return err
	}
	defer os.Remove(envFile)

	fmt.Printf("Passport API:      http://%s\n", ln.Addr())
	fmt.Printf("DynamoDB:          %s (table %s)\n", st.DynamoDBEndpoint, table)
	fmt.Printf("KMS:               %s (key %s)\n", st.KMSEndpoint, keyID)
	fmt.Printf("Stream consumers:  %v (OnFailure -> %s)\n", local.Consumers, *failures)
	fmt.Printf("Auth:              %s\n", authDesc)
	fmt.Printf("Functions:         %s\n", functionsDesc)
	for _, r := range local.Routes {
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

// writeLocalEnv records where the running stack is, for tools that work on
// it while it runs (passport-replay -env .cache/local.env).
func writeLocalEnv(path string, st *localstack.Stack, table, keyID string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	var b strings.Builder
	b.WriteString("# written by passport-local run; removed when it stops\n")
	for k, v := range st.Env() {
		fmt.Fprintf(&b, "%s=%s\n", k, v)
	}
	fmt.Fprintf(&b, "TABLE_NAME=%s\nKMS_KEY_ID=%s\n", table, keyID)
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

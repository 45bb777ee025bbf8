// Package lambdarie runs built Lambda functions as Lambda runs them, without
// Docker: each bootstrap binary under the AWS Lambda Runtime Interface
// Emulator (aws-lambda-rie), which starts the runtime process, serves it the
// Runtime API and times its init and invocations as Lambda does.
//
//	bins, _ := lambdarie.Build(ctx, lambdarie.BuildOptions{Dir: root, Packages: []string{"./functions/fallback"}, OutDir: dir})
//	rie, _ := lambdarie.InstallEmulator(ctx, "")
//	e, _ := lambdarie.Start(ctx, lambdarie.Config{Emulator: rie, Bootstrap: bins[0].Path, Env: env})
//	defer e.Stop()
//	res, _ := e.Invoke(ctx, event) // res.Status, res.Payload, res.Init, res.Logs
//
// What the emulator imposes, and how this package deals with it:
//
//   - One invocation at a time: a second concurrent invocation crashes the
//     emulator. Invoke serialises the calls to one Emulator; run several
//     Emulators for parallel work.
//   - Its Runtime API listens on 127.0.0.1:9001 unless told otherwise, so two
//     default emulators collide. Start gives each its own free port
//     (--runtime-api-address), so any number can run at once, across
//     processes too.
//   - The runtime starts lazily: Start only starts the emulator; the first
//     Invoke runs the function's init (as a cold start does) and reports its
//     duration in Result.Init.
//   - An init that fails (the process exits) answers the invocation with
//     status 502 and an empty body; the reason is in Result.Logs, where the
//     function's own log lines appear.
package lambdarie

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
)

// Config describes one function to run under the emulator.
type Config struct {
	// Emulator is the aws-lambda-rie binary (see InstallEmulator).
	Emulator string
	// Bootstrap is the function's built binary (see Build).
	Bootstrap string
	// Env is the function's environment: what its template sets and what
	// Lambda would add (region, credentials; see TemplateConfig and
	// HostAWSEnv). Nothing else of this process's environment reaches the
	// function, so a setting missing here is missing for the function.
	Env map[string]string
	// FunctionName is AWS_LAMBDA_FUNCTION_NAME (default "function").
	FunctionName string
	// Timeout is the function's timeout (default 3s, Lambda's default).
	Timeout time.Duration
	// MemoryMB is AWS_LAMBDA_FUNCTION_MEMORY_SIZE (default 128). The
	// emulator does not enforce it.
	MemoryMB int
	// Output, when set, receives every line the emulator and the function
	// write, as they come.
	Output io.Writer
}

// Emulator is one running aws-lambda-rie serving one function.
type Emulator struct {
	cfg     Config
	url     string
	cmd     *exec.Cmd
	exited  chan struct{} // closed when the emulator process has exited
	waitErr error

	invoke sync.Mutex // one invocation at a time: the emulator crashes otherwise

	mu    sync.Mutex
	cond  *sync.Cond
	lines []string // output since the last invocation ended
	eof   bool
}

// Result is the outcome of one invocation.
type Result struct {
	// Status is the emulator's HTTP status: 200 when the function answered
	// (FunctionError tells a handler error apart), 502 when the runtime
	// failed at init or exited during the invocation.
	Status int
	// Payload is the response body: the handler's JSON response, or the
	// runtime's error object.
	Payload []byte
	// FunctionError is "errorType: errorMessage" when the handler returned
	// an error or panicked; empty otherwise.
	FunctionError string
	// RequestID is the invocation's request id (the Lambda context's).
	RequestID string
	// Logs are the output lines of this invocation, the emulator's and the
	// function's, from its START line to its END (or failure) line.
	Logs []string
	// Init is the runtime's init duration when this invocation started the
	// runtime (a cold start), as the emulator measured it from the process's
	// start to its first request for work; zero on a warm invocation.
	Init time.Duration
	// InitFailed reports that the runtime's init failed during this
	// invocation.
	InitFailed bool
	// Duration is the invocation as the emulator timed it: from handing the
	// event to the runtime to its response, init excluded.
	Duration time.Duration
	// RoundTrip is how long the caller waited: HTTP to the emulator, init
	// (when cold) and the invocation.
	RoundTrip time.Duration
}

const invokePath = "/2015-03-31/functions/function/invocations"

// Start starts the emulator for cfg and waits until it accepts invocations.
// The function itself starts at the first Invoke. ctx bounds the start only.
func Start(ctx context.Context, cfg Config) (*Emulator, error) {
	if cfg.Emulator == "" || cfg.Bootstrap == "" {
		return nil, errors.New("lambdarie: Config.Emulator and Config.Bootstrap are required")
	}
	var err error
	if cfg.Bootstrap, err = filepath.Abs(cfg.Bootstrap); err != nil {
		return nil, err
	}
	if _, err := os.Stat(cfg.Bootstrap); err != nil {
		return nil, fmt.Errorf("lambdarie: bootstrap: %w", err)
	}
	// A free port can be taken between choosing it and the emulator binding
	// it; try again with others.
	for attempt := 0; ; attempt++ {
		e, err := start(ctx, cfg)
		if err == nil || attempt == 2 || !strings.Contains(err.Error(), "address already in use") {
			return e, err
		}
	}
}

func start(ctx context.Context, cfg Config) (*Emulator, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	runtimeAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	e := &Emulator{cfg: cfg, url: "http://" + addr + invokePath, exited: make(chan struct{})}
	e.cond = sync.NewCond(&e.mu)

	cmd := exec.Command(cfg.Emulator,
		"--log-level", "info", // Result reads the INIT/INVOKE lines it logs at info
		"--runtime-interface-emulator-address", addr,
		"--runtime-api-address", runtimeAddr,
		cfg.Bootstrap)
	cmd.Dir = filepath.Dir(cfg.Bootstrap)
	cmd.Env = environ(cfg)
	// One pipe for stdout and stderr, inherited by the runtime process too,
	// so every line arrives in the order it was written.
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		pr.Close()
		pw.Close()
		return nil, fmt.Errorf("lambdarie: start %s: %w", cfg.Emulator, err)
	}
	pw.Close()
	e.cmd = cmd
	go e.read(pr)
	go func() {
		e.waitErr = cmd.Wait()
		close(e.exited)
	}()
	if err := e.waitReady(ctx, addr); err != nil {
		e.Stop()
		return nil, err
	}
	return e, nil
}

// environ is the emulator's environment, which it passes on to the runtime:
// what Lambda sets for every function, then cfg.Env.
func environ(cfg Config) []string {
	name := cfg.FunctionName
	if name == "" {
		name = "function"
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = 3 * time.Second
	}
	memory := cfg.MemoryMB
	if memory <= 0 {
		memory = 128
	}
	env := map[string]string{
		"PATH":                            "/usr/local/bin:/usr/bin/:/bin:/opt/bin",
		"LANG":                            "en_US.UTF-8",
		"TZ":                              ":UTC",
		"LAMBDA_TASK_ROOT":                filepath.Dir(cfg.Bootstrap),
		"_HANDLER":                        "bootstrap",
		"AWS_LAMBDA_FUNCTION_NAME":        name,
		"AWS_LAMBDA_FUNCTION_VERSION":     "$LATEST",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": strconv.Itoa(memory),
		"AWS_LAMBDA_LOG_GROUP_NAME":       "/aws/lambda/" + name,
		"AWS_LAMBDA_LOG_STREAM_NAME":      "$LATEST",
		"AWS_LAMBDA_INITIALIZATION_TYPE":  "on-demand",
		// Read by the emulator: it ends an invocation after this many seconds.
		"AWS_LAMBDA_FUNCTION_TIMEOUT": strconv.Itoa(int((timeout + time.Second - 1) / time.Second)),
	}
	for k, v := range cfg.Env {
		env[k] = v
	}
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	return out
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("lambdarie: find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func (e *Emulator) waitReady(ctx context.Context, addr string) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	for {
		if c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond); err == nil {
			c.Close()
			return nil
		}
		select {
		case <-e.exited:
			return fmt.Errorf("lambdarie: the emulator exited at start (%v):\n%s", e.waitErr, e.tail(20))
		case <-ctx.Done():
			return fmt.Errorf("lambdarie: the emulator did not listen on %s: %w\n%s", addr, ctx.Err(), e.tail(20))
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// read collects the output lines until every writer has closed the pipe.
func (e *Emulator) read(r io.ReadCloser) {
	defer r.Close()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 8<<20)
	for sc.Scan() {
		line := sc.Text()
		if e.cfg.Output != nil {
			fmt.Fprintln(e.cfg.Output, line)
		}
		e.mu.Lock()
		e.lines = append(e.lines, line)
		e.cond.Broadcast()
		e.mu.Unlock()
	}
	e.mu.Lock()
	e.eof = true
	e.cond.Broadcast()
	e.mu.Unlock()
}

func (e *Emulator) tail(n int) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	lines := e.lines
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Invoke sends payload (the event's JSON) to the function and waits for its
// response and the invocation's log lines. Calls are serialised. The request
// id is ctx's Lambda context's AwsRequestID when there is one.
func (e *Emulator) Invoke(ctx context.Context, payload []byte) (*Result, error) {
	e.invoke.Lock()
	res := &Result{RequestID: requestID(ctx)}
	e.mu.Lock()
	e.lines = nil // what came before belongs to earlier invocations
	e.mu.Unlock()

	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.url, bytes.NewReader(payload))
	if err != nil {
		e.invoke.Unlock()
		return nil, err
	}
	req.Header.Set("X-Amzn-RequestId", res.RequestID)
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		// The emulator may still be running the invocation: keep others out
		// until it is over.
		go func() {
			e.awaitEnd(res.RequestID, e.cfg.Timeout+5*time.Second)
			e.invoke.Unlock()
		}()
		return nil, fmt.Errorf("lambdarie: invoke: %w", err)
	}
	defer e.invoke.Unlock()
	res.Payload, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	res.RoundTrip = time.Since(start)
	res.Status = resp.StatusCode
	if err != nil {
		return nil, fmt.Errorf("lambdarie: read response: %w", err)
	}
	res.FunctionError = functionError(res.Payload)
	res.Logs = e.awaitEnd(res.RequestID, 2*time.Second)
	res.parseLogs()
	return res, nil
}

// awaitEnd waits (at most max) for the line that ends invocation id and
// returns the lines from its START line on.
func (e *Emulator) awaitEnd(id string, max time.Duration) []string {
	end := "END RequestId: " + id
	failed := "InvokeID=" + id
	timer := time.AfterFunc(max, func() {
		e.mu.Lock()
		e.cond.Broadcast()
		e.mu.Unlock()
	})
	defer timer.Stop()
	deadline := time.Now().Add(max)
	e.mu.Lock()
	defer e.mu.Unlock()
	for {
		for _, l := range e.lines {
			if strings.HasPrefix(l, end) || strings.Contains(l, failed) {
				return e.invocationLines(id)
			}
		}
		if e.eof || time.Now().After(deadline) {
			return e.invocationLines(id)
		}
		e.cond.Wait()
	}
}

func (e *Emulator) invocationLines(id string) []string {
	start := "START RequestId: " + id
	for i, l := range e.lines {
		if strings.HasPrefix(l, start) {
			return append([]string(nil), e.lines[i:]...)
		}
	}
	return append([]string(nil), e.lines...)
}

// parseLogs reads the emulator's timings of the invocation from its lines:
//
//	... (rapid) INIT REPORT(durationMs: 3.975000)
//	... (rapid) INVOKE RTDONE(status: success, produced bytes: 0, duration: 1.271000ms)
func (r *Result) parseLogs() {
	for _, l := range r.Logs {
		if d, ok := millisAfter(l, "INIT REPORT(durationMs: "); ok && r.Init == 0 {
			r.Init = d
		}
		if strings.Contains(l, "INIT RTDONE(status: error)") || strings.Contains(l, "Init failed") {
			r.InitFailed = true
		}
		if strings.Contains(l, "INVOKE RTDONE(") {
			if d, ok := millisAfter(l, "duration: "); ok {
				r.Duration = d
			}
		}
	}
}

// millisAfter reads the number of milliseconds that follows marker in line.
func millisAfter(line, marker string) (time.Duration, bool) {
	_, rest, ok := strings.Cut(line, marker)
	if !ok {
		return 0, false
	}
	end := strings.IndexFunc(rest, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	if end < 0 {
		end = len(rest)
	}
	f, err := strconv.ParseFloat(rest[:end], 64)
	if err != nil {
		return 0, false
	}
	return time.Duration(f * float64(time.Millisecond)), true
}

// functionError reads the runtime's error object, {"errorMessage",
// "errorType"}, which Lambda returns for a handler's error or panic.
func functionError(payload []byte) string {
	var v struct {
		ErrorMessage *string `json:"errorMessage"`
		ErrorType    string  `json:"errorType"`
	}
	if json.Unmarshal(payload, &v) != nil || v.ErrorMessage == nil || v.ErrorType == "" {
		return ""
	}
	return v.ErrorType + ": " + *v.ErrorMessage
}

func requestID(ctx context.Context) string {
	if lc, ok := lambdacontext.FromContext(ctx); ok && lc.AwsRequestID != "" {
		return lc.AwsRequestID
	}
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// ColdStart measures cold starts: it starts cfg's function in a fresh
// emulator, invokes it with each payload in turn and stops it. The first
// Result is the cold invocation (Init, Duration, RoundTrip); the others are
// warm. An invocation that does not answer 200 is an error.
func ColdStart(ctx context.Context, cfg Config, payloads ...[]byte) ([]*Result, error) {
	e, err := Start(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer e.Stop()
	var out []*Result
	for _, p := range payloads {
		res, err := e.Invoke(ctx, p)
		if err != nil {
			return out, err
		}
		out = append(out, res)
		if res.Status != 200 || res.FunctionError != "" {
			return out, fmt.Errorf("lambdarie: %s: status %d %s\n%s", cfg.FunctionName, res.Status, res.FunctionError, lastLines(res.Logs, 10))
		}
	}
	return out, nil
}

// Stop stops the emulator, which stops the function's runtime process.
// It is safe to call more than once.
func (e *Emulator) Stop() error {
	select {
	case <-e.exited:
		return nil
	default:
	}
	// The emulator kills its runtime on SIGTERM before it exits.
	_ = e.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-e.exited:
	case <-time.After(5 * time.Second):
		_ = e.cmd.Process.Kill()
		<-e.exited
	}
	return nil
}

package lambdarie_test

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/passport-oss/passport/internal/lambdarie"
)

// The first invocation starts the runtime (a cold start, with its init
// timed); the next one reuses it.
func TestInvokeColdThenWarm(t *testing.T) {
	e := mustStart(t, lambdarie.Config{Bootstrap: mustHello(t), FunctionName: "Hello"})

	cold := mustInvoke(t, e, map[string]any{})
	if cold.Status != 200 || string(cold.Payload) != `{"hello":"world"}` || cold.FunctionError != "" {
		t.Fatalf("cold: %d %s %q\n%s", cold.Status, cold.Payload, cold.FunctionError, strings.Join(cold.Logs, "\n"))
	}
	if cold.Init <= 0 || cold.InitFailed {
		t.Errorf("cold: Init = %v, InitFailed = %v; want a measured init\n%s", cold.Init, cold.InitFailed, strings.Join(cold.Logs, "\n"))
	}
	if cold.Duration <= 0 || cold.RoundTrip <= 0 {
		t.Errorf("cold: Duration = %v, RoundTrip = %v; want both measured", cold.Duration, cold.RoundTrip)
	}
	if len(cold.Logs) == 0 || !strings.HasPrefix(cold.Logs[0], "START RequestId: "+cold.RequestID) {
		t.Errorf("cold: logs do not start at the invocation's START line:\n%s", strings.Join(cold.Logs, "\n"))
	}

	warm := mustInvoke(t, e, map[string]any{})
	if warm.Status != 200 || warm.Init != 0 {
		t.Errorf("warm: status %d, Init %v; want 200 and no init", warm.Status, warm.Init)
	}
	if warm.RequestID == cold.RequestID {
		t.Errorf("both invocations have request id %s", warm.RequestID)
	}
}

// A handler's error is a 200 with Lambda's error object, as Lambda answers
// a synchronous invocation; Handler turns it into an error.
func TestHandlerErrorIsReported(t *testing.T) {
	e := mustStart(t, lambdarie.Config{Bootstrap: mustHello(t)})
	res := mustInvoke(t, e, map[string]bool{"fail": true})
	if res.Status != 200 || res.FunctionError != "errorString: asked to fail" {
		t.Errorf("status %d, FunctionError %q; want 200 and the handler's error", res.Status, res.FunctionError)
	}
	h := lambdarie.Handler[map[string]bool, map[string]string](e)
	if _, err := h(context.Background(), map[string]bool{"fail": true}); err == nil || !strings.Contains(err.Error(), "asked to fail") {
		t.Errorf("Handler error = %v, want the handler's error", err)
	}
	got, err := h(context.Background(), map[string]bool{})
	if err != nil || got["hello"] != "world" {
		t.Errorf("Handler = %v, %v; want the response", got, err)
	}
}

// Concurrent invocations of one emulator crash it; Invoke serialises them.
func TestConcurrentInvocationsAreSerialised(t *testing.T) {
	e := mustStart(t, lambdarie.Config{Bootstrap: mustHello(t)})
	var wg sync.WaitGroup
	results := make([]*lambdarie.Result, 8)
	errs := make([]error, len(results))
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = e.Invoke(context.Background(), []byte(`{}`))
		}()
	}
	wg.Wait()
	for i, res := range results {
		if errs[i] != nil {
			t.Errorf("invocation %d: %v", i, errs[i])
		} else if res.Status != 200 {
			t.Errorf("invocation %d: status %d %s", i, res.Status, res.Payload)
		}
	}
}

// Each emulator has its own Runtime API port, so several run at once, even
// while something else holds the emulator's default port 9001.
func TestEmulatorsRunSideBySide(t *testing.T) {
	if ln, err := net.Listen("tcp", "127.0.0.1:9001"); err == nil {
		defer ln.Close() // held for the test; if taken, someone else holds it
	}
	bin := mustHello(t)
	a := mustStart(t, lambdarie.Config{Bootstrap: bin})
	b := mustStart(t, lambdarie.Config{Bootstrap: bin})
	var wg sync.WaitGroup
	for _, e := range []*lambdarie.Emulator{a, b, a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := e.Invoke(context.Background(), []byte(`{}`))
			if err != nil || res.Status != 200 {
				t.Errorf("invoke: %v %+v", err, res)
			}
		}()
	}
	wg.Wait()
}

// Only the given environment reaches the function: a setting of this
// process does not leak into it.
func TestOnlyConfiguredEnvironmentReachesTheFunction(t *testing.T) {
	t.Setenv("TABLE_NAME", "leaked-from-the-test-process")
	e := mustStart(t, lambdarie.Config{
		Bootstrap: mustBuild(t, &envOnce, "./internal/lambdarie/testdata/printenv")[0].Path,
		Env:       map[string]string{"GIVEN": "yes"},
	})
	res := mustInvoke(t, e, map[string]any{})
	got := string(res.Payload)
	if !strings.Contains(got, `"GIVEN":"yes"`) || strings.Contains(got, "leaked") {
		t.Errorf("function environment %s: want GIVEN and not TABLE_NAME", got)
	}
	for _, k := range []string{"AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "LAMBDA_TASK_ROOT", "AWS_LAMBDA_RUNTIME_API"} {
		if !strings.Contains(got, `"`+k+`"`) {
			t.Errorf("function environment lacks %s, which Lambda sets: %s", k, got)
		}
	}
}

var envOnce once

// Stop ends the emulator and the function's runtime process with it.
func TestStopEndsTheRuntime(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "bootstrap")
	src, err := os.ReadFile(mustHello(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, src, 0o755); err != nil {
		t.Fatal(err)
	}
	e := mustStart(t, lambdarie.Config{Bootstrap: bin})
	mustInvoke(t, e, map[string]any{})
	if running(t, bin) == 0 {
		t.Fatalf("no process runs %s after an invocation", bin)
	}
	e.Stop()
	if n := running(t, bin); n != 0 {
		t.Errorf("%d processes still run %s after Stop", n, bin)
	}
}

// running counts the processes whose executable is bin (Linux /proc).
func running(t *testing.T, bin string) int {
	t.Helper()
	procs, err := filepath.Glob("/proc/[0-9]*/exe")
	if err != nil || len(procs) == 0 {
		t.Skip("no /proc to inspect processes")
	}
	n := 0
	for _, p := range procs {
		if exe, err := os.Readlink(p); err == nil && exe == bin {
			n++
		}
	}
	return n
}

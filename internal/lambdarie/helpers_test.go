package lambdarie_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/passport-oss/passport/internal/lambdarie"
)

// outDir holds the binaries this test binary builds.
var outDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "lambdarie-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	outDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// once memoises a build across the tests of this package.
type once struct {
	sync.Once
	bins []lambdarie.Binary
	err  error
}

var (
	emulatorOnce once
	emulatorPath string
	helloOnce    once
)

// mustEmulator returns the aws-lambda-rie binary, built on first use.
func mustEmulator(t testing.TB) string {
	t.Helper()
	emulatorOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		emulatorPath, emulatorOnce.err = lambdarie.InstallEmulator(ctx, "")
	})
	if emulatorOnce.err != nil {
		t.Fatal(emulatorOnce.err)
	}
	return emulatorPath
}

// mustBuild builds pkgs (relative to the module root) once per o.
func mustBuild(t testing.TB, o *once, pkgs ...string) []lambdarie.Binary {
	t.Helper()
	o.Do(func() {
		root, err := lambdarie.ModuleRoot()
		if err != nil {
			o.err = err
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		o.bins, o.err = lambdarie.Build(ctx, lambdarie.BuildOptions{Dir: root, Packages: pkgs, OutDir: outDir})
	})
	if o.err != nil {
		t.Fatal(o.err)
	}
	return o.bins
}

// mustHello returns the hello-world Lambda's bootstrap.
func mustHello(t testing.TB) string {
	t.Helper()
	return mustBuild(t, &helloOnce, "./internal/lambdarie/testdata/hello")[0].Path
}

// mustStart starts cfg under the emulator and stops it when the test ends.
func mustStart(t testing.TB, cfg lambdarie.Config) *lambdarie.Emulator {
	t.Helper()
	if cfg.Emulator == "" {
		cfg.Emulator = mustEmulator(t)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	e, err := lambdarie.Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Stop() })
	return e
}

// mustInvoke invokes e with payload (a value to marshal, or []byte).
func mustInvoke(t testing.TB, e *lambdarie.Emulator, payload any) *lambdarie.Result {
	t.Helper()
	b, ok := payload.([]byte)
	if !ok {
		var err error
		if b, err = json.Marshal(payload); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := e.Invoke(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// jsonLines returns the log lines that are JSON objects, decoded.
func jsonLines(lines []string) []map[string]any {
	var out []map[string]any
	for _, l := range lines {
		var m map[string]any
		if strings.HasPrefix(l, "{") && json.Unmarshal([]byte(l), &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

// findLine returns the first JSON log line whose msg is msg.
func findLine(lines []string, msg string) map[string]any {
	for _, m := range jsonLines(lines) {
		if m["msg"] == msg {
			return m
		}
	}
	return nil
}

func repoPath(t testing.TB, elem ...string) string {
	t.Helper()
	root, err := lambdarie.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(append([]string{root}, elem...)...)
}

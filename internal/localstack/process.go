// Package localstack runs the Passport API on one machine the way AWS runs
// it, without Docker: DynamoDB Local (the real AWS jar, from npm) and
// local-kms as child processes, a local API Gateway (HTTP API, payload 2.0)
// in front of the Lambda handler funcs, and a DynamoDB Streams poller that
// emulates the Lambda event source mapping for the audit function.
package localstack

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ModulePath is the Go module whose root holds template.yaml and .cache/.
const ModulePath = "github.com/passport-oss/passport"

// Service is a child process started by this package.
type Service struct {
	Name     string
	Endpoint string // http://127.0.0.1:PORT
	Port     int

	cmd      *exec.Cmd
	done     chan struct{}
	waitErr  error
	stopOnce sync.Once
	cleanup  []func()
	logs     *tailBuffer
}

// Stop kills the service's process group and waits for it to exit. It is
// safe to call more than once and on a nil Service.
func (s *Service) Stop() error {
	if s == nil {
		return nil
	}
	s.stopOnce.Do(func() {
		if s.cmd != nil && s.cmd.Process != nil {
			pgid := s.cmd.Process.Pid
			_ = syscall.Kill(-pgid, syscall.SIGTERM)
			select {
			case <-s.done:
			case <-time.After(5 * time.Second):
				_ = syscall.Kill(-pgid, syscall.SIGKILL)
				<-s.done
			}
		}
		for i := len(s.cleanup) - 1; i >= 0; i-- {
			s.cleanup[i]()
		}
	})
	return nil
}

// Exited is closed when the service's process ends (for whatever reason).
func (s *Service) Exited() <-chan struct{} { return s.done }

// Output returns the last lines the process wrote (stdout and stderr).
func (s *Service) Output() string { return s.logs.String() }

// startProcess starts cmd in its own process group and reaps it in the
// background.
func startProcess(name string, cmd *exec.Cmd) (*Service, error) {
	logs := &tailBuffer{max: 64 << 10}
	cmd.Stdout = logs
	cmd.Stderr = logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	s := &Service{Name: name, cmd: cmd, done: make(chan struct{}), logs: logs}
	go func() {
		s.waitErr = cmd.Wait()
		close(s.done)
	}()
	return s, nil
}

// launch starts cmd as the service name listening on port and waits up to
// timeout until ready answers. On failure it stops the process and runs
// cleanup; on success Stop runs cleanup.
func launch(ctx context.Context, name string, cmd *exec.Cmd, port int, timeout time.Duration, cleanup []func(), ready func(context.Context) error) (*Service, error) {
	svc, err := startProcess(name, cmd)
	if err != nil {
		for _, f := range cleanup {
			f()
		}
		return nil, err
	}
	svc.cleanup = cleanup
	svc.Port = port
	svc.Endpoint = loopbackEndpoint(port)
	if err := svc.waitReady(ctx, timeout, ready); err != nil {
		svc.Stop()
		return nil, err
	}
	return svc, nil
}

// loopbackEndpoint is the URL of a service this package starts on port.
func loopbackEndpoint(port int) string { return fmt.Sprintf("http://127.0.0.1:%d", port) }

// waitReady polls ready until it succeeds, the process exits, ctx ends or
// timeout passes.
func (s *Service) waitReady(ctx context.Context, timeout time.Duration, ready func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		attempt, cancelAttempt := context.WithTimeout(ctx, 2*time.Second)
		last = ready(attempt)
		cancelAttempt()
		if last == nil {
			return nil
		}
		select {
		case <-s.done:
			return fmt.Errorf("%s exited before it was ready (%v); output:\n%s", s.Name, s.waitErr, s.Output())
		case <-ctx.Done():
			return fmt.Errorf("%s not ready at %s: %v (last error: %v); output:\n%s", s.Name, s.Endpoint, ctx.Err(), last, s.Output())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// freePort returns a TCP port that is free on loopback right now.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// ModuleRoot finds the directory of the go.mod of ModulePath, walking up from
// the working directory.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && modulePathOf(b) == ModulePath {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod for %s above the working directory", ModulePath)
		}
		dir = parent
	}
}

func modulePathOf(gomod []byte) string {
	sc := bufio.NewScanner(bytes.NewReader(gomod))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 2 && f[0] == "module" {
			return strings.Trim(f[1], `"`)
		}
	}
	return ""
}

// defaultCacheDir is <module root>/.cache/<sub>.
func defaultCacheDir(sub string) (string, error) {
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, ".cache", sub), nil
}

// lockDir takes an exclusive flock on dir/.lock (creating dir), so that
// concurrent processes do not install into the same cache at once.
func lockDir(dir string) (unlock func(), err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

// lookTool is exec.LookPath with an error that says what to install.
func lookTool(name, hint string) (string, error) {
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("%s not found on PATH: %s", name, hint)
	}
	return p, nil
}

func runCmd(ctx context.Context, dir string, env []string, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	if env != nil {
		cmd.Env = env
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, out)
	}
	return nil
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
	max int
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = append([]byte(nil), t.buf[len(t.buf)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

var _ io.Writer = (*tailBuffer)(nil)

func portString(p int) string { return strconv.Itoa(p) }

var errNotReady = errors.New("not ready")

package bench

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/passport-oss/passport/internal/httpapi"
)

// benchSuite is a Go benchmark with one sub-benchmark per function.
type benchSuite struct {
	pkg       string // relative to the module root
	benchmark string
	functions []string
	subject   func(functionID string) string
}

// handlerSuites are the handler benchmarks: every API function
// (internal/httpapi/bench_test.go) and the audit function (this package's
// bench_test.go).
func handlerSuites() []benchSuite {
	var api []string
	for _, rt := range httpapi.Routes {
		api = append(api, rt.FunctionID)
	}
	return []benchSuite{
		{pkg: "internal/httpapi", benchmark: "BenchmarkFunction", functions: api, subject: routeOf},
		{pkg: "internal/bench", benchmark: "BenchmarkAuditFunction", functions: []string{"AuditStreamFunction"},
			subject: func(id string) string { return id + " (batch of 100 records)" }},
	}
}

// routeOf names an API function by its route.
func routeOf(functionID string) string {
	for _, rt := range httpapi.Routes {
		if rt.FunctionID == functionID {
			return rt.Method + " " + rt.Path
		}
	}
	return functionID
}

// measureHandlers builds each benchmark's test binary, runs it per function
// (with CPU and memory profiles in a full run) and reads the medians. The
// raw output goes to .cache/bench/handlers.txt for benchstat.
func measureHandlers(ctx context.Context, e *env) ([]Row, error) {
	raw := filepath.Join(e.out, "handlers.txt")
	if err := os.WriteFile(raw, nil, 0o644); err != nil {
		return nil, err
	}
	if !e.opts.Quick {
		e.report.Files = append(e.report.Files, raw)
	}
	var rows []Row
	for _, s := range handlerSuites() {
		bin := filepath.Join(e.out, filepath.Base(s.pkg)+".test")
		if err := e.goCmd(ctx, "test", "-c", "-o", bin, "./"+s.pkg); err != nil {
			return nil, err
		}
		for _, fn := range s.functions {
			out, err := e.runBenchmark(ctx, s, bin, fn)
			if err != nil {
				return nil, err
			}
			if err := appendFile(raw, out); err != nil {
				return nil, err
			}
			r, err := benchRows(out, s, fn, e.n.benchCount)
			if err != nil {
				return nil, err
			}
			rows = append(rows, r...)
		}
	}
	return rows, nil
}

// runBenchmark runs one function's sub-benchmark, from its package's
// folder as go test would.
func (e *env) runBenchmark(ctx context.Context, s benchSuite, bin, fn string) ([]byte, error) {
	args := []string{"-test.run", "^$", "-test.bench", "^" + s.benchmark + "$/^" + fn + "$",
		"-test.benchmem", "-test.count", strconv.Itoa(e.n.benchCount), "-test.benchtime", e.n.benchTime}
	cpu, mem := filepath.Join(e.out, "cpu-"+fn+".out"), filepath.Join(e.out, "mem-"+fn+".out")
	if e.n.profile {
		args = append(args, "-test.cpuprofile", cpu, "-test.memprofile", mem)
	}
	e.progress("  %s %s", filepath.Base(bin), fn)
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = filepath.Join(e.root, s.pkg)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w\n%s%s", bin, strings.Join(args, " "), err, out, stderr.Bytes())
	}
	if e.n.profile {
		for _, p := range []struct{ profile, index string }{{cpu, "cpu"}, {mem, "alloc_space"}} {
			top := strings.TrimSuffix(p.profile, ".out") + ".top.txt"
			if err := e.pprofTop(ctx, bin, p.profile, p.index, top); err != nil {
				return nil, err
			}
			e.report.Files = append(e.report.Files, p.profile, top)
		}
	}
	return out, nil
}

// pprofTop writes the top functions of a profile, flat and cumulative.
func (e *env) pprofTop(ctx context.Context, bin, profile, index, dst string) error {
	var b bytes.Buffer
	for _, sort := range []string{"-flat", "-cum"} {
		cmd := exec.CommandContext(ctx, "go", "tool", "pprof", "-top", sort, "-nodecount=40", "-sample_index="+index, bin, profile)
		cmd.Dir = e.root
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("pprof %s: %w\n%s", profile, err, out)
		}
		b.Write(out)
		b.WriteString("\n")
	}
	return os.WriteFile(dst, b.Bytes(), 0o644)
}

// benchLine matches a result line of `go test -bench -benchmem`.
var benchLine = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+\d+\s+([\d.]+) ns/op(?:.*?\s([\d.]+) B/op)?(?:.*?\s([\d.]+) allocs/op)?`)

// benchRows reads one function's results: the median of each metric.
func benchRows(out []byte, s benchSuite, fn string, count int) ([]Row, error) {
	name := s.benchmark + "/" + fn
	var ns, bytesOp, allocs []float64
	for _, line := range strings.Split(string(out), "\n") {
		m := benchLine.FindStringSubmatch(line)
		if m == nil || m[1] != name {
			continue
		}
		for i, dst := range []*[]float64{&ns, &bytesOp, &allocs} {
			if v, err := strconv.ParseFloat(m[i+2], 64); err == nil {
				*dst = append(*dst, v)
			}
		}
	}
	if len(ns) == 0 || len(allocs) == 0 {
		return nil, fmt.Errorf("no results for %s in:\n%s", name, out)
	}
	detail := fmt.Sprintf("median of %d; go test -bench -benchmem, AWS answered by canned responses", len(ns))
	subject := s.subject(fn)
	return []Row{
		{Area: AreaHandler, Subject: subject, Metric: "µs/op", Value: median(ns) / 1000, Detail: detail},
		{Area: AreaHandler, Subject: subject, Metric: "KB/op", Value: median(bytesOp) / 1024},
		{Area: AreaHandler, Subject: subject, Metric: "allocs/op", Value: median(allocs)},
	}, nil
}

// goCmd runs the go command in the module root.
func (e *env) goCmd(ctx context.Context, args ...string) error {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = e.root
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return nil
}

func appendFile(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

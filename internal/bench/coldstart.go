package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/passport-oss/passport/internal/httpapi"
	"github.com/passport-oss/passport/internal/lambdarie"
	"github.com/passport-oss/passport/internal/samtemplate"
)

// coldStartTarget is the most a function's init may take over the bare Go
// Lambda's.
const coldStartTarget = 1.2

// helloPackage is the floor of the cold start: a Go Lambda that does
// nothing, built the same way as the functions.
const helloPackage = "./internal/bench/testdata/hello"

// lambdaFn is one function run under the emulator.
type lambdaFn struct {
	id      string
	bin     lambdarie.Binary
	arm64   int64 // size of the arm64 build, as deployed; 0 when not built
	cfg     lambdarie.Config
	payload func() ([]byte, error) // an event it handles successfully
	api     bool                   // answers API Gateway events

	inits, firsts, warm []time.Duration
	peakMB              float64
}

// measureColdStarts builds every function of the template and the hello
// Lambda as `sam build` does, then starts each under the Lambda runtime
// interface emulator coldRuns times, in turn so that noise falls on all
// alike, timing its init and first invoke; on the last start it also
// serves warmInvokes invokes, one at a time as one Lambda instance does,
// and its runtime process's peak RSS is read from /proc.
func measureColdStarts(ctx context.Context, e *env) ([]Row, error) {
	fns, err := e.buildFunctions(ctx)
	if err != nil {
		return nil, err
	}
	rie, err := lambdarie.InstallEmulator(ctx, "")
	if err != nil {
		return nil, err
	}
	for run := range e.n.coldRuns {
		for _, f := range fns {
			warm := 0
			if run == e.n.coldRuns-1 {
				warm = e.n.warmInvokes
			}
			if err := e.coldStart(ctx, rie, f, warm); err != nil {
				return nil, fmt.Errorf("%s: %w", f.id, err)
			}
		}
	}
	return coldStartRows(fns), nil
}

// buildFunctions builds the hello Lambda (first) and every function.
func (e *env) buildFunctions(ctx context.Context) ([]*lambdaFn, error) {
	ids := e.tmpl.FunctionIDs()
	pkgs := []string{helloPackage}
	for _, id := range ids {
		pkgs = append(pkgs, "./"+sourceDir(e.tmpl, id))
	}
	e.progress("  building %d functions", len(pkgs))
	bins, err := lambdarie.Build(ctx, lambdarie.BuildOptions{Dir: e.root, Packages: pkgs, OutDir: filepath.Join(e.out, "lambda")})
	if err != nil {
		return nil, err
	}
	var arm []lambdarie.Binary
	if e.n.arm64Sizes {
		if arm, err = lambdarie.Build(ctx, lambdarie.BuildOptions{Dir: e.root, Packages: pkgs, OutDir: filepath.Join(e.out, "lambda-arm64"), GOARCH: "arm64"}); err != nil {
			return nil, err
		}
	}
	host := lambdarie.HostAWSEnv()
	resources := localResources(e.tmpl, e.table, e.keyID)
	fns := []*lambdaFn{{id: "hello", bin: bins[0], payload: func() ([]byte, error) { return []byte("{}"), nil },
		cfg: lambdarie.Config{Env: host, FunctionName: "hello", Timeout: 10 * time.Second, MemoryMB: 256}}}
	for i, id := range ids {
		cfg, err := lambdarie.TemplateConfig(e.tmpl, id, resources, nil)
		if err != nil {
			return nil, err
		}
		cfg.Env = lambdarie.Merge(cfg.Env, host)
		f := &lambdaFn{id: id, bin: bins[i+1], cfg: cfg}
		f.payload, f.api = e.eventFor(id)
		fns = append(fns, f)
	}
	for i, f := range fns {
		f.cfg.Emulator, f.cfg.Bootstrap = "", f.bin.Path
		if arm != nil {
			f.arm64 = arm[i].Size
		}
	}
	return fns, nil
}

// localResources maps the template's table and KMS key to the local ones,
// as localapp.NewLocal does.
func localResources(tmpl *samtemplate.Template, table, keyID string) map[string]string {
	out := map[string]string{}
	for id, r := range tmpl.Resources {
		switch r.Type {
		case samtemplate.TypeTable:
			out[id] = table
		case "AWS::KMS::Key", "AWS::KMS::Alias":
			out[id] = keyID
		}
	}
	return out
}

// eventFor returns a maker of events function id handles successfully: a
// stream batch of 100 records for a stream consumer, else its example event
// of events/ with the body of a request that succeeds.
func (e *env) eventFor(id string) (func() ([]byte, error), bool) {
	if _, err := e.tmpl.StreamMapping(id); err == nil {
		seq := 0
		return func() ([]byte, error) {
			seq++
			ev, err := AuditEvent(e.root, auditBatchSize, 1_000_000*seq)
			if err != nil {
				return nil, err
			}
			return json.Marshal(ev)
		}, false
	}
	return func() ([]byte, error) {
		ev, err := e.samples.event(id)
		if err != nil {
			return nil, err
		}
		for _, rt := range httpapi.Routes {
			if rt.FunctionID != id {
				continue
			}
			if req, ok, err := e.samples.forRoute(rt); err == nil && ok {
				ev.Body = req.Body
			}
		}
		return json.Marshal(ev)
	}, true
}

// coldStart starts f under the emulator, invokes it once cold and warm
// times warm, and stops it.
func (e *env) coldStart(ctx context.Context, rie string, f *lambdaFn, warm int) error {
	cfg := f.cfg
	cfg.Emulator = rie
	em, err := lambdarie.Start(ctx, cfg)
	if err != nil {
		return err
	}
	defer em.Stop()
	for i := range 1 + warm {
		payload, err := f.payload()
		if err != nil {
			return err
		}
		res, err := em.Invoke(ctx, payload)
		if err != nil {
			return err
		}
		if err := f.check(res); err != nil {
			return err
		}
		if i == 0 {
			f.inits, f.firsts = append(f.inits, res.Init), append(f.firsts, res.Duration)
		} else {
			f.warm = append(f.warm, res.Duration)
		}
	}
	if warm > 0 {
		if pid := pidOfExe(f.bin.Path); pid > 0 {
			f.peakMB = rssMB(pid, "VmHWM")
		}
	}
	return nil
}

// check fails an invocation that did not do its work: a runtime or handler
// failure, or an API answer of 5xx.
func (f *lambdaFn) check(res *lambdarie.Result) error {
	if res.Status != 200 || res.FunctionError != "" || res.InitFailed {
		return fmt.Errorf("invocation failed: status %d %s\n%s", res.Status, res.FunctionError, tail(res.Logs, 10))
	}
	if f.api {
		var resp struct {
			StatusCode int    `json:"statusCode"`
			Body       string `json:"body"`
		}
		if err := json.Unmarshal(res.Payload, &resp); err != nil || resp.StatusCode >= 500 {
			return fmt.Errorf("API answer %d: %s\n%s", resp.StatusCode, resp.Body, tail(res.Logs, 10))
		}
	}
	return nil
}

func tail(lines []string, n int) []string {
	return lines[max(0, len(lines)-n):]
}

// pidOfExe finds the process running the binary at path: the function's
// runtime process, which the emulator starts.
func pidOfExe(path string) int {
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, p := range procs {
		if exe, err := os.Readlink(p + "/exe"); err == nil && exe == path {
			var pid int
			fmt.Sscanf(filepath.Base(p), "%d", &pid)
			return pid
		}
	}
	return 0
}

func coldStartRows(fns []*lambdaFn) []Row {
	hello := fns[0]
	var rows []Row
	for _, f := range fns[1:] {
		rows = append(rows,
			Row{Area: AreaColdStart, Subject: f.id, Metric: "init ms", Value: ms(medianDuration(f.inits)), Floor: ms(medianDuration(hello.inits)),
				Target: AtMostTimesFloor(coldStartTarget),
				Detail: fmt.Sprintf("median of %d cold starts under aws-lambda-rie; floor: a hello-world Go Lambda built the same way", len(f.inits))},
			Row{Area: AreaColdStart, Subject: f.id, Metric: "first invoke ms", Value: ms(medianDuration(f.firsts)),
				Detail: fmt.Sprintf("warm invokes: p50 %s ms over %d", formatNumber(ms(medianDuration(f.warm))), len(f.warm))},
			Row{Area: AreaColdStart, Subject: f.id, Metric: "peak RSS MB", Value: f.peakMB, Floor: hello.peakMB,
				Detail: fmt.Sprintf("the runtime process's VmHWM after its cold invoke and %d warm ones, one at a time", len(f.warm))},
			Row{Area: AreaColdStart, Subject: f.id, Metric: "binary MB", Value: mb(f.bin.Size), Floor: mb(hello.bin.Size),
				Detail: armDetail(f)},
		)
	}
	return rows
}

func armDetail(f *lambdaFn) string {
	if f.arm64 == 0 {
		return "this machine's arch; arm64 not built in a quick run"
	}
	return fmt.Sprintf("this machine's arch; linux/arm64 as deployed: %s MB", formatNumber(mb(f.arm64)))
}

func mb(bytes int64) float64 { return float64(bytes) / (1 << 20) }

func medianDuration(ds []time.Duration) time.Duration { return percentile(ds, 50) }

// Command coldstart measures each function's cold start under the Lambda
// Runtime Interface Emulator, side by side with a hello-world Go Lambda
// built the same way, and prints a Markdown table (docs/operations.md holds
// one). It needs DynamoDB Local and local-kms, as `make coldstart` provides:
//
//	passport-local exec -- go run ./internal/lambdarie/coldstart [-n 7]
//
// Each run starts every function in a fresh emulator (a new process: a cold
// start), invokes it with its event from events/ (timing init and the first
// invocation), invokes it once more (warm) and stops it; the table shows
// the median of the runs. Runs interleave the functions, so a slow moment of
// the machine spreads over all of them.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/passport-oss/passport/internal/lambdarie"
	"github.com/passport-oss/passport/internal/localstack"
	"github.com/passport-oss/passport/internal/samtemplate"
)

// hello is the baseline: no init work, a fixed answer.
const (
	hello    = "hello-world (baseline)"
	helloPkg = "./internal/lambdarie/testdata/hello"
)

func main() {
	runs := flag.Int("n", 7, "cold starts per function (the table shows medians)")
	flag.Parse()
	if err := run(*runs); err != nil {
		fmt.Fprintln(os.Stderr, "coldstart:", err)
		os.Exit(1)
	}
}

// function is one measured function.
type function struct {
	id, pkg, event string
	host, arm64    lambdarie.Binary
	cfg            lambdarie.Config
	samples        []*lambdarie.Result // cold, then warm, per run
}

func run(runs int) error {
	ctx := context.Background()
	root, err := lambdarie.ModuleRoot()
	if err != nil {
		return err
	}
	keyID := os.Getenv("PASSPORT_KMS_KEY_ID")
	if os.Getenv("AWS_ENDPOINT_URL_DYNAMODB") == "" || keyID == "" {
		return errors.New("no local stack: run through `make coldstart` (passport-local exec)")
	}
	tmpl, err := samtemplate.Load(filepath.Join(root, "template.yaml"))
	if err != nil {
		return err
	}
	fns := []*function{{id: hello, pkg: helloPkg}}
	ids := tmpl.FunctionIDs()
	// The provider first, then the authorization that names it, then the
	// token read of that authorization.
	slices.SortStableFunc(ids, func(a, b string) int { return rank(a) - rank(b) })
	for _, id := range ids {
		f, _ := tmpl.Function(id)
		fns = append(fns, &function{id: id, pkg: "./" + f.SourceDir, event: path.Base(f.SourceDir) + ".json"})
	}
	if err := build(ctx, root, fns); err != nil {
		return err
	}
	rie, err := lambdarie.InstallEmulator(ctx, "")
	if err != nil {
		return err
	}

	awsCfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return err
	}
	db := dynamodb.NewFromConfig(awsCfg)
	table := fmt.Sprintf("passport-coldstart-%d", time.Now().UnixNano())
	if _, err := localstack.CreateTable(ctx, db, tmpl, table); err != nil {
		return err
	}
	defer db.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: &table})
	resources := map[string]string{}
	for id, r := range tmpl.Resources {
		switch r.Type {
		case samtemplate.TypeTable:
			resources[id] = table
		case "AWS::KMS::Key", "AWS::KMS::Alias":
			resources[id] = keyID
		}
	}
	for _, f := range fns {
		if f.id == hello {
			f.cfg = lambdarie.Config{FunctionName: "Hello", Timeout: 10 * time.Second, MemoryMB: 256, Env: lambdarie.HostAWSEnv()}
		} else if f.cfg, err = lambdarie.TemplateConfig(tmpl, f.id, resources, nil); err != nil {
			return err
		}
		f.cfg.Env = lambdarie.Merge(lambdarie.HostAWSEnv(), f.cfg.Env)
		f.cfg.Emulator, f.cfg.Bootstrap = rie, f.host.Path
	}

	for i := range runs {
		ids := map[string]string{} // the events' ids -> this run's
		for _, f := range fns {
			payload, err := f.payload(root, i, ids)
			if err != nil {
				return err
			}
			res, err := lambdarie.ColdStart(ctx, f.cfg, payload, payload)
			if err != nil {
				return err
			}
			switch f.id {
			case "RegisterProviderFunction":
				ids["p1q2r3s4"] = createdID(res[0].Payload)
			case "CreateAuthorizationFunction":
				ids["t5u6v7w8"] = createdID(res[0].Payload)
			}
			f.samples = append(f.samples, res...)
		}
		fmt.Fprintf(os.Stderr, "run %d/%d done\n", i+1, runs)
	}
	printTable(fns, runs)
	return nil
}

// build builds every function for this machine (to run) and for arm64 (to
// report the deployed size).
func build(ctx context.Context, root string, fns []*function) error {
	dir, err := os.MkdirTemp("", "coldstart-")
	if err != nil {
		return err
	}
	var pkgs []string
	for _, f := range fns {
		pkgs = append(pkgs, f.pkg)
	}
	for _, arch := range []string{"", "arm64"} {
		bins, err := lambdarie.Build(ctx, lambdarie.BuildOptions{Dir: root, Packages: pkgs, OutDir: filepath.Join(dir, "linux-"+arch), GOARCH: arch})
		if err != nil {
			return err
		}
		for i, f := range fns {
			if arch == "" {
				f.host = bins[i]
			} else {
				f.arm64 = bins[i]
			}
		}
	}
	return nil
}

// payload is the function's event for run i: its events/ file, with a
// provider name of its own per run (no 409), an authorization that has not
// expired (its token can be read), and the ids the events name replaced by
// the ones this run created.
func (f *function) payload(root string, run int, ids map[string]string) ([]byte, error) {
	if f.event == "" {
		return []byte(`{}`), nil
	}
	b, err := os.ReadFile(filepath.Join(root, "events", f.event))
	if err != nil {
		return nil, err
	}
	var ev map[string]any
	if err := json.Unmarshal(b, &ev); err != nil {
		return nil, err
	}
	if body, ok := ev["body"].(string); ok {
		body = strings.Replace(body, `"github"`, fmt.Sprintf(`"github-%d-%d"`, run, time.Now().UnixNano()), 1)
		ev["body"] = strings.Replace(body, "2026-06-05T12:00:00.000Z", time.Now().AddDate(1, 0, 0).UTC().Format("2006-01-02T15:04:05.000Z"), 1)
	}
	out, err := json.Marshal(ev)
	if err != nil {
		return nil, err
	}
	for from, to := range ids {
		out = []byte(strings.ReplaceAll(string(out), from, to))
	}
	return out, nil
}

// rank orders the functions so that each finds what it reads.
func rank(id string) int {
	switch id {
	case "RegisterProviderFunction":
		return 0
	case "CreateAuthorizationFunction":
		return 1
	case "ReadTokenFunction":
		return 2
	}
	return 3
}

func createdID(payload []byte) string {
	var resp struct{ Body string }
	var env struct{ Data struct{ ID string } }
	_ = json.Unmarshal(payload, &resp)
	_ = json.Unmarshal([]byte(resp.Body), &env)
	return env.Data.ID
}

func printTable(fns []*function, runs int) {
	fmt.Printf("Cold starts under aws-lambda-rie %s, median of %d runs, %s/%s, %s, %d CPUs.\n\n",
		lambdarie.EmulatorVersion[len(lambdarie.EmulatorVersion)-12:], runs, runtime.GOOS, runtime.GOARCH, runtime.Version(), runtime.NumCPU())
	fmt.Println("| function | size arm64 | size " + runtime.GOARCH + " | init | first invoke | cold total | warm invoke | answers |")
	fmt.Println("|---|---:|---:|---:|---:|---:|---:|---|")
	for _, f := range fns {
		var init, first, total, warm []time.Duration
		for i := 0; i+1 < len(f.samples); i += 2 {
			cold, w := f.samples[i], f.samples[i+1]
			init, first, total, warm = append(init, cold.Init), append(first, cold.Duration), append(total, cold.RoundTrip), append(warm, w.Duration)
		}
		fmt.Printf("| %s | %s | %s | %s | %s | %s | %s | %s |\n", f.id, mib(f.arm64.Size), mib(f.host.Size),
			ms(median(init)), ms(median(first)), ms(median(total)), ms(median(warm)), answers(f.samples))
	}
	fmt.Println()
	fmt.Println("init: runtime start to its first request for work (the emulator's INIT REPORT, as Lambda's Init Duration);")
	fmt.Println("first invoke: the cold invocation, init excluded; cold total: what the caller waited for the cold")
	fmt.Println("invocation (emulator overhead included); warm invoke: the next invocation. Invocations call DynamoDB Local")
	fmt.Println("and local-kms on this machine, so they are faster than in AWS; init does no I/O and compares as is.")
}

// answers summarises what the invocations answered: the HTTP statuses of
// an API function, "ok" otherwise.
func answers(samples []*lambdarie.Result) string {
	seen := map[string]int{}
	var order []string
	for _, r := range samples {
		var resp struct {
			StatusCode int `json:"statusCode"`
		}
		a := "ok"
		if json.Unmarshal(r.Payload, &resp) == nil && resp.StatusCode != 0 {
			a = fmt.Sprint(resp.StatusCode)
		}
		if seen[a] == 0 {
			order = append(order, a)
		}
		seen[a]++
	}
	var out []string
	for _, a := range order {
		out = append(out, fmt.Sprintf("%s ×%d", a, seen[a]))
	}
	return strings.Join(out, ", ")
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

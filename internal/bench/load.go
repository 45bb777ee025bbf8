package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/passport-oss/passport/internal/httpapi"
)

// loadRoutes are the routes put under load: the write that seals a token
// and the list read most.
var loadRoutes = []string{"POST /api/v1/passport/authorizations", "GET /api/v1/passport/providers"}

// loadClientEnv makes a process the load client: it holds the loadSpec.
const loadClientEnv = "PASSPORT_BENCH_LOAD_CLIENT"

// loadSpec is what one load run sends.
type loadSpec struct {
	URL    string
	Method string
	Body   string
	// Each, when set, is replaced in Body by the request's sequence number,
	// so every request writes something new (a connect for a new user)
	// instead of all of them reconnecting one pair.
	Each        string
	Concurrency int
	Duration    time.Duration
	Max         int
}

// loadResult is what the load client saw.
type loadResult struct {
	Requests int
	Errors   int            // transport errors and statuses other than 2xx
	Statuses map[string]int // of the errors: status code, or "transport"
	Elapsed  time.Duration
	P50, P99 time.Duration
}

// MaybeRunLoadClient makes this process the load client of a load run and
// exits, when it was started as one (measureLoad starts its own executable
// with loadClientEnv set); otherwise it returns at once. cmd/passport-bench
// and this package's TestMain call it first thing.
func MaybeRunLoadClient() {
	spec := os.Getenv(loadClientEnv)
	if spec == "" {
		return
	}
	var s loadSpec
	if err := json.Unmarshal([]byte(spec), &s); err != nil {
		fmt.Fprintln(os.Stderr, "load client:", err)
		os.Exit(2)
	}
	if err := json.NewEncoder(os.Stdout).Encode(runLoad(s)); err != nil {
		os.Exit(1)
	}
	os.Exit(0)
}

// runLoad sends requests from s.Concurrency workers, each waiting for its
// answer before the next (closed loop), until s.Duration passes or s.Max
// requests are sent.
func runLoad(s loadSpec) loadResult {
	u, _ := url.Parse(s.URL)
	c := newClient(u.Scheme + "://" + u.Host)
	var (
		sent      atomic.Int64
		mu        sync.Mutex
		latencies []time.Duration
		res       = loadResult{Statuses: map[string]int{}}
		wg        sync.WaitGroup
	)
	ctx, cancel := context.WithTimeout(context.Background(), s.Duration+30*time.Second)
	defer cancel()
	start := time.Now()
	deadline := start.Add(s.Duration)
	for range s.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				n := sent.Add(1)
				if n > int64(s.Max) {
					return
				}
				req := request{Method: s.Method, Path: u.RequestURI(), Body: s.Body}
				if s.Each != "" {
					req.Body = strings.ReplaceAll(req.Body, s.Each, strconv.FormatInt(n, 10))
				}
				t := time.Now()
				resp, err := c.do(ctx, req)
				d := time.Since(t)
				mu.Lock()
				res.Requests++
				latencies = append(latencies, d)
				switch {
				case err != nil:
					res.Errors++
					res.Statuses["transport"]++
				case resp.Status/100 != 2:
					res.Errors++
					res.Statuses[strconv.Itoa(resp.Status)]++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	res.P50, res.P99 = percentile(latencies, 50), percentile(latencies, 99)
	return res
}

// measureLoad puts each load route under closed-loop load from a second
// process at each concurrency, sampling the local stack's processes (this
// one, which runs the gateway and every function; DynamoDB Local;
// local-kms) from /proc meanwhile.
func measureLoad(ctx context.Context, e *env) ([]Row, error) {
	pids := map[string]int{"functions": os.Getpid()}
	for name, endpoint := range map[string]string{"DynamoDB Local": os.Getenv("AWS_ENDPOINT_URL_DYNAMODB"), "local-kms": os.Getenv("AWS_ENDPOINT_URL_KMS")} {
		if pid := pidListening(portOf(endpoint)); pid > 0 {
			pids[name] = pid
		}
	}
	var rows []Row
	for _, key := range loadRoutes {
		rt, ok := routeByKey(key)
		if !ok {
			return nil, fmt.Errorf("no route %s", key)
		}
		for _, c := range e.n.concurrencies {
			r, err := e.loadRun(ctx, rt, c, pids)
			if err != nil {
				return nil, err
			}
			rows = append(rows, r...)
		}
	}
	return rows, nil
}

func routeByKey(key string) (httpapi.Route, bool) {
	for _, rt := range httpapi.Routes {
		if rt.Method+" "+rt.Path == key {
			return rt, true
		}
	}
	return httpapi.Route{}, false
}

func portOf(endpoint string) int {
	u, err := url.Parse(endpoint)
	if err != nil {
		return 0
	}
	p, _ := strconv.Atoi(u.Port())
	return p
}

// loadRun runs one load client process and reads its result.
func (e *env) loadRun(ctx context.Context, rt httpapi.Route, concurrency int, pids map[string]int) ([]Row, error) {
	req, _, err := e.samples.forRoute(rt)
	if err != nil {
		return nil, err
	}
	spec := loadSpec{URL: e.api.base + req.Path, Method: req.Method, Body: req.Body,
		Concurrency: concurrency, Duration: e.n.loadDuration, Max: e.n.loadMax}
	if rt.Method == "POST" && rt.Path == "/api/v1/passport/authorizations" {
		// A new user per request: concurrent connects, not 32 clients
		// reconnecting one pair (race_test.go measures that).
		spec.Each = "{n}"
		spec.Body = strings.Replace(req.Body, `"userId":"`, fmt.Sprintf(`"userId":"load-c%d-{n}-`, concurrency), 1)
	}
	specJSON, _ := json.Marshal(spec)
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, e.n.loadDuration+time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, self)
	cmd.Env = append(os.Environ(), loadClientEnv+"="+string(specJSON))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	e.progress("  %s %s at concurrency %d", req.Method, req.Path, concurrency)
	s := startSampler(pids, 100*time.Millisecond)
	err = cmd.Run()
	use := s.Stop()
	if err != nil {
		return nil, fmt.Errorf("load client: %w\n%s", err, stderr.Bytes())
	}
	var res loadResult
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		return nil, fmt.Errorf("load client said %q: %w", stdout.Bytes(), err)
	}
	return loadRows(rt, concurrency, res, use), nil
}

func loadRows(rt httpapi.Route, concurrency int, res loadResult, use map[string]usage) []Row {
	subject := fmt.Sprintf("%s %s, concurrency %d", rt.Method, rt.Path, concurrency)
	var statuses []string
	for s, n := range res.Statuses {
		statuses = append(statuses, fmt.Sprintf("%s×%d", s, n))
	}
	slices.Sort(statuses)
	cores, coreParts, memParts := 0.0, []string{}, []string{}
	for _, name := range []string{"functions", "DynamoDB Local", "local-kms"} {
		u, ok := use[name]
		if !ok {
			continue
		}
		cores += u.Cores
		coreParts = append(coreParts, fmt.Sprintf("%s %s", name, formatNumber(u.Cores)))
		if name != "functions" {
			memParts = append(memParts, fmt.Sprintf("%s %s MB", name, formatNumber(u.PeakMB)))
		}
	}
	return []Row{
		{Area: AreaLoad, Subject: subject, Metric: "requests/s", Value: float64(res.Requests) / res.Elapsed.Seconds(),
			Detail: fmt.Sprintf("%d requests in %s, closed loop from a second process; p50 %s ms, p99 %s ms",
				res.Requests, res.Elapsed.Round(time.Millisecond), formatNumber(ms(res.P50)), formatNumber(ms(res.P99)))},
		{Area: AreaLoad, Subject: subject, Metric: "errors", Value: float64(res.Errors), Target: AtMost(0),
			Detail: strings.Join(statuses, ", ")},
		{Area: AreaLoad, Subject: subject, Metric: "stack CPU cores", Value: cores, Detail: strings.Join(coreParts, ", ")},
		{Area: AreaLoad, Subject: subject, Metric: "functions peak RSS MB", Value: use["functions"].PeakMB,
			Detail: "the local process serving every function (and this bench); peaks of " + strings.Join(memParts, ", ")},
	}
}

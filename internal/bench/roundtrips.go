package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/passport-oss/passport/internal/httpapi"
)

// kmsPerRequestMax is the KMS target: calls amortized by the data-key cache
// (a key serves up to 1000 operations by default).
const kmsPerRequestMax = 0.01

// measureRoundTrips sends n requests to every route, one at a time, and
// counts the AWS calls each made at the wire. With Options.Record, the last
// response of each operation a function called is saved as its canned
// response.
func measureRoundTrips(ctx context.Context, e *env) ([]Row, error) {
	var rows []Row
	for _, rt := range httpapi.Routes {
		first, rest, last, err := e.countCalls(ctx, rt)
		if err != nil {
			return nil, err
		}
		if e.opts.Record != "" {
			if err := record(e.opts.Record, rt.FunctionID, last); err != nil {
				return nil, err
			}
		}
		// DynamoDB calls count over every request; KMS calls over those
		// after the first, whose data keys the cache may already hold.
		subject, n := rt.Method+" "+rt.Path, float64(e.n.roundTrips)
		all := map[string]int{}
		for _, m := range []map[string]int{first, rest} {
			for op, c := range m {
				all[op] += c
			}
		}
		rows = append(rows,
			Row{Area: AreaRoundTrips, Subject: subject, Metric: "DynamoDB calls/request",
				Value: float64(countService(all, "DynamoDB")) / n, Target: AtMost(1), Detail: opsDetail(all, "DynamoDB", n)},
			Row{Area: AreaRoundTrips, Subject: subject, Metric: "KMS calls/request",
				Value: float64(countService(rest, "KMS")) / (n - 1), Target: AtMost(kmsPerRequestMax),
				Detail: fmt.Sprintf("%s after the first request, which made %d", opsDetail(rest, "KMS", n-1), countService(first, "KMS"))},
		)
	}
	return rows, nil
}

// countCalls sends the route's requests and returns the calls by operation
// of the first and of the others, and (while recording) the calls
// themselves.
func (e *env) countCalls(ctx context.Context, rt httpapi.Route) (first, rest map[string]int, last []Call, err error) {
	e.wire.Take()
	e.wire.Capture(e.opts.Record != "")
	defer e.wire.Capture(false)
	rest = map[string]int{}
	for i := range e.n.roundTrips {
		req, known, err := e.samples.forRoute(rt)
		if err != nil {
			return nil, nil, nil, err
		}
		if known {
			_, err = e.api.mustSucceed(ctx, req)
		} else {
			_, err = e.api.do(ctx, req)
		}
		if err != nil {
			return nil, nil, nil, err
		}
		got, calls := e.wire.Take()
		if i == 0 {
			first = got
			got = nil
		}
		for op, c := range got {
			rest[op] += c
		}
		// Each operation's last answer is recorded, whichever request made
		// it: a cache may spare the last request a call the first made.
		last = append(last, calls...)
	}
	return first, rest, last, nil
}

// opsDetail lists the operations of service per request: "Query×1".
func opsDetail(counts map[string]int, service string, n float64) string {
	var parts []string
	for op, c := range counts {
		if name, ok := strings.CutPrefix(op, service+"."); ok {
			parts = append(parts, fmt.Sprintf("%s×%s", name, formatNumber(float64(c)/n)))
		}
	}
	if len(parts) == 0 {
		parts = []string{"none"}
	}
	slices.Sort(parts)
	return fmt.Sprintf("%s (mean of %s requests)", strings.Join(parts, ", "), formatNumber(n))
}

// record writes each call's response body as <dir>/<function>.<op>.json.
func record(dir, functionID string, calls []Call) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, c := range calls {
		name := filepath.Join(dir, functionID+"."+c.Op+".json")
		if err := os.WriteFile(name, c.Response, 0o644); err != nil {
			return err
		}
	}
	return nil
}

package bench

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
)

// Call is one AWS API call seen at the wire: its operation
// ("DynamoDB.Query", "KMS.GenerateDataKey") and, while capturing, its
// request and response bodies.
type Call struct {
	Op       string
	Request  []byte
	Response []byte
	// Start and End bound the round trip, so that a replay can make
	// concurrently the calls that were made concurrently.
	Start, End time.Time
}

// Wire is the http.RoundTripper under every SDK client of a run. It counts
// AWS calls by operation, as they reach the wire (an SDK retry is another
// round trip, and counts), and, while capturing, keeps each call's bodies:
// the latency floor replays the exact DynamoDB requests Passport sent, and
// the recordings become the canned responses of the handler benchmarks.
type Wire struct {
	next      http.RoundTripper
	capturing atomic.Bool

	mu     sync.Mutex
	counts map[string]int
	calls  []Call
}

// NewWire returns a Wire over the SDK's own default transport (its
// connection pool settings), so counting changes nothing that is measured.
func NewWire() *Wire {
	return &Wire{next: awshttp.NewBuildableClient().GetTransport(), counts: map[string]int{}}
}

// Client returns an *http.Client for aws.Config.HTTPClient.
func (w *Wire) Client() *http.Client { return &http.Client{Transport: w} }

// Capture turns body capture on or off (off by default: it costs a copy of
// every body, which the load runs must not pay).
func (w *Wire) Capture(on bool) { w.capturing.Store(on) }

// RoundTrip implements http.RoundTripper.
func (w *Wire) RoundTrip(r *http.Request) (*http.Response, error) {
	op := operation(r.Header.Get("X-Amz-Target"))
	if !w.capturing.Load() {
		w.mu.Lock()
		w.counts[op]++
		w.mu.Unlock()
		return w.next.RoundTrip(r)
	}
	c := Call{Op: op, Start: time.Now()}
	if r.Body != nil {
		b, err := io.ReadAll(r.Body)
		r.Body.Close()
		if err != nil {
			return nil, err
		}
		c.Request = b
		r.Body = io.NopCloser(bytes.NewReader(b))
		r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	}
	resp, err := w.next.RoundTrip(r)
	if err == nil {
		b, rerr := io.ReadAll(resp.Body)
		c.End = time.Now()
		resp.Body.Close()
		if rerr != nil {
			return nil, rerr
		}
		c.Response = b
		resp.Body = io.NopCloser(bytes.NewReader(b))
	}
	w.mu.Lock()
	w.counts[op]++
	w.calls = append(w.calls, c)
	w.mu.Unlock()
	return resp, err
}

// Take returns the counts and captured calls since the last Take, and
// resets both.
func (w *Wire) Take() (map[string]int, []Call) {
	w.mu.Lock()
	defer w.mu.Unlock()
	counts, calls := w.counts, w.calls
	w.counts, w.calls = map[string]int{}, nil
	return counts, calls
}

// operation turns an X-Amz-Target ("DynamoDB_20120810.Query",
// "TrentService.GenerateDataKey") into "DynamoDB.Query", "KMS.GenerateDataKey".
func operation(target string) string {
	svc, name, ok := strings.Cut(target, ".")
	if !ok {
		return "other"
	}
	svc, _, _ = strings.Cut(svc, "_")
	switch svc {
	case "TrentService":
		svc = "KMS"
	case "DynamoDBStreams":
		svc = "Streams"
	}
	return svc + "." + name
}

// countService sums the counts of one service ("DynamoDB", "KMS").
func countService(counts map[string]int, service string) int {
	n := 0
	for op, c := range counts {
		if strings.HasPrefix(op, service+".") {
			n += c
		}
	}
	return n
}

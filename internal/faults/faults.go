// Package faults puts failures between Passport and AWS, at the wire: an
// http.RoundTripper for the SDK clients' HTTP client (aws.Config.HTTPClient)
// that, at chosen rates and per AWS operation, answers as a throttled or
// failing service answers, drops the connection before or after the service
// got the request, or delays the call. The SDK sees exactly what it would see
// from DynamoDB or KMS, so its retries, Passport's error mapping and the
// transactions' atomicity are tested as they run in AWS.
//
// Decisions are deterministic for a seed: the n-th call of an operation
// faults or not whatever the interleaving of operations, so a failing run
// repeats with its seed.
package faults

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Kind is a kind of fault.
type Kind int

// The faults. Each names what the service (or the network) does.
const (
	// Throttle answers 400 ThrottlingException, DynamoDB's or KMS's.
	Throttle Kind = iota + 1
	// ThroughputExceeded answers DynamoDB's 400
	// ProvisionedThroughputExceededException (KMS: ThrottlingException).
	ThroughputExceeded
	// TransactionThrottled answers a TransactWriteItems with 400
	// TransactionCanceledException whose first reason is ThrottlingError,
	// as DynamoDB cancels a throttled transaction (other operations:
	// ThrottlingException). The SDK does not retry it.
	TransactionThrottled
	// ServerError answers 500 InternalServerError (KMS: KMSInternalException).
	ServerError
	// Drop fails the call with a connection reset before the service
	// receives it: nothing happened there.
	Drop
	// DropResponse lets the service process the call, then fails it with a
	// connection reset in place of the response: the change happened, and
	// the caller does not know it.
	DropResponse
	// Latency delays the call by the rule's Delay (or until the request's
	// context ends), then sends it.
	Latency
	// BadGateway answers 502 with an HTML page, as a proxy or load balancer
	// between the caller and the service does: not the service's JSON, so
	// the error carries no code the caller knows, only its status.
	BadGateway
)

// Kinds lists every kind, in order.
var Kinds = []Kind{Throttle, ThroughputExceeded, TransactionThrottled, ServerError, Drop, DropResponse, Latency, BadGateway}

func (k Kind) String() string {
	switch k {
	case Throttle:
		return "throttle"
	case ThroughputExceeded:
		return "throughput-exceeded"
	case TransactionThrottled:
		return "transaction-throttled"
	case ServerError:
		return "server-error"
	case Drop:
		return "drop"
	case DropResponse:
		return "drop-response"
	case Latency:
		return "latency"
	case BadGateway:
		return "bad-gateway"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Rule injects one kind of fault into a share of an operation's calls.
type Rule struct {
	// Op is the operation, as Operation names it ("DynamoDB.Query",
	// "KMS.Decrypt"), a service's every operation ("DynamoDB.*", "KMS.*"),
	// or "*" for all.
	Op string
	// Kind is the fault.
	Kind Kind
	// Rate is the share of matching calls that fault, from 0 to 1.
	Rate float64
	// Delay is how long Latency holds a call.
	Delay time.Duration
}

func (r Rule) matches(op string) bool {
	if r.Op == "*" || r.Op == op {
		return true
	}
	svc, ok := strings.CutSuffix(r.Op, ".*")
	return ok && strings.HasPrefix(op, svc+".")
}

// Operation names the AWS operation of an SDK request from its X-Amz-Target
// header: "DynamoDB.Query" for DynamoDB_20120810.Query, "KMS.Decrypt" for
// TrentService.Decrypt, "DynamoDBStreams.GetRecords".
func Operation(r *http.Request) string {
	op := r.Header.Get("X-Amz-Target")
	svc, name, ok := strings.Cut(op, ".")
	if !ok {
		return op
	}
	svc, _, _ = strings.Cut(svc, "_")
	if svc == "TrentService" {
		svc = "KMS"
	}
	return svc + "." + name
}

// Transport is the fault-injecting http.RoundTripper. Its zero value
// injects nothing and sends every call through http.DefaultTransport.
type Transport struct {
	// Next sends the calls that reach the service; http.DefaultTransport
	// when nil.
	Next http.RoundTripper
	// Seed makes the decisions (see the package comment).
	Seed uint64

	mu          sync.Mutex
	rules       []Rule
	seq         map[string]uint64 // calls per operation, for the decisions
	calls       map[string]int
	injected    map[string]map[Kind]int
	invocations map[string]map[string]int // operation -> SDK invocation id -> attempts
}

// New returns a Transport sending through next with the given rules.
func New(next http.RoundTripper, seed uint64, rules ...Rule) *Transport {
	t := &Transport{Next: next, Seed: seed}
	t.SetRules(rules...)
	return t
}

// SetRules replaces the rules: none stops injecting. A call in flight keeps
// the decision it got.
func (t *Transport) SetRules(rules ...Rule) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.rules = append([]Rule(nil), rules...)
}

// Client returns an HTTP client that sends through t, for
// aws.Config.HTTPClient. Set it after config.LoadDefaultConfig: the loader
// refuses a plain *http.Client when AWS_CA_BUNDLE is set.
func (t *Transport) Client() *http.Client { return &http.Client{Transport: t} }

// Counts is what a Transport saw, per operation: every call at the wire
// (one per attempt, SDK retries included), the SDK's calls they were
// attempts of (by the amz-sdk-invocation-id header, which every attempt of
// one call repeats), and the faults it injected.
type Counts struct {
	Calls       map[string]int
	Invocations map[string]int
	// MostAttempts is the most attempts one SDK call made.
	MostAttempts int
	Injected     map[string]map[Kind]int
}

// Faults returns how many faults were injected in all, or of the kinds given.
func (c Counts) Faults(kinds ...Kind) int {
	n := 0
	for _, byKind := range c.Injected {
		for k, v := range byKind {
			if len(kinds) == 0 || contains(kinds, k) {
				n += v
			}
		}
	}
	return n
}

// Attempts returns the calls of the operations given (all when none).
func (c Counts) Attempts(ops ...string) int {
	n := 0
	for op, v := range c.Calls {
		if len(ops) == 0 || contains(ops, op) {
			n += v
		}
	}
	return n
}

func contains[T comparable](s []T, v T) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// Counts returns the counts so far.
func (t *Transport) Counts() Counts {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.snapshot()
}

// Take returns the counts so far and starts counting afresh (the decisions
// keep their sequence).
func (t *Transport) Take() Counts {
	t.mu.Lock()
	defer t.mu.Unlock()
	c := t.snapshot()
	t.calls, t.injected, t.invocations = nil, nil, nil
	return c
}

func (t *Transport) snapshot() Counts {
	c := Counts{Calls: map[string]int{}, Invocations: map[string]int{}, Injected: map[string]map[Kind]int{}}
	for op, n := range t.calls {
		c.Calls[op] = n
	}
	for op, byID := range t.invocations {
		c.Invocations[op] = len(byID)
		for _, n := range byID {
			c.MostAttempts = max(c.MostAttempts, n)
		}
	}
	for op, byKind := range t.injected {
		c.Injected[op] = map[Kind]int{}
		for k, n := range byKind {
			c.Injected[op][k] = n
		}
	}
	return c
}

// decide counts the call, an attempt of the SDK call invocation, and
// returns the rule it faults under, if any.
func (t *Transport) decide(op, invocation string) (Rule, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.seq == nil {
		t.seq = map[string]uint64{}
	}
	if t.calls == nil {
		t.calls, t.invocations = map[string]int{}, map[string]map[string]int{}
	}
	n := t.seq[op]
	t.seq[op]++
	t.calls[op]++
	if t.invocations[op] == nil {
		t.invocations[op] = map[string]int{}
	}
	t.invocations[op][invocation]++
	for i, r := range t.rules {
		if !r.matches(op) || r.Rate <= 0 || chance(t.Seed, op, n, uint64(i)) >= r.Rate {
			continue
		}
		if t.injected == nil {
			t.injected = map[string]map[Kind]int{}
		}
		if t.injected[op] == nil {
			t.injected[op] = map[Kind]int{}
		}
		t.injected[op][r.Kind]++
		return r, true
	}
	return Rule{}, false
}

// chance is a number in [0, 1) fixed by the seed, the operation, the call's
// number and the rule's.
func chance(seed uint64, op string, n, rule uint64) float64 {
	h := uint64(14695981039346656037) // FNV-1a of op
	for i := 0; i < len(op); i++ {
		h = (h ^ uint64(op[i])) * 1099511628211
	}
	x := splitmix(seed ^ splitmix(h^splitmix(n^splitmix(rule))))
	return float64(x>>11) / (1 << 53)
}

func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(r *http.Request) (*http.Response, error) {
	op := Operation(r)
	rule, fault := t.decide(op, r.Header.Get("Amz-Sdk-Invocation-Id"))
	next := t.Next
	if next == nil {
		next = http.DefaultTransport
	}
	if !fault {
		return next.RoundTrip(r)
	}
	switch rule.Kind {
	case Latency:
		timer := time.NewTimer(rule.Delay)
		defer timer.Stop()
		select {
		case <-timer.C:
		case <-r.Context().Done():
			closeBody(r)
			return nil, r.Context().Err()
		}
		return next.RoundTrip(r)
	case Drop:
		closeBody(r)
		return nil, connectionReset()
	case DropResponse:
		resp, err := next.RoundTrip(r)
		if err != nil {
			return nil, err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		return nil, connectionReset()
	case BadGateway:
		closeBody(r)
		return badGateway(r), nil
	}
	body, _ := io.ReadAll(r.Body)
	closeBody(r)
	return serviceError(r, op, rule.Kind, body), nil
}

func closeBody(r *http.Request) {
	if r.Body != nil {
		_ = r.Body.Close()
	}
}

// connectionReset is what reading from a connection the peer reset returns.
func connectionReset() error {
	return &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}
}

// badGateway is a proxy's answer: a 502 and an HTML page.
func badGateway(r *http.Request) *http.Response {
	const page = "<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>"
	h := http.Header{}
	h.Set("Content-Type", "text/html")
	return answer(r, http.StatusBadGateway, h, []byte(page))
}

// answer is a made-up response to r, as if read off the wire.
func answer(r *http.Request, status int, h http.Header, body []byte) *http.Response {
	return &http.Response{
		Status: fmt.Sprintf("%d %s", status, http.StatusText(status)), StatusCode: status,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: h, Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body)), Request: r,
	}
}

// serviceError is the service's own answer for a fault of kind k.
func serviceError(r *http.Request, op string, k Kind, reqBody []byte) *http.Response {
	kms := strings.HasPrefix(op, "KMS.")
	status, code, msg := http.StatusBadRequest, "ThrottlingException", "Rate exceeded"
	var extra map[string]any
	switch {
	case k == ServerError && kms:
		status, code, msg = http.StatusInternalServerError, "KMSInternalException", "An internal error occurred."
	case k == ServerError:
		status, code, msg = http.StatusInternalServerError, "InternalServerError", "Internal server error"
	case kms:
		// KMS throttles with ThrottlingException only.
	case k == ThroughputExceeded:
		code, msg = "ProvisionedThroughputExceededException",
			"The level of configured provisioned throughput for the table was exceeded. Consider increasing your provisioning level with the UpdateTable API."
	case k == TransactionThrottled && op == "DynamoDB.TransactWriteItems":
		code, msg, extra = "TransactionCanceledException", "", transactionThrottled(reqBody)
	default:
		msg = "Rate of requests exceeds the allowed throughput."
	}
	contentType := "application/x-amz-json-1.0"
	if kms {
		contentType = "application/x-amz-json-1.1"
	} else {
		code = "com.amazonaws.dynamodb.v20120810#" + code
	}
	body := map[string]any{"__type": code}
	if msg != "" {
		body["message"] = msg
	}
	for k, v := range extra {
		body[k] = v
	}
	b, _ := json.Marshal(body)
	h := http.Header{}
	h.Set("Content-Type", contentType)
	h.Set("X-Amzn-Requestid", fmt.Sprintf("FAULT%016X", splitmix(uint64(len(b))^uint64(time.Now().UnixNano()))))
	return answer(r, status, h, b)
}

// transactionThrottled is the body DynamoDB cancels a throttled transaction
// with: one reason per action, the first ThrottlingError, the rest None.
func transactionThrottled(reqBody []byte) map[string]any {
	var in struct{ TransactItems []json.RawMessage }
	_ = json.Unmarshal(reqBody, &in)
	n := max(len(in.TransactItems), 1)
	reasons := make([]map[string]string, n)
	codes := make([]string, n)
	for i := range reasons {
		reasons[i], codes[i] = map[string]string{"Code": "None"}, "None"
	}
	reasons[0] = map[string]string{"Code": "ThrottlingError",
		"Message": "Throughput exceeds the current capacity of your table or index. DynamoDB is automatically scaling your table or index so please try again shortly."}
	codes[0] = "ThrottlingError"
	return map[string]any{
		"Message":             "Transaction cancelled, please refer cancellation reasons for specific reasons [" + strings.Join(codes, ", ") + "]",
		"CancellationReasons": reasons,
	}
}

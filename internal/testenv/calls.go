package testenv

import (
	"net/http"
	"strings"
	"sync"
)

// CallCounter is an http.RoundTripper that counts the AWS API calls that
// reach the wire, by operation ("DynamoDB.TransactWriteItems",
// "KMS.GenerateDataKey"): SDK retries count, as each is a round trip.
type CallCounter struct {
	Next http.RoundTripper

	mu    sync.Mutex
	calls map[string]int
}

// RoundTrip implements http.RoundTripper.
func (c *CallCounter) RoundTrip(r *http.Request) (*http.Response, error) {
	op := r.Header.Get("X-Amz-Target") // e.g. DynamoDB_20120810.Query, TrentService.Decrypt
	if svc, name, ok := strings.Cut(op, "."); ok {
		svc, _, _ = strings.Cut(svc, "_")
		if svc == "TrentService" {
			svc = "KMS"
		}
		op = svc + "." + name
	}
	c.mu.Lock()
	if c.calls == nil {
		c.calls = map[string]int{}
	}
	c.calls[op]++
	c.mu.Unlock()
	next := c.Next
	if next == nil {
		next = http.DefaultTransport
	}
	return next.RoundTrip(r)
}

// Take returns the counts so far and resets them.
func (c *CallCounter) Take() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	got := c.calls
	c.calls = nil
	if got == nil {
		got = map[string]int{}
	}
	return got
}

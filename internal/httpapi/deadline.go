package httpapi

import (
	"context"
	"net/http"
	"time"
)

// Request deadlines. The functions' Timeout in template.yaml is 10 s; a
// request that has not finished by RequestBudget is answered 503
// SERVICE_UNAVAILABLE (with Retry-After) rather than cut off by Lambda, whose
// timeout would reach the client as API Gateway's own error, outside the
// envelope, after the client had waited the whole timeout.
const (
	// RequestBudget is the longest one request may take.
	RequestBudget = 8 * time.Second
	// ResponseReserve is kept back from the invocation's own deadline (the
	// function's Timeout, on the context Lambda gives): the time to answer
	// once an AWS call gives up.
	ResponseReserve = 2 * time.Second
)

// WithDeadline bounds every request's context by budget from its start, and
// by reserve before the deadline the request already carries, whichever
// comes first. Every AWS call the request makes inherits it: the SDK stops
// retrying and waiting at the deadline, and the store and the token vault
// map a deadline error to 503 SERVICE_UNAVAILABLE.
func WithDeadline(h http.Handler, budget, reserve time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		deadline := time.Now().Add(budget)
		if d, ok := r.Context().Deadline(); ok && d.Add(-reserve).Before(deadline) {
			deadline = d.Add(-reserve)
		}
		ctx, cancel := context.WithDeadline(r.Context(), deadline)
		defer cancel()
		h.ServeHTTP(w, r.WithContext(ctx))
	})
}

package httpapi_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/passport-oss/passport/internal/httpapi"
)

// deadlineSeen serves one request through WithDeadline and returns the
// deadline the handler's context carried.
func deadlineSeen(t *testing.T, parent context.Context, budget, reserve time.Duration) (time.Time, time.Time, time.Time) {
	t.Helper()
	var got time.Time
	h := httpapi.WithDeadline(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		var ok bool
		if got, ok = r.Context().Deadline(); !ok {
			t.Fatal("the request has no deadline")
		}
	}), budget, reserve)
	before := time.Now()
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil).WithContext(parent))
	return got, before, time.Now()
}

func TestWithDeadline(t *testing.T) {
	// No deadline of its own (make run's plain server): the budget.
	got, before, after := deadlineSeen(t, context.Background(), 8*time.Second, 2*time.Second)
	if got.Before(before.Add(8*time.Second)) || got.After(after.Add(8*time.Second)) {
		t.Errorf("deadline %v, want 8s after the request started (%v..%v)", got, before, after)
	}

	// Lambda's deadline, 10 s away: 2 s before it, which is the budget too.
	lambda := time.Now().Add(10 * time.Second)
	parent, cancel := context.WithDeadline(context.Background(), lambda)
	defer cancel()
	if got, _, _ := deadlineSeen(t, parent, time.Hour, 2*time.Second); !got.Equal(lambda.Add(-2 * time.Second)) {
		t.Errorf("deadline %v, want 2s before the invocation's %v", got, lambda)
	}

	// A far deadline: the budget decides.
	far, cancel2 := context.WithDeadline(context.Background(), time.Now().Add(time.Hour))
	defer cancel2()
	got, before, after = deadlineSeen(t, far, 8*time.Second, 2*time.Second)
	if got.Before(before.Add(8*time.Second)) || got.After(after.Add(8*time.Second)) {
		t.Errorf("deadline %v, want the 8s budget", got)
	}
}

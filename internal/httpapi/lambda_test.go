package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/passport-oss/passport/internal/httpapi"
)

// HTTP APIs deliver rawPath decoded: whatever it holds, the handler sees
// exactly that path (and the query), and the function never fails.
func TestLambdaHandlerTakesDecodedPaths(t *testing.T) {
	var seenPath, seenQuery string
	fn := httpapi.LambdaHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seenPath, seenQuery = r.URL.Path, r.URL.RawQuery
		w.WriteHeader(http.StatusNoContent)
	}))
	for _, path := range []string{
		"/api/v1/passport/providers",
		"/api/v1/passport/authorizations/\x00/token", // a client's %00
		"/api/v1/passport/authorizations/%zz/token",  // a client's %25zz
		"/api/v1/passport/authorizations/a?b/token",  // a client's %3F
		"/api/v1/passport/authorizations/a#b/token",  // a client's %23
		"/api/v1/passport/authorizations/a b/é",
	} {
		ev := events.APIGatewayV2HTTPRequest{RawPath: path, RawQueryString: "limit=2"}
		ev.RequestContext.HTTP.Method, ev.RequestContext.DomainName = "GET", "api.example.com"
		seenPath, seenQuery = "", ""
		resp, err := fn(context.Background(), ev)
		if err != nil || resp.StatusCode != http.StatusNoContent {
			t.Errorf("%q: %d, %v", path, resp.StatusCode, err)
			continue
		}
		if seenPath != path || seenQuery != "limit=2" {
			t.Errorf("%q: the handler saw path %q query %q", path, seenPath, seenQuery)
		}
	}
}

// An event the proxy cannot turn into a request is answered 400 in the
// envelope, not with an error (which API Gateway answers outside it).
func TestLambdaHandlerAnswersUnreadableEvents(t *testing.T) {
	fn := httpapi.LambdaHandler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		t.Error("the handler ran for an unreadable event")
	}))
	ev := events.APIGatewayV2HTTPRequest{RawPath: "/api/v1/passport/providers", Body: "not base64!", IsBase64Encoded: true}
	ev.RequestContext.HTTP.Method = "POST"
	resp, err := fn(context.Background(), ev)
	if err != nil {
		t.Fatalf("the function failed: %v", err)
	}
	var env struct {
		Success bool
		Error   struct{ Code string }
	}
	if resp.StatusCode != 400 || json.Unmarshal([]byte(resp.Body), &env) != nil || env.Success || env.Error.Code != "VALIDATION_ERROR" {
		t.Errorf("got %d %s, want 400 VALIDATION_ERROR in the envelope", resp.StatusCode, resp.Body)
	}
}

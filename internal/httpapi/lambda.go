package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"

	"github.com/aws/aws-lambda-go/events"
	"github.com/awslabs/aws-lambda-go-api-proxy/core"

	"github.com/passport-oss/passport/internal/passport"
)

// LambdaHandler serves h as a Lambda function behind an HTTP API (payload
// 2.0), through aws-lambda-go-api-proxy's request and response conversion.
//
// HTTP APIs deliver rawPath percent-decoded, and the proxy pastes it into a
// URL it then parses: a decoded control character or a bare "%" (a client's
// "%00" or "%25zz") fails the parse, the function returns an error, and API
// Gateway answers its own 500 outside the envelope; a decoded "?" or "#"
// would split the path. So the path is escaped again first (the handler sees
// the same decoded path), and a request the proxy still cannot convert is
// answered 400 in the envelope. Found by FuzzGateway
// (internal/localstack/testdata/fuzz/FuzzGateway/path_nul).
func LambdaHandler(h http.Handler) func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	var proxy core.RequestAccessorV2
	return func(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		if ev.RawPath == "" {
			ev.RawPath = ev.RequestContext.HTTP.Path
		}
		ev.RawPath = (&url.URL{Path: ev.RawPath}).EscapedPath()
		r, err := proxy.EventToRequestWithContext(ctx, ev)
		w := core.NewProxyResponseWriterV2()
		if err != nil {
			unread := (&http.Request{Method: ev.RequestContext.HTTP.Method, URL: &url.URL{}}).WithContext(ctx)
			writeError(w, unread, slog.Default(), passport.Errorf(passport.EINVALID, "The request could not be read."))
			return w.GetProxyResponse()
		}
		h.ServeHTTP(w, r)
		return w.GetProxyResponse()
	}
}

package httpapi

import (
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/awslabs/aws-lambda-go-api-proxy/core"

	"github.com/passport-oss/passport/internal/passport"
)

// Server holds the services the handlers call.
type Server struct {
	Providers      passport.ProviderService
	Authorizations passport.AuthorizationService
	Audit          passport.AuditService
	Logger         *slog.Logger
	// Now returns the current time, for an authorization's status.
	Now func() time.Time
}

// Handler returns the handler of one Lambda function: its own route, and
// the envelope's 404 or 405 for anything else. FallbackFunctionID gives the
// fallback alone.
func (s *Server) Handler(functionID string) (http.Handler, error) {
	var routes []Route
	for _, rt := range Routes {
		if rt.FunctionID == functionID {
			routes = append(routes, rt)
		}
	}
	if len(routes) == 0 && functionID != FallbackFunctionID {
		return nil, fmt.Errorf("httpapi: no routes for function %q", functionID)
	}
	return s.serve(routes), nil
}

// All returns one handler for every route, as the whole API.
func (s *Server) All() http.Handler { return s.serve(Routes) }

func (s *Server) endpoint(functionID string) http.HandlerFunc {
	switch functionID {
	case "ListProvidersFunction":
		return s.listProviders
	case "RegisterProviderFunction":
		return s.registerProvider
	case "CreateAuthorizationFunction":
		return s.createAuthorization
	case "ListAuditFunction":
		return s.listAudit
	case "ReadTokenFunction":
		return s.readToken
	case "GetProviderFunction":
		return s.getProvider
	case "UpdateProviderFunction":
		return s.updateProvider
	case "DeleteProviderFunction":
		return s.deleteProvider
	case "ListAuthorizationsFunction":
		return s.listAuthorizations
	case "GetAuthorizationFunction":
		return s.getAuthorization
	case "RevokeAuthorizationFunction":
		return s.revokeAuthorization
	}
	panic("httpapi: route table names unknown function " + functionID)
}

// serve routes each request to its endpoint among routes, logs it, and
// turns a panic into a 500 in the envelope.
func (s *Server) serve(routes []Route) http.Handler {
	endpoints := make([]http.HandlerFunc, len(routes))
	for i, rt := range routes {
		endpoints[i] = s.endpoint(rt.FunctionID)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		route := "$default"
		defer func() {
			if v := recover(); v != nil {
				s.logger().ErrorContext(r.Context(), "panic", "route", route, "panic", fmt.Sprint(v))
				if rec.status == 0 {
					writeError(rec, r, s.logger(), fmt.Errorf("panic: %v", v))
				}
			}
			s.logRequest(r, route, rec.status, time.Since(start))
		}()
		r = r.WithContext(passport.NewContextWithCaller(r.Context(), callerOf(r)))
		for i, rt := range routes {
			params, ok := rt.match(r.URL.Path)
			if !ok || rt.Method != r.Method {
				continue
			}
			for name, v := range params {
				r.SetPathValue(name, v)
			}
			route = rt.Method + " " + rt.Path
			endpoints[i](rec, r)
			return
		}
		s.fallback(rec, r)
	})
}

// fallback answers a request no route matched: the FallbackRoutes (the
// OpenAPI document), 405 with Allow when the path exists under other
// methods, 404 otherwise.
func (s *Server) fallback(w http.ResponseWriter, r *http.Request) {
	if s.serveOpenAPI(w, r) {
		return
	}
	var allow []string
	for _, rt := range slices.Concat(Routes, FallbackRoutes) {
		if _, ok := rt.match(r.URL.Path); ok {
			allow = append(allow, rt.Method)
		}
	}
	// A route of another function reaching this one (a gateway
	// misconfiguration) is not this function's to serve: 404 too.
	if len(allow) == 0 || slices.Contains(allow, r.Method) {
		writeError(w, r, s.logger(), passport.Errorf(passport.ENOTFOUND, "No route for %s %s.", r.Method, r.URL.Path))
		return
	}
	slices.Sort(allow)
	w.Header().Set("Allow", strings.Join(allow, ", "))
	writeError(w, r, s.logger(), passport.Errorf(passport.EMETHOD, "Method %s is not allowed on %s; allowed: %s.", r.Method, r.URL.Path, strings.Join(allow, ", ")))
}

func (s *Server) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.Default()
	}
	return s.Logger
}

func (s *Server) now() time.Time {
	if s.Now == nil {
		return time.Now()
	}
	return s.Now()
}

// logRequest writes the one log line of a request. It names the route, not
// the query, and nothing of the body: no secret can reach it. The caller is
// the identity the gateway's authorizer vouched for (JWT sub, IAM ARN);
// requestId is the gateway's, awsRequestId the Lambda invocation's.
func (s *Server) logRequest(r *http.Request, route string, status int, latency time.Duration) {
	actor := passport.CallerFromContext(r.Context()).Actor
	attrs := []any{"method", r.Method, "route", route, "status", status, "latencyMs", float64(latency.Microseconds()) / 1000,
		"caller", actor.ID, "callerType", actor.Type}
	if rc, ok := core.GetAPIGatewayV2ContextFromContext(r.Context()); ok {
		attrs = append(attrs, "requestId", rc.RequestID, "sourceIp", rc.HTTP.SourceIP)
	}
	if lc, ok := lambdacontext.FromContext(r.Context()); ok {
		attrs = append(attrs, "awsRequestId", lc.AwsRequestID)
	}
	s.logger().InfoContext(r.Context(), "request", attrs...)
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
	r.ResponseWriter.WriteHeader(status)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

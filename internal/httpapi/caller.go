package httpapi

import (
	"net"
	"net/http"

	"github.com/aws/aws-lambda-go/events"
	"github.com/awslabs/aws-lambda-go-api-proxy/core"

	"github.com/passport-oss/passport/internal/passport"
)

// callerOf returns who is calling and from where, as API Gateway tells the
// function in the event's requestContext: the JWT authorizer's subject, or
// the IAM principal of a SigV4-signed call, and the request id, source IP
// and user agent. A request that came without an event (a plain net/http
// server, in tests) is described from the connection.
func callerOf(r *http.Request) passport.Caller {
	rc, ok := core.GetAPIGatewayV2ContextFromContext(r.Context())
	if !ok {
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		return passport.Caller{
			Actor:   passport.Actor{Type: passport.ActorAnonymous, ID: "anonymous"},
			Request: passport.RequestInfo{SourceIP: host, UserAgent: r.UserAgent()},
		}
	}
	return passport.Caller{
		Actor:   actorOf(rc.Authorizer),
		Request: passport.RequestInfo{ID: rc.RequestID, SourceIP: rc.HTTP.SourceIP, UserAgent: rc.HTTP.UserAgent},
	}
}

func actorOf(a *events.APIGatewayV2HTTPRequestContextAuthorizerDescription) passport.Actor {
	switch {
	case a == nil:
	case a.JWT != nil && a.JWT.Claims["sub"] != "":
		return passport.Actor{Type: passport.ActorUser, ID: a.JWT.Claims["sub"]}
	case a.IAM != nil && a.IAM.UserARN != "":
		return passport.Actor{Type: passport.ActorIAM, ID: a.IAM.UserARN}
	case a.IAM != nil && a.IAM.CallerID != "":
		return passport.Actor{Type: passport.ActorIAM, ID: a.IAM.CallerID}
	}
	return passport.Actor{Type: passport.ActorAnonymous, ID: "anonymous"}
}

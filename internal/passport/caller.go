package passport

import "context"

// Actor is who made a change.
type Actor struct {
	Type string `json:"type"`
	ID   string `json:"id"`
}

// Actor types.
const (
	// ActorUser is a caller authenticated by a JWT; ID is its subject.
	ActorUser = "user"
	// ActorIAM is a SigV4-signed caller; ID is its IAM principal ARN.
	ActorIAM = "iam"
	// ActorAnonymous is a caller the gateway did not authenticate.
	ActorAnonymous = "anonymous"
	// ActorService is AWS itself, such as DynamoDB purging an expired item.
	ActorService = "service"
)

// ServiceDynamoDB is the actor of changes DynamoDB makes by itself (TTL).
var ServiceDynamoDB = Actor{Type: ActorService, ID: "dynamodb"}

// RequestInfo is where a change came from.
type RequestInfo struct {
	ID        string `json:"id,omitempty"`
	SourceIP  string `json:"sourceIp,omitempty"`
	UserAgent string `json:"userAgent,omitempty"`
}

// Caller is the actor and request behind a call. Writes record it on the
// item they write, so the stream image carries it into the audit entry.
type Caller struct {
	Actor   Actor
	Request RequestInfo
}

type callerKey struct{}

// NewContextWithCaller returns ctx carrying c.
func NewContextWithCaller(ctx context.Context, c Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// CallerFromContext returns the caller ctx carries, or an anonymous one.
func CallerFromContext(ctx context.Context) Caller {
	if c, ok := ctx.Value(callerKey{}).(Caller); ok {
		return c
	}
	return Caller{Actor: Actor{Type: ActorAnonymous, ID: "anonymous"}}
}

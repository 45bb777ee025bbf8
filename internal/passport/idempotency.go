package passport

import "context"

// Idempotency asks a create to happen at most once per key: the key's
// record, with the response it answered, is written in the same transaction
// as the change it guards.
type Idempotency struct {
	// Key identifies the request: the client's Idempotency-Key scoped to the
	// route and the caller (the HTTP layer hashes them together).
	Key string
	// RequestHash identifies the request's content: the same key with
	// another body is refused.
	RequestHash string
	// Render returns the response the request answers once it succeeded,
	// to be stored with the key; it must leave secrets out (a replay puts
	// back the token from the identical request).
	Render func(created any) (status int, body []byte)
	// Version returns the created resource's version, stored for the replay's
	// ETag.
	Version func(created any) int64
}

// Replayed is what a create returns for a key already used with the same
// request: the first response, to be answered again.
type Replayed struct {
	Status int
	Body   []byte
	// Version is the created resource's version when it answered (its ETag).
	Version int64
}

func (r *Replayed) Error() string { return "passport: idempotent replay" }

type idempotencyKey struct{}

// NewContextWithIdempotency returns ctx carrying i.
func NewContextWithIdempotency(ctx context.Context, i *Idempotency) context.Context {
	return context.WithValue(ctx, idempotencyKey{}, i)
}

// IdempotencyFromContext returns the Idempotency ctx carries, or nil.
func IdempotencyFromContext(ctx context.Context) *Idempotency {
	i, _ := ctx.Value(idempotencyKey{}).(*Idempotency)
	return i
}

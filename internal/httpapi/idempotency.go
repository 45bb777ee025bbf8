package httpapi

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/passport-oss/passport/internal/passport"
)

// maxIdempotencyKey bounds the Idempotency-Key header.
const maxIdempotencyKey = 255

// withIdempotency attaches the request's Idempotency-Key, if it sent one, to
// its context: the store records the key with the response in the same
// transaction as the change. The key is scoped to the route and the caller,
// so one caller's key never replays another's response. render gives the
// response to store; it must leave secrets out.
func withIdempotency(r *http.Request, route string, body []byte, render func(created any) (int, []byte), version func(created any) int64) (*http.Request, error) {
	key := r.Header.Get("Idempotency-Key")
	if key == "" {
		return r, nil
	}
	if len(key) > maxIdempotencyKey || strings.ContainsFunc(key, func(c rune) bool { return c < 0x21 || c > 0x7e }) {
		return r, &passport.Error{Code: passport.EINVALID, Message: "Request validation failed.",
			Details: []passport.FieldError{{Field: "Idempotency-Key", Message: "must be 1-255 printable ASCII characters"}}}
	}
	actor := passport.CallerFromContext(r.Context()).Actor
	i := &passport.Idempotency{
		Key:         digest(route, actor.Type, actor.ID, key),
		RequestHash: digest(string(body)),
		Render:      render,
		Version:     version,
	}
	return r.WithContext(passport.NewContextWithIdempotency(r.Context(), i)), nil
}

func digest(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(strconv.Itoa(len(p)) + ":" + p))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// renderData is the envelope a created resource answers with.
func renderData(status int, data any) (int, []byte) {
	b, _ := json.Marshal(successBody{Success: true, Data: data}) // our own types always marshal
	return status, b
}

// writeReplay answers a request whose Idempotency-Key was used before with
// the same request: the first response again.
func writeReplay(w http.ResponseWriter, replay *passport.Replayed, body []byte) {
	status := replay.Status
	h := w.Header()
	if replay.Version > 0 {
		h.Set("ETag", etag(replay.Version))
	}
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Idempotent-Replayed", "true")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

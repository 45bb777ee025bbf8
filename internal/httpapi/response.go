package httpapi

import (
	"encoding/json"
	"log/slog"
	"net/http"

	"github.com/passport-oss/passport/internal/passport"
)

// statusOf maps each error code to its HTTP status: the one place that does.
var statusOf = map[string]int{
	passport.EINVALID:      http.StatusBadRequest,
	passport.EINVALIDJSON:  http.StatusBadRequest,
	passport.EUNAUTHORIZED: http.StatusUnauthorized,
	passport.EFORBIDDEN:    http.StatusForbidden,
	passport.ENOTFOUND:     http.StatusNotFound,
	passport.EEXPIRED:      http.StatusGone,
	passport.EREVOKED:      http.StatusGone,
	passport.EPRECONDITION: http.StatusPreconditionFailed,
	passport.EIDEMPOTENCY:  http.StatusUnprocessableEntity,
	passport.EMETHOD:       http.StatusMethodNotAllowed,
	passport.ECONFLICT:     http.StatusConflict,
	passport.ETOOLARGE:     http.StatusRequestEntityTooLarge,
	passport.EMEDIATYPE:    http.StatusUnsupportedMediaType,
	passport.ERATELIMITED:  http.StatusTooManyRequests,
	passport.EINTERNAL:     http.StatusInternalServerError,
	passport.EUNAVAILABLE:  http.StatusServiceUnavailable,
}

// StatusOf returns the HTTP status of an error code (500 for an unknown one).
func StatusOf(code string) int {
	if s, ok := statusOf[code]; ok {
		return s
	}
	return http.StatusInternalServerError
}

type successBody struct {
	Success    bool   `json:"success"`
	Data       any    `json:"data"`
	NextCursor string `json:"nextCursor,omitempty"`
}

type errorBody struct {
	Success bool        `json:"success"`
	Error   errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string                `json:"code"`
	Message string                `json:"message"`
	Details []passport.FieldError `json:"details,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	b, err := json.Marshal(body)
	if err != nil { // only our own response types reach here; they always marshal
		status, b = http.StatusInternalServerError, []byte(`{"success":false,"error":{"code":"INTERNAL_ERROR","message":"Internal error."}}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func writeData(w http.ResponseWriter, status int, data any) {
	writeJSON(w, status, successBody{Success: true, Data: data})
}

func writeList(w http.ResponseWriter, data any, next string) {
	writeJSON(w, http.StatusOK, successBody{Success: true, Data: data, NextCursor: next})
}

// writeError answers err in the envelope. An internal error is logged with
// its cause and answered with a generic message: its text never leaves.
func writeError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	code := passport.ErrorCode(err)
	if code == passport.EINTERNAL {
		log.ErrorContext(r.Context(), "internal error", "method", r.Method, "path", r.URL.Path, "error", err.Error())
	}
	if code == passport.EUNAVAILABLE {
		w.Header().Set("Retry-After", "1")
	}
	writeJSON(w, StatusOf(code), errorBody{Error: errorDetail{
		Code:    code,
		Message: passport.ErrorMessage(err),
		Details: passport.ErrorDetails(err),
	}})
}

package passport

import (
	"errors"
	"fmt"
)

// Error codes. Each maps to exactly one HTTP status, in internal/httpapi.
const (
	EINVALID      = "VALIDATION_ERROR"
	EINVALIDJSON  = "INVALID_JSON"
	EUNAUTHORIZED = "UNAUTHORIZED"
	EFORBIDDEN    = "FORBIDDEN"
	ENOTFOUND     = "NOT_FOUND"
	EEXPIRED      = "AUTHORIZATION_EXPIRED"
	EREVOKED      = "AUTHORIZATION_REVOKED"
	EPRECONDITION = "PRECONDITION_FAILED"
	EIDEMPOTENCY  = "IDEMPOTENCY_KEY_REUSED"
	EMETHOD       = "METHOD_NOT_ALLOWED"
	ECONFLICT     = "CONFLICT"
	ETOOLARGE     = "PAYLOAD_TOO_LARGE"
	EMEDIATYPE    = "UNSUPPORTED_MEDIA_TYPE"
	ERATELIMITED  = "RATE_LIMITED"
	EINTERNAL     = "INTERNAL_ERROR"
	EUNAVAILABLE  = "SERVICE_UNAVAILABLE"
)

// FieldError names one invalid field of a request.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Error is Passport's one error type. Its Message is safe to show a caller;
// internal causes stay out of it and are only logged.
type Error struct {
	Code    string
	Message string
	Details []FieldError
}

func (e *Error) Error() string {
	return fmt.Sprintf("passport error: code=%s message=%s", e.Code, e.Message)
}

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of err's *Error, EINTERNAL for any other
// non-nil error, and "" for nil.
func ErrorCode(err error) string {
	var e *Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &e):
		return e.Code
	default:
		return EINTERNAL
	}
}

// ErrorMessage returns the caller-safe message of err's *Error, and a generic
// one for any other error, so internal text never reaches a response.
func ErrorMessage(err error) string {
	var e *Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &e):
		return e.Message
	default:
		return "Internal error."
	}
}

// ErrorDetails returns the field errors of err's *Error, if any.
func ErrorDetails(err error) []FieldError {
	var e *Error
	if errors.As(err, &e) {
		return e.Details
	}
	return nil
}

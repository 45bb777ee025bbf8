package kmsenvelope

import (
	"context"
	"errors"

	"github.com/aws/smithy-go"
)

// Sentinel error kinds. Every error returned by this package is an *Error
// whose Kind is one of these, so callers can branch with errors.Is:
//
//	switch {
//	case errors.Is(err, kmsenvelope.ErrUnavailable):       // 503, retry later
//	case errors.Is(err, kmsenvelope.ErrInvalidCiphertext): // stored blob is corrupt or belongs to another item
//	case errors.Is(err, kmsenvelope.ErrBadInput):          // programming/validation error on the caller's side
//	case errors.Is(err, kmsenvelope.ErrKMS):               // KMS refused (access denied, key disabled, ...): 500
//	}
var (
	// ErrBadInput: the caller passed something unusable (empty or invalid
	// encryption context, oversized plaintext, nil client, missing KeyID,
	// bad Options). Not retryable; nothing was sent to KMS.
	ErrBadInput = errors.New("kmsenvelope: bad input")

	// ErrInvalidCiphertext: the blob is malformed, truncated, of an unknown
	// version, was tampered with, or was sealed under a different encryption
	// context (for example copied from another item). KMS rejecting the
	// encrypted data key (InvalidCiphertextException, IncorrectKeyException)
	// is reported as this kind too. Not retryable.
	ErrInvalidCiphertext = errors.New("kmsenvelope: invalid ciphertext or encryption context mismatch")

	// ErrUnavailable: KMS could not be reached or asked us to back off
	// (network error, timeout, throttling, KMS internal error, key
	// temporarily unavailable, the caller's context ended). Retryable; an
	// HTTP API maps it to 503 SERVICE_UNAVAILABLE.
	ErrUnavailable = errors.New("kmsenvelope: KMS unavailable")

	// ErrKMS: KMS answered but refused the request for a reason that
	// retrying will not fix (AccessDeniedException, NotFoundException,
	// DisabledException, KMSInvalidStateException, InvalidKeyUsageException,
	// ...), or returned a response this package cannot use. Usually a
	// deployment/configuration problem; an HTTP API maps it to 500.
	ErrKMS = errors.New("kmsenvelope: KMS request failed")
)

// Error is the concrete type of every error this package returns.
//
// Its text names the operation, the kind, a fixed reason and, for KMS API
// errors, the AWS error code only (never the service's message). It never
// contains plaintext, data keys, or encryption-context values.
type Error struct {
	// Op is the operation: "new", "seal" or "open".
	Op string
	// Kind is one of ErrBadInput, ErrInvalidCiphertext, ErrUnavailable, ErrKMS.
	Kind error
	// Reason is a short fixed description, e.g. "blob truncated".
	Reason string
	// KMSOperation is "GenerateDataKey" or "Decrypt" when the error came from KMS.
	KMSOperation string
	// KMSCode is the AWS error code (e.g. "ThrottlingException") when KMS
	// returned an API error.
	KMSCode string
	// Err is the underlying cause, if any (for example the SDK error). It is
	// reachable through errors.Is/errors.As but not rendered when it is an
	// API error.
	Err error
}

// Error implements error.
func (e *Error) Error() string {
	s := "kmsenvelope: " + e.Op + ": " + kindText(e.Kind)
	if e.Reason != "" {
		s += ": " + e.Reason
	}
	if e.KMSOperation != "" {
		s += ": KMS " + e.KMSOperation
		if e.KMSCode != "" {
			s += ": " + e.KMSCode
		} else if e.Err != nil {
			// Transport-level errors (dial, timeout, EOF) carry no secrets.
			s += ": " + e.Err.Error()
		}
	}
	return s
}

// Unwrap exposes both the kind sentinel and the underlying cause.
func (e *Error) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Err}
}

// Retryable reports whether retrying the same call later may succeed
// (that is, whether Kind is ErrUnavailable).
func (e *Error) Retryable() bool { return e.Kind == ErrUnavailable }

// IsRetryable reports whether err (from this package) is worth retrying,
// i.e. errors.Is(err, ErrUnavailable).
func IsRetryable(err error) bool { return errors.Is(err, ErrUnavailable) }

func kindText(k error) string {
	switch k {
	case ErrBadInput:
		return "bad input"
	case ErrInvalidCiphertext:
		return "invalid ciphertext or encryption context mismatch"
	case ErrUnavailable:
		return "KMS unavailable"
	case ErrKMS:
		return "KMS request failed"
	}
	return "error"
}

func badInput(op, reason string) error {
	return &Error{Op: op, Kind: ErrBadInput, Reason: reason}
}

func invalidCiphertext(op, reason string) error {
	return &Error{Op: op, Kind: ErrInvalidCiphertext, Reason: reason}
}

// retryableCodes are AWS error codes after which a later retry may succeed.
var retryableCodes = map[string]bool{
	// KMS-specific.
	"KMSInternalException":       true,
	"DependencyTimeoutException": true,
	"KeyUnavailableException":    true,
	// Generic throttling / transient codes (aws-sdk-go-v2 retry defaults).
	"ThrottlingException":         true,
	"Throttling":                  true,
	"ThrottledException":          true,
	"RequestThrottledException":   true,
	"RequestThrottled":            true,
	"TooManyRequestsException":    true,
	"RequestLimitExceeded":        true,
	"LimitExceededException":      true,
	"SlowDown":                    true,
	"RequestTimeout":              true,
	"RequestTimeoutException":     true,
	"InternalFailure":             true,
	"InternalError":               true,
	"InternalServerError":         true,
	"ServiceUnavailable":          true,
	"ServiceUnavailableException": true,
}

// invalidCiphertextCodes are codes meaning "this encrypted data key does not
// open under this key and encryption context".
var invalidCiphertextCodes = map[string]bool{
	"InvalidCiphertextException": true,
	"IncorrectKeyException":      true,
}

// classifyKMSError turns an error from the KMS client into an *Error.
// kmsOp is "GenerateDataKey" or "Decrypt".
func classifyKMSError(op, kmsOp string, err error) error {
	e := &Error{Op: op, KMSOperation: kmsOp, Err: err}
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		code := apiErr.ErrorCode()
		e.KMSCode = code
		switch {
		case retryableCodes[code]:
			e.Kind = ErrUnavailable
		case kmsOp == "Decrypt" && invalidCiphertextCodes[code]:
			e.Kind = ErrInvalidCiphertext
		case httpStatus(err) >= 500 || httpStatus(err) == 429:
			e.Kind = ErrUnavailable
		default:
			e.Kind = ErrKMS
		}
		return e
	}
	// No API error: the request did not get a KMS answer (dial/TLS/timeout,
	// connection reset, retry quota exhausted, caller's context cancelled or
	// deadline exceeded, unparseable response). All of these are transient
	// from the caller's point of view.
	e.Kind = ErrUnavailable
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		e.Reason = "context ended"
	}
	return e
}

func httpStatus(err error) int {
	var rs interface{ HTTPStatusCode() int }
	if errors.As(err, &rs) {
		return rs.HTTPStatusCode()
	}
	return 0
}

package passport

import "log/slog"

// Secret is a string that must never be printed: fmt, %v, JSON and slog all
// see "[REDACTED]". Code that truly needs the value calls Reveal, which makes
// every such place easy to find.
type Secret string

const redacted = "[REDACTED]"

// Reveal returns the plaintext.
func (s Secret) Reveal() string { return string(s) }

// String implements fmt.Stringer.
func (s Secret) String() string { return redacted }

// GoString implements fmt.GoStringer, for %#v.
func (s Secret) GoString() string { return redacted }

// LogValue implements slog.LogValuer.
func (s Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalJSON keeps a Secret out of any JSON it is accidentally part of.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

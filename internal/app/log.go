package app

import (
	"io"
	"log/slog"
	"strings"
)

// secretKeys are attribute names whose values are never logged, whatever
// their type: a second line of defence behind passport.Secret.
var secretKeys = map[string]bool{"token": true, "accesstoken": true, "refreshtoken": true, "authorization": true, "tokenciphertext": true, "secret": true}

// NewLogger returns a JSON logger that redacts secret-named attributes.
func NewLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{
		Level: level,
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if secretKeys[strings.ToLower(a.Key)] {
				return slog.String(a.Key, "[REDACTED]")
			}
			return a
		},
	}))
}

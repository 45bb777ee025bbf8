package passport

import (
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strings"
	"unicode"
)

// Input limits. They keep every item far below DynamoDB's 400 KB and every
// condition expression below its 4 KB, whatever a caller sends.
const (
	MaxNameLen     = 64
	MaxScopes      = 50
	MaxScopeLen    = 256
	MaxIDLen       = 256
	MaxURILen      = 2048
	MaxTokenLen    = 16 * 1024
	MaxClientIDLen = 256
)

var namePattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// Validate checks a provider as registered. It returns an *Error with code
// EINVALID and one FieldError per invalid field, or nil.
func (p *Provider) Validate() error {
	var v validation
	switch {
	case p.Name == "":
		v.add("name", "is required")
	case !namePattern.MatchString(p.Name):
		v.add("name", fmt.Sprintf("must be 1-%d letters, digits, '.', '_' or '-'", MaxNameLen))
	}
	switch p.Type {
	case ProviderTypeOAuth2, ProviderTypeOIDC:
	case "":
		v.add("type", "is required")
	default:
		v.add("type", fmt.Sprintf("must be %q or %q", ProviderTypeOAuth2, ProviderTypeOIDC))
	}
	v.text("clientId", p.ClientID, MaxClientIDLen)
	v.scopes("scopes", p.Scopes)
	if msg := checkRedirectURI(p.RedirectURI); msg != "" {
		v.add("redirectUri", msg)
	}
	return v.err()
}

// Validate checks an authorization as submitted. Whether its provider exists
// and offers its scopes is for storage to check, in the same write.
func (a *Authorization) Validate() error {
	var v validation
	v.text("providerId", a.ProviderID, MaxIDLen)
	v.text("userId", a.UserID, MaxIDLen)
	v.scopes("scopes", a.Scopes)
	v.text("token", a.Token.Reveal(), MaxTokenLen)
	if a.ExpiresAt.IsZero() {
		v.add("expiresAt", "is required")
	}
	return v.err()
}

// validation collects field errors in the order the fields are checked.
type validation struct{ details []FieldError }

func (v *validation) add(field, msg string) {
	v.details = append(v.details, FieldError{Field: field, Message: msg})
}

func (v *validation) text(field, s string, max int) {
	switch {
	case strings.TrimSpace(s) == "":
		v.add(field, "is required")
	case len(s) > max:
		v.add(field, fmt.Sprintf("must be at most %d bytes", max))
	case strings.ContainsFunc(s, unicode.IsControl):
		v.add(field, "must not contain control characters")
	}
}

func (v *validation) scopes(field string, scopes []string) {
	if len(scopes) == 0 {
		v.add(field, "must be a non-empty list")
		return
	}
	if len(scopes) > MaxScopes {
		v.add(field, fmt.Sprintf("must have at most %d entries", MaxScopes))
		return
	}
	seen := make(map[string]bool, len(scopes))
	for i, s := range scopes {
		name := fmt.Sprintf("%s[%d]", field, i)
		switch {
		case s == "":
			v.add(name, "must be a non-empty string")
		case len(s) > MaxScopeLen:
			v.add(name, fmt.Sprintf("must be at most %d bytes", MaxScopeLen))
		case strings.ContainsFunc(s, isNotScopeChar):
			v.add(name, "must be printable ASCII without spaces, '\"' or '\\'")
		case seen[s]:
			v.add(name, fmt.Sprintf("duplicates scope %q", s))
		}
		seen[s] = true
	}
}

// isNotScopeChar reports a rune outside RFC 6749's scope-token alphabet.
func isNotScopeChar(r rune) bool {
	return r < 0x21 || r > 0x7e || r == '"' || r == '\\'
}

func (v *validation) err() error {
	if len(v.details) == 0 {
		return nil
	}
	return &Error{Code: EINVALID, Message: "Request validation failed.", Details: v.details}
}

// checkRedirectURI returns why uri is not an acceptable OAuth redirect URI,
// or "". OAuth requires an absolute URI without fragment; Passport also
// requires https, except for loopback hosts used in development.
func checkRedirectURI(uri string) string {
	if uri == "" {
		return "is required"
	}
	if len(uri) > MaxURILen {
		return fmt.Sprintf("must be at most %d bytes", MaxURILen)
	}
	u, err := url.Parse(uri)
	if err != nil || !u.IsAbs() || u.Host == "" || u.Opaque != "" {
		return "must be an absolute URL"
	}
	if u.Fragment != "" || strings.Contains(uri, "#") {
		return "must not contain a fragment"
	}
	if u.User != nil {
		return "must not contain credentials"
	}
	switch u.Scheme {
	case "https":
		return ""
	case "http":
		if isLoopback(u.Hostname()) {
			return ""
		}
		return "must use https (http is allowed only for localhost)"
	default:
		return "must use https"
	}
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

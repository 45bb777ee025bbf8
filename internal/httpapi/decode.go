package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/passport-oss/passport/internal/passport"
)

// MaxBodyBytes is the largest request body accepted.
const MaxBodyBytes = 64 << 10

// readJSONObject reads r's body as one JSON object whose keys are all in
// allowed, and returns its fields undecoded.
func readJSONObject(r *http.Request, allowed []string) (fields, error) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || (mt != "application/json" && !(r.Method == http.MethodPatch && mt == "application/merge-patch+json")) {
		return fields{}, passport.Errorf(passport.EMEDIATYPE, "Content-Type must be application/json.")
	}
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, MaxBodyBytes))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return fields{}, passport.Errorf(passport.ETOOLARGE, "Request body must be at most %d bytes.", MaxBodyBytes)
	case err != nil:
		return fields{}, passport.Errorf(passport.EINVALIDJSON, "Request body could not be read.")
	case len(bytes.TrimSpace(body)) == 0:
		return fields{}, passport.Errorf(passport.EINVALIDJSON, "Request body is empty; a JSON object is required.")
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			return fields{}, passport.Errorf(passport.EINVALIDJSON, "Request body must be a JSON object.")
		}
		return fields{}, passport.Errorf(passport.EINVALIDJSON, "Request body is not valid JSON: %s.", jsonErrorText(err))
	}
	if raw == nil {
		return fields{}, passport.Errorf(passport.EINVALIDJSON, "Request body must be a JSON object.")
	}
	f := fields{raw: raw, body: body}
	var unknown []string
	for k := range raw {
		if !slices.Contains(allowed, k) {
			unknown = append(unknown, k)
		}
	}
	slices.Sort(unknown)
	for _, k := range unknown {
		f.fail(k, "is not a known field")
	}
	return f, nil
}

// jsonErrorText describes a JSON syntax error without echoing the input.
func jsonErrorText(err error) string {
	var syntax *json.SyntaxError
	if errors.As(err, &syntax) {
		return fmt.Sprintf("syntax error at byte %d", syntax.Offset)
	}
	return "malformed JSON"
}

// fields decodes a request object one field at a time, collecting every type
// error, so a caller learns of all its mistakes at once.
type fields struct {
	raw     map[string]json.RawMessage
	body    []byte // the request body as sent
	details []passport.FieldError
}

func (f *fields) fail(field, msg string) {
	f.details = append(f.details, passport.FieldError{Field: field, Message: msg})
}

// present reports whether name was sent with a non-null value.
func (f *fields) present(name string) bool {
	v, ok := f.raw[name]
	return ok && string(v) != "null"
}

func (f *fields) string(name string) string {
	var s string
	if f.present(name) && json.Unmarshal(f.raw[name], &s) != nil {
		f.fail(name, "must be a string")
	}
	return s
}

func (f *fields) strings(name string) []string {
	var s []string
	if f.present(name) && json.Unmarshal(f.raw[name], &s) != nil {
		f.fail(name, "must be a list of strings")
	}
	return s
}

// time decodes an RFC 3339 timestamp.
func (f *fields) time(name string) time.Time {
	s := f.string(name)
	if s == "" {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		f.fail(name, "must be an RFC 3339 timestamp, such as 2026-06-05T12:00:00.000Z")
	}
	return t
}

// err returns the collected field errors, or nil.
func (f *fields) err() error {
	if len(f.details) == 0 {
		return nil
	}
	return &passport.Error{Code: passport.EINVALID, Message: "Request validation failed.", Details: f.details}
}

// readPage reads the paging parameters limit and cursor, rejecting any query
// parameter not in allowed (which need not list them).
func readPage(q url.Values, allowed ...string) (passport.Page, error) {
	var f fields
	for k := range q {
		if k != "limit" && k != "cursor" && !slices.Contains(allowed, k) {
			f.fail(k, "is not a known query parameter")
		}
	}
	page := passport.Page{Cursor: q.Get("cursor")}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > passport.MaxPageLimit {
			f.fail("limit", fmt.Sprintf("must be a whole number from 1 to %d", passport.MaxPageLimit))
		}
		page.Limit = n
	}
	slices.SortFunc(f.details, func(a, b passport.FieldError) int { return strings.Compare(a.Field, b.Field) })
	return page, f.err()
}

// readAuditQuery reads the audit trail's filter and paging parameters.
func readAuditQuery(q url.Values) (passport.AuditFilter, passport.Page, error) {
	page, err := readPage(q, "providerId", "userId", "action", "since", "until")
	var f fields
	if err != nil {
		f.details = passport.ErrorDetails(err)
	}
	filter := passport.AuditFilter{ProviderID: q.Get("providerId"), UserID: q.Get("userId"), Action: q.Get("action")}
	for _, name := range []string{"providerId", "userId"} {
		if v := q.Get(name); len(v) > passport.MaxIDLen || (q.Has(name) && v == "") {
			f.fail(name, fmt.Sprintf("must be 1-%d bytes", passport.MaxIDLen))
		}
	}
	if filter.Action != "" && !slices.Contains(passport.AuditActions, filter.Action) {
		f.fail("action", "must be one of "+strings.Join(passport.AuditActions, ", "))
	}
	filter.Since = queryTime(&f, q, "since")
	filter.Until = queryTime(&f, q, "until")
	if !filter.Since.IsZero() && !filter.Until.IsZero() && filter.Until.Before(filter.Since) {
		f.fail("until", "must not be before since")
	}
	return filter, page, f.err()
}

func queryTime(f *fields, q url.Values, name string) time.Time {
	s := q.Get(name)
	if s == "" {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		f.fail(name, "must be an RFC 3339 timestamp, such as 2026-03-05T12:00:00Z")
	}
	return t
}

// optionalString decodes name when sent, nil otherwise.
func (f *fields) optionalString(name string) *string {
	if !f.present(name) {
		return nil
	}
	s := f.string(name)
	return &s
}

// ifMatch reads the If-Match header: the version it names, 0 for none or
// "*". A tag that names no version of ours can match nothing: -1.
func ifMatch(r *http.Request) int64 {
	v := strings.TrimSpace(r.Header.Get("If-Match"))
	if v == "" || v == "*" {
		return 0
	}
	v = strings.TrimPrefix(v, "W/")
	if n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimPrefix(v, `"v`), `"`), 10, 64); err == nil && n > 0 && strings.HasPrefix(v, `"v`) {
		return n
	}
	return -1
}

// readBool reads a query flag: absent or "false" is false, "true" true.
func readBool(q url.Values, name string, f *fields) bool {
	switch q.Get(name) {
	case "", "false":
		return false
	case "true":
		return true
	}
	f.fail(name, "must be true or false")
	return false
}

// readAuthorizationQuery reads the authorization list's filter and paging.
func readAuthorizationQuery(q url.Values) (passport.AuthorizationFilter, passport.Page, error) {
	page, err := readPage(q, "userId", "providerId", "status")
	var f fields
	if err != nil {
		f.details = passport.ErrorDetails(err)
	}
	filter := passport.AuthorizationFilter{UserID: q.Get("userId"), ProviderID: q.Get("providerId"), Status: q.Get("status")}
	if filter.UserID == "" && filter.ProviderID == "" {
		f.fail("userId", "userId or providerId is required")
	}
	switch filter.Status {
	case "", passport.StatusActive, passport.StatusExpired, passport.StatusRevoked:
	default:
		f.fail("status", "must be active, expired or revoked")
	}
	return filter, page, f.err()
}

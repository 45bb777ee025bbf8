package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/passport-oss/passport/internal/passport"
)

// providerFields are the fields of a registration, as the reference names them.
var providerFields = []string{"name", "type", "clientId", "scopes", "redirectUri"}

type providerJSON struct {
	ID          string   `json:"id"`
	Name        string   `json:"name"`
	Type        string   `json:"type"`
	ClientID    string   `json:"clientId"`
	Scopes      []string `json:"scopes"`
	RedirectURI string   `json:"redirectUri"`
	CreatedAt   string   `json:"createdAt"`
}

func toProviderJSON(p *passport.Provider) providerJSON {
	return providerJSON{
		ID: p.ID, Name: p.Name, Type: p.Type, ClientID: p.ClientID, Scopes: p.Scopes,
		RedirectURI: p.RedirectURI, CreatedAt: passport.FormatTime(p.CreatedAt),
	}
}

// registerProvider serves POST /api/v1/passport/providers.
func (s *Server) registerProvider(w http.ResponseWriter, r *http.Request) {
	f, err := readJSONObject(r, providerFields)
	if err != nil {
		writeError(w, r, s.logger(), err)
		return
	}
	p := &passport.Provider{
		Name:        f.string("name"),
		Type:        f.string("type"),
		ClientID:    f.string("clientId"),
		Scopes:      f.strings("scopes"),
		RedirectURI: f.string("redirectUri"),
	}
	if err := f.err(); err != nil {
		writeError(w, r, s.logger(), err)
		return
	}
	r, err = withIdempotency(r, "POST providers", f.body, func(created any) (int, []byte) {
		return renderData(http.StatusCreated, toProviderJSON(created.(*passport.Provider)))
	}, func(created any) int64 { return created.(*passport.Provider).Version })
	if err != nil {
		writeError(w, r, s.logger(), err)
		return
	}
	var replay *passport.Replayed
	switch err := s.Providers.CreateProvider(r.Context(), p); {
	case errors.As(err, &replay):
		writeReplay(w, replay, replay.Body)
	case err != nil:
		writeError(w, r, s.logger(), err)
	default:
		w.Header().Set("ETag", etag(p.Version))
		writeData(w, http.StatusCreated, toProviderJSON(p))
	}
}

// listProviders serves GET /api/v1/passport/providers.
func (s *Server) listProviders(w http.ResponseWriter, r *http.Request) {
	page, err := readPage(r.URL.Query())
	if err != nil {
		writeError(w, r, s.logger(), err)
		return
	}
	list, next, err := s.Providers.ListProviders(r.Context(), page)
	if err != nil {
		writeError(w, r, s.logger(), err)
		return
	}
	data := make([]providerJSON, len(list))
	for i, p := range list {
		data[i] = toProviderJSON(p)
	}
	writeList(w, data, next)
}

var authorizationFields = []string{"providerId", "userId", "scopes", "token", "expiresAt", "accountLabel"}

// createdAuthorizationJSON is the create response: the reference's fields
// and status. It is the only place besides the token read that returns a
// token.
type createdAuthorizationJSON struct {
	ID           string   `json:"id"`
	ProviderID   string   `json:"providerId"`
	UserID       string   `json:"userId"`
	AccountLabel string   `json:"accountLabel,omitempty"`
	Scopes       []string `json:"scopes"`
	Token        string   `json:"token"`
	ExpiresAt    string   `json:"expiresAt"`
	CreatedAt    string   `json:"createdAt"`
	Status       string   `json:"status"`
}

func (s *Server) toCreatedAuthorizationJSON(a *passport.Authorization, token string) createdAuthorizationJSON {
	return createdAuthorizationJSON{
		ID: a.ID, ProviderID: a.ProviderID, UserID: a.UserID, AccountLabel: a.AccountLabel, Scopes: a.Scopes,
		Token:     token,
		ExpiresAt: passport.FormatTime(a.ExpiresAt), CreatedAt: passport.FormatTime(a.CreatedAt),
		Status: a.Status(s.now()),
	}
}

// createStatus is 201 for a new grant, 200 for one replaced in place.
func createStatus(a *passport.Authorization) int {
	if a.Replaced {
		return http.StatusOK
	}
	return http.StatusCreated
}

// createAuthorization serves POST /api/v1/passport/authorizations: a new
// grant (201), or a reconnect that replaces the active grant of the same
// provider, user and account label in place (200, same id).
func (s *Server) createAuthorization(w http.ResponseWriter, r *http.Request) {
	f, err := readJSONObject(r, authorizationFields)
	if err != nil {
		writeError(w, r, s.logger(), err)
		return
	}
	a := &passport.Authorization{
		ProviderID:   f.string("providerId"),
		UserID:       f.string("userId"),
		AccountLabel: f.string("accountLabel"),
		Scopes:       f.strings("scopes"),
		Token:        passport.Secret(f.string("token")),
		ExpiresAt:    f.time("expiresAt"),
	}
	if err := f.err(); err != nil {
		writeError(w, r, s.logger(), err)
		return
	}
	// The stored response leaves the token out; a replay, whose request is
	// byte for byte the same, puts this request's token back.
	r, err = withIdempotency(r, "POST authorizations", f.body, func(created any) (int, []byte) {
		c := created.(*passport.Authorization)
		return renderData(createStatus(c), s.toCreatedAuthorizationJSON(c, ""))
	}, func(created any) int64 { return created.(*passport.Authorization).Version })
	if err != nil {
		writeError(w, r, s.logger(), err)
		return
	}
	var replay *passport.Replayed
	switch err := s.Authorizations.CreateAuthorization(r.Context(), a); {
	case errors.As(err, &replay):
		var env struct {
			Success bool                     `json:"success"`
			Data    createdAuthorizationJSON `json:"data"`
		}
		if json.Unmarshal(replay.Body, &env) != nil {
			writeError(w, r, s.logger(), fmt.Errorf("httpapi: stored idempotent response is not an authorization"))
			return
		}
		env.Data.Token = a.Token.Reveal()
		_, body := renderData(replay.Status, env.Data)
		writeReplay(w, replay, body)
	case err != nil:
		writeError(w, r, s.logger(), err)
	default:
		w.Header().Set("ETag", etag(a.Version))
		writeData(w, createStatus(a), s.toCreatedAuthorizationJSON(a, a.Token.Reveal()))
	}
}

type auditEntryJSON struct {
	ID              string                `json:"id"`
	Action          string                `json:"action"`
	AuthorizationID string                `json:"authorizationId,omitempty"`
	ProviderID      string                `json:"providerId,omitempty"`
	UserID          string                `json:"userId,omitempty"`
	Timestamp       string                `json:"timestamp"`
	Actor           *passport.Actor       `json:"actor,omitempty"`
	Request         *passport.RequestInfo `json:"request,omitempty"`
}

func toAuditEntryJSON(e *passport.AuditEntry) auditEntryJSON {
	out := auditEntryJSON{ID: e.ID, Action: e.Action, AuthorizationID: e.AuthorizationID, ProviderID: e.ProviderID,
		UserID: e.UserID, Timestamp: passport.FormatTime(e.Timestamp)}
	if e.Actor != (passport.Actor{}) {
		out.Actor = &e.Actor
	}
	if e.Request != (passport.RequestInfo{}) {
		out.Request = &e.Request
	}
	return out
}

// listAudit serves GET /api/v1/passport/audit.
func (s *Server) listAudit(w http.ResponseWriter, r *http.Request) {
	filter, page, err := readAuditQuery(r.URL.Query())
	if err != nil {
		writeError(w, r, s.logger(), err)
		return
	}
	list, next, err := s.Audit.ListAuditEntries(r.Context(), filter, page)
	if err != nil {
		writeError(w, r, s.logger(), err)
		return
	}
	data := make([]auditEntryJSON, len(list))
	for i, e := range list {
		data[i] = toAuditEntryJSON(e)
	}
	writeList(w, data, next)
}

// tokenJSON is the token read's answer: the one place besides the create
// response where a token is returned.
type tokenJSON struct {
	Token     string   `json:"token"`
	ExpiresAt string   `json:"expiresAt"`
	Scopes    []string `json:"scopes"`
	Status    string   `json:"status"`
}

// readToken serves GET /api/v1/passport/authorizations/{id}/token.
func (s *Server) readToken(w http.ResponseWriter, r *http.Request) {
	// The answer holds a secret: no cache along the way may keep it, error
	// answers included.
	w.Header().Set("Cache-Control", "no-store")
	a, err := s.Authorizations.ReadToken(r.Context(), r.PathValue("id"))
	if err != nil {
		writeError(w, r, s.logger(), err)
		return
	}
	writeData(w, http.StatusOK, tokenJSON{
		Token: a.Token.Reveal(), ExpiresAt: passport.FormatTime(a.ExpiresAt), Scopes: a.Scopes, Status: a.Status(s.now()),
	})
}

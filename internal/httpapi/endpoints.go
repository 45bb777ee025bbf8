package httpapi

import (
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
	if err := s.Providers.CreateProvider(r.Context(), p); err != nil {
		writeError(w, r, s.logger(), err)
		return
	}
	writeData(w, http.StatusCreated, toProviderJSON(p))
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

var authorizationFields = []string{"providerId", "userId", "scopes", "token", "expiresAt"}

// createdAuthorizationJSON is the create response: the only place besides an
// explicit token read where a token is returned.
type createdAuthorizationJSON struct {
	ID         string   `json:"id"`
	ProviderID string   `json:"providerId"`
	UserID     string   `json:"userId"`
	Scopes     []string `json:"scopes"`
	Token      string   `json:"token"`
	ExpiresAt  string   `json:"expiresAt"`
	CreatedAt  string   `json:"createdAt"`
	Status     string   `json:"status"`
}

// createAuthorization serves POST /api/v1/passport/authorizations.
func (s *Server) createAuthorization(w http.ResponseWriter, r *http.Request) {
	f, err := readJSONObject(r, authorizationFields)
	if err != nil {
		writeError(w, r, s.logger(), err)
		return
	}
	a := &passport.Authorization{
		ProviderID: f.string("providerId"),
		UserID:     f.string("userId"),
		Scopes:     f.strings("scopes"),
		Token:      passport.Secret(f.string("token")),
		ExpiresAt:  f.time("expiresAt"),
	}
	if err := f.err(); err != nil {
		writeError(w, r, s.logger(), err)
		return
	}
	if err := s.Authorizations.CreateAuthorization(r.Context(), a); err != nil {
		writeError(w, r, s.logger(), err)
		return
	}
	writeData(w, http.StatusCreated, createdAuthorizationJSON{
		ID: a.ID, ProviderID: a.ProviderID, UserID: a.UserID, Scopes: a.Scopes,
		Token:     a.Token.Reveal(),
		ExpiresAt: passport.FormatTime(a.ExpiresAt), CreatedAt: passport.FormatTime(a.CreatedAt),
		Status: a.Status(s.now()),
	})
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

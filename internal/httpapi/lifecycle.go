package httpapi

import (
	"net/http"
	"strconv"

	"github.com/passport-oss/passport/internal/passport"
)

// etag renders a version as the strong entity tag a response carries and
// If-Match names.
func etag(version int64) string { return `"v` + strconv.FormatInt(version, 10) + `"` }

// preconditionOf reads If-Match; a tag naming no version of ours fails at
// once, as no version can match it.
func preconditionOf(r *http.Request) (int64, error) {
	v := ifMatch(r)
	if v < 0 {
		return 0, passport.Errorf(passport.EPRECONDITION, "If-Match names no version of this resource.")
	}
	return v, nil
}

// getProvider serves GET /api/v1/passport/providers/{id}.
func (s *Server) getProvider(w http.ResponseWriter, r *http.Request) {
	p, err := s.Providers.FindProvider(r.Context(), r.PathValue("id"))
	if err != nil {
		writeError(w, r, s.logger(), err)
		return
	}
	w.Header().Set("ETag", etag(p.Version))
	writeData(w, http.StatusOK, toProviderJSON(p))
}

var providerUpdateFields = []string{"name", "clientId", "scopes", "redirectUri"}

// updateProvider serves PATCH /api/v1/passport/providers/{id}.
func (s *Server) updateProvider(w http.ResponseWriter, r *http.Request) {
	version, err := preconditionOf(r)
	if err != nil {
		writeError(w, r, s.logger(), err)
		return
	}
	f, err := readJSONObject(r, providerUpdateFields)
	if err != nil {
		writeError(w, r, s.logger(), err)
		return
	}
	upd := passport.ProviderUpdate{
		Name:        f.optionalString("name"),
		ClientID:    f.optionalString("clientId"),
		RedirectURI: f.optionalString("redirectUri"),
	}
	if f.present("scopes") {
		upd.Scopes = f.strings("scopes")
		if upd.Scopes == nil {
			upd.Scopes = []string{} // sent empty: validation names it
		}
	}
	if err := f.err(); err != nil {
		writeError(w, r, s.logger(), err)
		return
	}
	p, err := s.Providers.UpdateProvider(r.Context(), r.PathValue("id"), upd, version)
	if err != nil {
		writeError(w, r, s.logger(), err)
		return
	}
	w.Header().Set("ETag", etag(p.Version))
	writeData(w, http.StatusOK, toProviderJSON(p))
}

type deletedProviderJSON struct {
	ID                    string `json:"id"`
	Deleted               bool   `json:"deleted"`
	RevokedAuthorizations int    `json:"revokedAuthorizations"`
}

// deleteProvider serves DELETE /api/v1/passport/providers/{id}[?cascade=true].
func (s *Server) deleteProvider(w http.ResponseWriter, r *http.Request) {
	var f fields
	q := r.URL.Query()
	for k := range q {
		if k != "cascade" {
			f.fail(k, "is not a known query parameter")
		}
	}
	cascade := readBool(q, "cascade", &f)
	if err := f.err(); err != nil {
		writeError(w, r, s.logger(), err)
		return
	}
	version, err := preconditionOf(r)
	if err != nil {
		writeError(w, r, s.logger(), err)
		return
	}
	id := r.PathValue("id")
	revoked, err := s.Providers.DeleteProvider(r.Context(), id, cascade, version)
	if err != nil {
		writeError(w, r, s.logger(), err)
		return
	}
	writeData(w, http.StatusOK, deletedProviderJSON{ID: id, Deleted: true, RevokedAuthorizations: revoked})
}

// authorizationJSON is an authorization as every read shows it: never with
// its token.
type authorizationJSON struct {
	ID           string   `json:"id"`
	ProviderID   string   `json:"providerId"`
	UserID       string   `json:"userId"`
	AccountLabel string   `json:"accountLabel,omitempty"`
	Scopes       []string `json:"scopes"`
	ExpiresAt    string   `json:"expiresAt"`
	CreatedAt    string   `json:"createdAt"`
	UpdatedAt    string   `json:"updatedAt"`
	Status       string   `json:"status"`
	RevokedAt    string   `json:"revokedAt,omitempty"`
}

func (s *Server) toAuthorizationJSON(a *passport.Authorization) authorizationJSON {
	out := authorizationJSON{
		ID: a.ID, ProviderID: a.ProviderID, UserID: a.UserID, AccountLabel: a.AccountLabel, Scopes: a.Scopes,
		ExpiresAt: passport.FormatTime(a.ExpiresAt), CreatedAt: passport.FormatTime(a.CreatedAt),
		UpdatedAt: passport.FormatTime(a.UpdatedAt), Status: a.Status(s.now()),
	}
	if !a.RevokedAt.IsZero() {
		out.RevokedAt = passport.FormatTime(a.RevokedAt)
	}
	return out
}

// listAuthorizations serves GET /api/v1/passport/authorizations.
func (s *Server) listAuthorizations(w http.ResponseWriter, r *http.Request) {
	filter, page, err := readAuthorizationQuery(r.URL.Query())
	if err != nil {
		writeError(w, r, s.logger(), err)
		return
	}
	list, next, err := s.Authorizations.ListAuthorizations(r.Context(), filter, page)
	if err != nil {
		writeError(w, r, s.logger(), err)
		return
	}
	data := make([]authorizationJSON, len(list))
	for i, a := range list {
		data[i] = s.toAuthorizationJSON(a)
	}
	writeList(w, data, next)
}

// getAuthorization serves GET /api/v1/passport/authorizations/{id}.
func (s *Server) getAuthorization(w http.ResponseWriter, r *http.Request) {
	a, err := s.Authorizations.FindAuthorization(r.Context(), r.PathValue("id"))
	if err != nil {
		writeError(w, r, s.logger(), err)
		return
	}
	w.Header().Set("ETag", etag(a.Version))
	writeData(w, http.StatusOK, s.toAuthorizationJSON(a))
}

// revokeAuthorization serves DELETE /api/v1/passport/authorizations/{id}.
func (s *Server) revokeAuthorization(w http.ResponseWriter, r *http.Request) {
	version, err := preconditionOf(r)
	if err != nil {
		writeError(w, r, s.logger(), err)
		return
	}
	a, err := s.Authorizations.RevokeAuthorization(r.Context(), r.PathValue("id"), version)
	if err != nil {
		writeError(w, r, s.logger(), err)
		return
	}
	w.Header().Set("ETag", etag(a.Version))
	writeData(w, http.StatusOK, s.toAuthorizationJSON(a))
}

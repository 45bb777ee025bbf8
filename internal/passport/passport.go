// Package passport holds Passport's domain: the provider registry, the token
// vault's authorizations and the audit trail, the one error type every layer
// speaks, and the service interfaces that storage adapters implement.
//
// It imports nothing from AWS: adapters live in their own packages
// (internal/dynamo for storage, internal/httpapi for HTTP, internal/audit for
// the stream consumer), and internal/app wires them together.
package passport

import (
	"context"
	"time"
)

// TimeLayout is the wire format of every timestamp: UTC with milliseconds,
// as in 2026-03-05T12:00:00.000Z.
const TimeLayout = "2006-01-02T15:04:05.000Z"

// FormatTime renders t in TimeLayout, in UTC.
func FormatTime(t time.Time) string { return t.UTC().Format(TimeLayout) }

// Provider is a registered OAuth provider.
type Provider struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	Type        string    `json:"type"`
	ClientID    string    `json:"clientId"`
	Scopes      []string  `json:"scopes"`
	RedirectURI string    `json:"redirectUri"`
	CreatedAt   time.Time `json:"-"`
	// Version counts the provider's changes, from 1; it is its ETag.
	Version int64 `json:"-"`
}

// ProviderUpdate is a partial update of a provider: nil fields stay.
type ProviderUpdate struct {
	Name        *string
	ClientID    *string
	Scopes      []string // nil: unchanged
	RedirectURI *string
}

// Provider types accepted at registration.
const (
	ProviderTypeOAuth2 = "oauth2"
	ProviderTypeOIDC   = "oidc"
)

// Authorization is one user's grant at one provider: the scopes granted and
// the access token that proves it.
type Authorization struct {
	ID         string
	ProviderID string
	UserID     string
	// AccountLabel tells apart a user's accounts at one provider: there is
	// one active grant per provider, user and label ("" by default).
	AccountLabel string
	Scopes       []string
	// Token is the plaintext access token. It is set only on the way in, in
	// the create response and in a token read; storage keeps it sealed.
	Token     Secret
	ExpiresAt time.Time
	CreatedAt time.Time
	UpdatedAt time.Time
	// RevokedAt is when the grant was revoked (its token erased), or zero.
	RevokedAt time.Time
	// Version counts the grant's changes, from 1; it is its ETag.
	Version int64
	// Replaced is set by CreateAuthorization when the grant replaced an
	// active one in place (same id) instead of creating a new one.
	Replaced bool
}

// Authorization statuses, derived at read time.
const (
	StatusActive  = "active"
	StatusExpired = "expired"
	StatusRevoked = "revoked"
)

// Status reports whether the grant is still usable at now.
func (a *Authorization) Status(now time.Time) string {
	switch {
	case !a.RevokedAt.IsZero():
		return StatusRevoked
	case !now.Before(a.ExpiresAt):
		return StatusExpired
	}
	return StatusActive
}

// AuthorizationFilter selects authorizations: by user, by provider or both
// (at least one), and optionally by status.
type AuthorizationFilter struct {
	UserID     string
	ProviderID string
	Status     string
}

// Audit actions, named in one place. The audit function derives them from
// stream records; later lifecycle changes add to this list.
const (
	ActionProviderCreated      = "provider.created"
	ActionProviderUpdated      = "provider.updated"
	ActionProviderDeleted      = "provider.deleted"
	ActionAuthorizationCreated = "authorization.created"
	ActionAuthorizationUpdated = "authorization.updated"
	ActionAuthorizationRevoked = "authorization.revoked"
	// ActionAuthorizationDeleted is an authorization item deleted outside
	// Passport's API (Passport itself revokes, and DynamoDB expires).
	ActionAuthorizationDeleted = "authorization.deleted"
	ActionAuthorizationExpired = "authorization.expired"
	ActionTokenRead            = "authorization.token_read"
)

// AuditActions lists every action, for validating filters.
var AuditActions = []string{
	ActionProviderCreated, ActionProviderUpdated, ActionProviderDeleted,
	ActionAuthorizationCreated, ActionAuthorizationUpdated, ActionAuthorizationRevoked, ActionAuthorizationDeleted,
	ActionAuthorizationExpired, ActionTokenRead,
}

// AuditEntry is one line of the audit trail: who did what to which provider
// or grant, and when. It never holds a token or any other secret.
type AuditEntry struct {
	ID     string
	Action string
	// AuthorizationID names the grant an authorization.* entry is about.
	AuthorizationID string
	ProviderID      string
	UserID          string
	Timestamp       time.Time
	Actor           Actor
	Request         RequestInfo
}

// AuditFilter selects audit entries. Every field is optional.
type AuditFilter struct {
	ProviderID string
	UserID     string
	Action     string
	// Since and Until bound the entries' time, both inclusive.
	Since, Until time.Time
}

// Page asks for one page of a list.
type Page struct {
	// Limit is the most items to return; 0 means DefaultPageLimit.
	Limit int
	// Cursor is the opaque NextCursor of the previous page, or empty.
	Cursor string
}

// Page limits shared by every list.
const (
	DefaultPageLimit = 50
	MaxPageLimit     = 200
)

// ProviderService is the provider registry.
type ProviderService interface {
	// CreateProvider registers p, assigning its ID and CreatedAt.
	// Returns EINVALID when p fails validation and ECONFLICT when another
	// provider already has the same name, ignoring case.
	CreateProvider(ctx context.Context, p *Provider) error

	// ListProviders returns providers in creation order, oldest first, and the
	// cursor of the next page ("" on the last page).
	// Returns EINVALID for a malformed cursor.
	ListProviders(ctx context.Context, page Page) ([]*Provider, string, error)

	// FindProvider returns the provider with id.
	// Returns ENOTFOUND if there is none (or it was deleted).
	FindProvider(ctx context.Context, id string) (*Provider, error)

	// UpdateProvider applies upd to the provider with id, if its version is
	// ifVersion (0: any), and returns it updated. Existing grants keep their
	// scopes when the provider's narrow; new grants must fit the new ones.
	// Returns ENOTFOUND, EINVALID for an invalid field or an empty update,
	// ECONFLICT for a name another provider has, EPRECONDITION for a stale
	// version.
	UpdateProvider(ctx context.Context, id string, upd ProviderUpdate, ifVersion int64) (*Provider, error)

	// DeleteProvider deletes the provider with id, if its version is
	// ifVersion (0: any). While it has grants that are not revoked it
	// refuses, unless cascade, which revokes them first; it returns how many
	// it revoked.
	// Returns ENOTFOUND, ECONFLICT (grants remain), EPRECONDITION.
	DeleteProvider(ctx context.Context, id string, cascade bool, ifVersion int64) (int, error)
}

// AuthorizationService is the token vault.
type AuthorizationService interface {
	// CreateAuthorization stores a, assigning its ID, CreatedAt and Version.
	// Its scopes must all be scopes of its provider. When the provider, user
	// and account label already have an active grant, that grant's scopes,
	// token and expiry are replaced in place: a keeps its ID and
	// a.Replaced is set. Racing requests for one pair land one after
	// another on the one grant.
	// Returns EINVALID when a fails validation or asks for scopes the provider
	// does not offer, ENOTFOUND when the provider does not exist, and
	// EUNAVAILABLE when the storage, the key service or the pair's grant is
	// too busy (retry).
	CreateAuthorization(ctx context.Context, a *Authorization) error

	// FindAuthorization returns the authorization with id, without its token.
	// Returns ENOTFOUND.
	FindAuthorization(ctx context.Context, id string) (*Authorization, error)

	// ListAuthorizations returns the authorizations matching f, without
	// tokens, in creation order, and the next page's cursor.
	// Returns EINVALID for a filter without user or provider, an unknown
	// status, or a malformed cursor.
	ListAuthorizations(ctx context.Context, f AuthorizationFilter, page Page) ([]*Authorization, string, error)

	// RevokeAuthorization erases the grant's token and marks it revoked, if
	// its version is ifVersion (0: any); the record stays until its
	// retention ends. Revoking a revoked grant changes nothing.
	// Returns ENOTFOUND, EPRECONDITION (ifVersion is not the grant's
	// version, or it changed meanwhile), EUNAVAILABLE (busy: retry).
	RevokeAuthorization(ctx context.Context, id string, ifVersion int64) (*Authorization, error)

	// ReadToken returns the authorization with id and its plaintext token.
	// It records the read for the audit trail first: a read that cannot be
	// audited returns no token.
	// Returns ENOTFOUND for an unknown id, EEXPIRED for an expired grant,
	// EREVOKED for a revoked one, and
	// EUNAVAILABLE when the key service or the table is unreachable.
	ReadToken(ctx context.Context, id string) (*Authorization, error)
}

// AuditService reads the audit trail.
type AuditService interface {
	// ListAuditEntries returns the entries that match filter, newest first,
	// and the cursor of the next page ("" on the last page). A page may hold
	// fewer than page.Limit entries while more follow.
	// Returns EINVALID for a malformed cursor or one made for another filter.
	ListAuditEntries(ctx context.Context, filter AuditFilter, page Page) ([]*AuditEntry, string, error)
}

package dynamo

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/passport-oss/passport/internal/passport"
)

// TokenContext is the encryption context a token is sealed under: the
// authorization's identity, so a ciphertext copied onto another item does
// not open.
func TokenContext(a *passport.Authorization) map[string]string {
	return map[string]string{
		"authorizationId": a.ID,
		"providerId":      a.ProviderID,
		"userId":          a.UserID,
	}
}

// grantPK keys the one active grant of a provider, user and account label.
// The parts are length-prefixed, so no choice of ids makes two keys equal.
func grantPK(providerID, userID, label string) string {
	var b strings.Builder
	b.WriteString(GrantPrefix)
	for _, part := range []string{providerID, userID, label} {
		b.WriteString(strconv.Itoa(len(part)))
		b.WriteByte(':')
		b.WriteString(part)
		b.WriteByte('#')
	}
	return b.String()
}

// grantAttempts bounds how often CreateAuthorization (and a revoke) goes
// round when the pair's active grant changes under it (another reconnect, a
// revoke). Rounds are optimistic: with n writers on one pair, each round
// lands one, so the work grows as n². Rounds pause (jittered, growing) and
// the request's deadline bounds the whole: under heavy contention on one
// pair the losers answer 503 and the client retries (50 simultaneous
// reconnects on DynamoDB Local: ≈60 such retries, every one then landed).
const grantAttempts = 20

// CreateAuthorization seals a's token and stores a in one transaction: a
// condition check that the provider exists and offers every requested scope,
// the grant marker (only if the provider, user and label have no active
// grant) and the authorization. On a failed check the provider's item comes
// back with the cancellation, which tells "no such provider" (404) from
// "scope not offered" (400) without a second read; a failed marker names
// the active grant, which the next round replaces in place (a reconnect).
// Racing reconnects of one pair each land, one after another, on the one
// grant; a round lost to another writer is retried, at most grantAttempts
// times in all. See passport.AuthorizationService.
func (s *Store) CreateAuthorization(ctx context.Context, a *passport.Authorization) error {
	if err := a.Validate(); err != nil {
		return err
	}
	if s.cfg.Sealer == nil {
		return fmt.Errorf("dynamo: create authorization: no token sealer configured")
	}
	now := s.now()
	fresh := newID()
	a.ExpiresAt = a.ExpiresAt.UTC().Truncate(time.Millisecond)
	var active *passport.Authorization // the pair's active grant; nil: none
	var sealed []byte
	sealedFor := ""
	for attempt := 1; ; attempt++ {
		a.UpdatedAt = now
		if active == nil {
			a.ID, a.CreatedAt, a.Version, a.Replaced = fresh, now, 1, false
		} else {
			a.ID, a.CreatedAt, a.Version, a.Replaced = active.ID, active.CreatedAt, active.Version+1, true
		}
		if sealedFor != a.ID { // the encryption context names the grant
			var err error
			if sealed, err = s.cfg.Sealer.Seal(ctx, []byte(a.Token.Reveal()), TokenContext(a)); err != nil {
				return fmt.Errorf("dynamo: seal token: %w", err)
			}
			sealedFor = a.ID
		}
		items, idem := s.withIdempotency(ctx, s.grantWrites(ctx, a, active, sealed), a)
		reasons, err := s.transactWrite(ctx, "create authorization", &dynamodb.TransactWriteItemsInput{TransactItems: items})
		switch {
		case err != nil:
			return err
		case reasons == nil:
			return nil
		case idem >= 0 && failedCondition(reasons, idem):
			return idempotencyOutcome(ctx, reasons[idem].Item)
		case failedCondition(reasons, 0):
			return providerCheckError(reasons[0].Item, a.Scopes)
		case !failedCondition(reasons, 1) && !failedCondition(reasons, 2):
			return fmt.Errorf("dynamo: create authorization: cancelled: %v", reasonCodes(reasons))
		case attempt == grantAttempts:
			return &passport.Error{Code: passport.EUNAVAILABLE, Message: "The grant is changing; retry shortly."}
		}
		// The pair's grant is not what this round assumed: find the one
		// that is active now, if any, and go again.
		if active, err = s.activeGrant(ctx, a, reasons); err != nil {
			return err
		}
		if err := pause(ctx, attempt); err != nil {
			return storageError("create authorization", err)
		}
	}
}

// grantWrites is the transaction that stores a as the pair's grant: new
// when active is nil (the marker must be absent or revoked), else replacing
// active in place (the marker must still name it, at the version read).
func (s *Store) grantWrites(ctx context.Context, a, active *passport.Authorization, sealed []byte) []types.TransactWriteItem {
	marker := &types.Put{
		TableName:                           aws.String(s.cfg.Table),
		Item:                                s.grantItem(a),
		ConditionExpression:                 aws.String("attribute_not_exists(PK) OR attribute_exists(revokedAt)"),
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	}
	grant := &types.Put{
		TableName:                           aws.String(s.cfg.Table),
		Item:                                s.authorizationItem(ctx, a, sealed),
		ConditionExpression:                 aws.String("attribute_not_exists(PK)"),
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	}
	if active != nil {
		marker.ConditionExpression = aws.String("authorizationId = :id AND attribute_not_exists(revokedAt)")
		marker.ExpressionAttributeValues = map[string]types.AttributeValue{":id": attrS(active.ID)}
		grant.ConditionExpression = aws.String("version = :v AND id = :id AND attribute_not_exists(revokedAt)")
		grant.ExpressionAttributeValues = map[string]types.AttributeValue{":v": attrN(active.Version), ":id": attrS(active.ID)}
	}
	return []types.TransactWriteItem{s.providerCheck(a), {Put: marker}, {Put: grant}}
}

// activeGrant tells, after a lost round, which grant of a's pair is active
// now (nil: none), from what the cancellation returned: the grant itself
// when its version moved, else the marker, which carries the grant's id,
// version and creation time. Only when neither came back is the marker read.
func (s *Store) activeGrant(ctx context.Context, a *passport.Authorization, reasons []types.CancellationReason) (*passport.Authorization, error) {
	var current item
	switch {
	case failedCondition(reasons, 2):
		current = reasons[2].Item // nil: the grant is gone
	case failedCondition(reasons, 1):
		current = reasons[1].Item // nil: the marker is gone
	default:
		out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
			TableName:      aws.String(s.cfg.Table),
			Key:            item{attrPK: attrS(grantPK(a.ProviderID, a.UserID, a.AccountLabel)), attrSK: attrS(grantSK)},
			ConsistentRead: aws.Bool(true),
		})
		if err != nil {
			return nil, storageError("read grant marker", err)
		}
		current = out.Item
	}
	if current == nil || current["revokedAt"] != nil {
		return nil, nil
	}
	return authorizationFromItem(current), nil
}

// providerCheck requires a's provider to exist, not be deleted or being
// deleted, and list every scope a asks for.
func (s *Store) providerCheck(a *passport.Authorization) types.TransactWriteItem {
	var b strings.Builder
	b.WriteString("attribute_exists(PK) AND attribute_not_exists(deletedAt) AND attribute_not_exists(deleting)")
	values := make(map[string]types.AttributeValue, len(a.Scopes))
	for i, sc := range a.Scopes {
		name := fmt.Sprintf(":s%d", i)
		fmt.Fprintf(&b, " AND contains(scopes, %s)", name)
		values[name] = attrS(sc)
	}
	return types.TransactWriteItem{ConditionCheck: &types.ConditionCheck{
		TableName:                           aws.String(s.cfg.Table),
		Key:                                 providerKey(a.ProviderID),
		ConditionExpression:                 aws.String(b.String()),
		ExpressionAttributeValues:           values,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	}}
}

func providerCheckError(provider item, requested []string) error {
	if provider == nil || provider["deletedAt"] != nil || provider["deleting"] != nil {
		return passport.Errorf(passport.ENOTFOUND, "Provider not found")
	}
	offered := getList(provider, "scopes")
	var missing []string
	for _, s := range requested {
		if !slices.Contains(offered, s) {
			missing = append(missing, s)
		}
	}
	return &passport.Error{
		Code:    passport.EINVALID,
		Message: "Request validation failed.",
		Details: []passport.FieldError{{
			Field:   "scopes",
			Message: "not offered by the provider: " + strings.Join(missing, ", "),
		}},
	}
}

// FindAuthorization reads the authorization's item. See
// passport.AuthorizationService.
func (s *Store) FindAuthorization(ctx context.Context, id string) (*passport.Authorization, error) {
	it, err := s.getAuthorizationItem(ctx, id)
	if err != nil {
		return nil, err
	}
	return authorizationFromItem(it), nil
}

func (s *Store) getAuthorizationItem(ctx context.Context, id string) (item, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.cfg.Table),
		Key:            authorizationKey(id),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return nil, storageError("get authorization", err)
	}
	if out.Item == nil {
		return nil, passport.Errorf(passport.ENOTFOUND, "Authorization not found")
	}
	return out.Item, nil
}

func authorizationKey(id string) item {
	return item{attrPK: attrS(authorizationPK(id)), attrSK: attrS(authorizationSK)}
}

// authorizationsList plans the list for f: a user's grants (GSI1, on the
// authorizations, filtered on provider when both are given), or a
// provider's (GSI1, on the grant markers); a status is a filter.
func (s *Store) authorizationsList(f passport.AuthorizationFilter) (*listQuery, error) {
	q := &listQuery{name: "authorizations", binding: fingerprint(f.UserID, f.ProviderID, f.Status), keyAttrs: gsi1KeyAttrs, forward: true,
		filterNames: map[string]string{}, filterValues: map[string]types.AttributeValue{}}
	switch {
	case f.UserID != "":
		q.sources = []source{{index: gsi1, pkAttr: attrGSI1PK, skAttr: attrGSI1SK, partition: userPartition(f.UserID)}}
		q.skLow, q.skHigh = AuthorizationPrefix, AuthorizationPrefix+"~"
		if f.ProviderID != "" {
			q.addFilter("#f_p = :f_p", "#f_p", "providerId", ":f_p", attrS(f.ProviderID))
		}
	case f.ProviderID != "":
		q.sources = []source{{index: gsi1, pkAttr: attrGSI1PK, skAttr: attrGSI1SK, partition: providerGrantsPartition(f.ProviderID)}}
	default:
		return nil, &passport.Error{Code: passport.EINVALID, Message: "Request validation failed.",
			Details: []passport.FieldError{{Field: "userId", Message: "userId or providerId is required"}}}
	}
	now := attrTime(s.now())
	switch f.Status {
	case "":
	case passport.StatusRevoked:
		q.addFilter("attribute_exists(revokedAt)", "", "", "", nil)
	case passport.StatusActive:
		q.addFilter("attribute_not_exists(revokedAt) AND expiresAt > :f_now", "", "", ":f_now", now)
	case passport.StatusExpired:
		q.addFilter("attribute_not_exists(revokedAt) AND expiresAt <= :f_now", "", "", ":f_now", now)
	default:
		return nil, &passport.Error{Code: passport.EINVALID, Message: "Request validation failed.",
			Details: []passport.FieldError{{Field: "status", Message: "must be active, expired or revoked"}}}
	}
	return q, nil
}

// ListAuthorizations reads one page of f's grants, in creation order. See
// passport.AuthorizationService.
func (s *Store) ListAuthorizations(ctx context.Context, f passport.AuthorizationFilter, page passport.Page) ([]*passport.Authorization, string, error) {
	q, err := s.authorizationsList(f)
	if err != nil {
		return nil, "", err
	}
	items, next, err := s.queryPage(ctx, q, page)
	if err != nil {
		return nil, "", err
	}
	out := make([]*passport.Authorization, len(items))
	for i, it := range items {
		out[i] = authorizationFromItem(it)
	}
	return out, next, nil
}

// RevokeAuthorization erases the token and marks the grant and its marker
// revoked in one transaction. Without ifVersion, a revoke that loses a race
// with a reconnect reads the grant again and goes round (at most
// grantAttempts times); with it, the race is a 412. See
// passport.AuthorizationService.
func (s *Store) RevokeAuthorization(ctx context.Context, id string, ifVersion int64) (*passport.Authorization, error) {
	for attempt := 1; ; attempt++ {
		a, err := s.revokeOnce(ctx, id, ifVersion)
		if !errors.Is(err, errGrantMoved) {
			return a, err
		}
		if ifVersion != 0 {
			return nil, passport.Errorf(passport.EPRECONDITION, "The authorization changed meanwhile; read it again and retry.")
		}
		if attempt == grantAttempts {
			return nil, &passport.Error{Code: passport.EUNAVAILABLE, Message: "The grant is changing; retry shortly."}
		}
		if err := pause(ctx, attempt); err != nil {
			return nil, storageError("revoke authorization", err)
		}
	}
}

// errGrantMoved: the grant changed between revokeOnce's read and its write.
var errGrantMoved = errors.New("dynamo: the grant changed meanwhile")

func (s *Store) revokeOnce(ctx context.Context, id string, ifVersion int64) (*passport.Authorization, error) {
	it, err := s.getAuthorizationItem(ctx, id)
	if err != nil {
		return nil, err
	}
	a := authorizationFromItem(it)
	if ifVersion != 0 && ifVersion != a.Version {
		return nil, stale(a.Version)
	}
	if !a.RevokedAt.IsZero() {
		return a, nil
	}
	now := s.now()
	a.RevokedAt, a.UpdatedAt, a.Version = now, now, a.Version+1
	authz := s.authorizationItem(ctx, a, nil)
	items := []types.TransactWriteItem{
		{Put: &types.Put{
			TableName:                 aws.String(s.cfg.Table),
			Item:                      authz,
			ConditionExpression:       aws.String("version = :v AND attribute_not_exists(revokedAt)"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":v": attrN(a.Version - 1)},
		}},
		{Put: &types.Put{
			TableName:                 aws.String(s.cfg.Table),
			Item:                      s.grantItem(a),
			ConditionExpression:       aws.String("authorizationId = :id"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":id": attrS(a.ID)},
		}},
	}
	reasons, err := s.transactWrite(ctx, "revoke authorization", &dynamodb.TransactWriteItemsInput{TransactItems: items})
	switch {
	case err != nil:
		return nil, err
	case failedCondition(reasons, 0):
		return nil, errGrantMoved
	case failedCondition(reasons, 1):
		// A newer grant for the pair holds the marker: revoke this one alone.
		reasons, err = s.transactWrite(ctx, "revoke authorization", &dynamodb.TransactWriteItemsInput{TransactItems: items[:1]})
		switch {
		case err != nil:
			return nil, err
		case failedCondition(reasons, 0):
			return nil, errGrantMoved
		case reasons != nil:
			return nil, fmt.Errorf("dynamo: revoke authorization: cancelled: %v", reasonCodes(reasons))
		}
	case reasons != nil:
		return nil, fmt.Errorf("dynamo: revoke authorization: cancelled: %v", reasonCodes(reasons))
	}
	return a, nil
}

// authorizationItem lays out a grant; sealedToken nil leaves the token out
// (a revoked grant keeps none).
func (s *Store) authorizationItem(ctx context.Context, a *passport.Authorization, sealedToken []byte) item {
	it := s.grantFields(a)
	it[attrPK] = attrS(authorizationPK(a.ID))
	it[attrSK] = attrS(authorizationSK)
	it[attrKind] = attrS(KindAuthorization)
	it[attrGSI1PK] = attrS(userPartition(a.UserID))
	it[attrGSI1SK] = attrS(AuthorizationPrefix + passport.FormatTime(a.CreatedAt) + "#" + a.ID)
	it["id"] = attrS(a.ID)
	if sealedToken != nil {
		it["tokenCiphertext"] = &types.AttributeValueMemberB{Value: sealedToken}
	}
	putCaller(it, passport.CallerFromContext(ctx))
	return it
}

// grantItem lays out the marker of the active grant of a provider, user and
// label: it makes the grant unique, and lists the provider's grants (GSI1).
// It copies the grant's fields, never its token.
func (s *Store) grantItem(a *passport.Authorization) item {
	it := s.grantFields(a)
	it[attrPK] = attrS(grantPK(a.ProviderID, a.UserID, a.AccountLabel))
	it[attrSK] = attrS(grantSK)
	it[attrKind] = attrS(KindGrant)
	it[attrGSI1PK] = attrS(providerGrantsPartition(a.ProviderID))
	it[attrGSI1SK] = attrS(passport.FormatTime(a.CreatedAt) + "#" + a.ID)
	it["authorizationId"] = attrS(a.ID)
	it["id"] = attrS(a.ID)
	return it
}

// grantFields are the fields an authorization and its marker share.
func (s *Store) grantFields(a *passport.Authorization) item {
	it := item{
		"providerId": attrS(a.ProviderID),
		"userId":     attrS(a.UserID),
		"scopes":     attrList(a.Scopes),
		"expiresAt":  attrTime(a.ExpiresAt),
		"createdAt":  attrTime(a.CreatedAt),
		"updatedAt":  attrTime(a.UpdatedAt),
		"version":    attrN(a.Version),
		attrPurgeAt:  attrN(s.purgeAt(a).Unix()),
	}
	if a.AccountLabel != "" {
		it["accountLabel"] = attrS(a.AccountLabel)
	}
	if !a.RevokedAt.IsZero() {
		it["revokedAt"] = attrTime(a.RevokedAt)
	}
	return it
}

// purgeAt is when DynamoDB's TTL may delete a: its expiry (or revocation,
// if sooner) plus the retention window, so an ended grant stays visible for
// that long. A grant stored already expired counts its window from when it
// was stored, or it would be purged before anyone saw it.
func (s *Store) purgeAt(a *passport.Authorization) time.Time {
	from := a.ExpiresAt
	if !a.RevokedAt.IsZero() && a.RevokedAt.Before(from) {
		from = a.RevokedAt
	}
	if a.CreatedAt.After(from) {
		from = a.CreatedAt
	}
	return from.Add(s.cfg.AuthorizationRetention)
}

func authorizationFromItem(it item) *passport.Authorization {
	return &passport.Authorization{
		ID:           getS(it, "id"),
		ProviderID:   getS(it, "providerId"),
		UserID:       getS(it, "userId"),
		AccountLabel: getS(it, "accountLabel"),
		Scopes:       getList(it, "scopes"),
		ExpiresAt:    getTime(it, "expiresAt"),
		CreatedAt:    getTime(it, "createdAt"),
		UpdatedAt:    getTime(it, "updatedAt"),
		RevokedAt:    getTime(it, "revokedAt"),
		Version:      max(getInt(it, "version"), 1),
	}
}

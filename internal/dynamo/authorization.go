package dynamo

import (
	"context"
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

// CreateAuthorization seals a's token and stores a in one transaction: a
// condition check that the provider exists and offers every requested scope,
// the grant marker (only if the provider, user and label have no active
// grant) and the authorization. On a failed check the provider's item comes
// back with the cancellation, which tells "no such provider" (404) from
// "scope not offered" (400) without a second read; a failed marker names
// the active grant, which a second transaction then replaces in place. See
// passport.AuthorizationService.
func (s *Store) CreateAuthorization(ctx context.Context, a *passport.Authorization) error {
	if err := a.Validate(); err != nil {
		return err
	}
	if s.cfg.Sealer == nil {
		return fmt.Errorf("dynamo: create authorization: no token sealer configured")
	}
	now := s.now()
	a.ID, a.CreatedAt, a.UpdatedAt, a.Version = newID(), now, now, 1
	a.ExpiresAt = a.ExpiresAt.UTC().Truncate(time.Millisecond)
	sealed, err := s.cfg.Sealer.Seal(ctx, []byte(a.Token.Reveal()), TokenContext(a))
	if err != nil {
		return fmt.Errorf("dynamo: seal token: %w", err)
	}
	items, idem := s.withIdempotency(ctx, []types.TransactWriteItem{
		s.providerCheck(a),
		{Put: &types.Put{
			TableName:                           aws.String(s.cfg.Table),
			Item:                                s.grantItem(a),
			ConditionExpression:                 aws.String("attribute_not_exists(PK) OR attribute_exists(revokedAt)"),
			ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
		}},
		{Put: &types.Put{
			TableName:           aws.String(s.cfg.Table),
			Item:                s.authorizationItem(ctx, a, sealed),
			ConditionExpression: aws.String("attribute_not_exists(PK)"),
		}},
	}, a)
	reasons, err := s.transactWrite(ctx, "create authorization", &dynamodb.TransactWriteItemsInput{TransactItems: items})
	switch {
	case err != nil:
		return err
	case idem >= 0 && failedCondition(reasons, idem):
		return idempotencyOutcome(ctx, reasons[idem].Item)
	case failedCondition(reasons, 0):
		return providerCheckError(reasons[0].Item, a.Scopes)
	case failedCondition(reasons, 1):
		return s.replaceGrant(ctx, a, getS(reasons[1].Item, "authorizationId"))
	case reasons != nil:
		return fmt.Errorf("dynamo: create authorization: cancelled: %v", reasonCodes(reasons))
	}
	return nil
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

// replaceGrant is a reconnect: the provider, user and label have an active
// grant, whose scopes, token and expiry a replaces in place, keeping its id.
func (s *Store) replaceGrant(ctx context.Context, a *passport.Authorization, existingID string) error {
	cur, err := s.FindAuthorization(ctx, existingID)
	if err != nil {
		return fmt.Errorf("dynamo: reconnect: read grant %s: %w", existingID, err)
	}
	a.ID, a.CreatedAt, a.Version, a.Replaced = cur.ID, cur.CreatedAt, cur.Version+1, true
	sealed, err := s.cfg.Sealer.Seal(ctx, []byte(a.Token.Reveal()), TokenContext(a))
	if err != nil {
		return fmt.Errorf("dynamo: seal token: %w", err)
	}
	sameVersion := map[string]types.AttributeValue{":v": attrN(cur.Version), ":id": attrS(cur.ID)}
	items, idem := s.withIdempotency(ctx, []types.TransactWriteItem{
		s.providerCheck(a),
		{Put: &types.Put{
			TableName:                 aws.String(s.cfg.Table),
			Item:                      s.grantItem(a),
			ConditionExpression:       aws.String("authorizationId = :id AND attribute_not_exists(revokedAt)"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":id": attrS(cur.ID)},
		}},
		{Put: &types.Put{
			TableName:                 aws.String(s.cfg.Table),
			Item:                      s.authorizationItem(ctx, a, sealed),
			ConditionExpression:       aws.String("version = :v AND id = :id AND attribute_not_exists(revokedAt)"),
			ExpressionAttributeValues: sameVersion,
		}},
	}, a)
	reasons, err := s.transactWrite(ctx, "replace authorization", &dynamodb.TransactWriteItemsInput{TransactItems: items})
	switch {
	case err != nil:
		return err
	case idem >= 0 && failedCondition(reasons, idem):
		return idempotencyOutcome(ctx, reasons[idem].Item)
	case failedCondition(reasons, 0):
		return providerCheckError(reasons[0].Item, a.Scopes)
	case reasons != nil:
		// The grant was revoked or replaced meanwhile: the client may retry.
		return &passport.Error{Code: passport.EUNAVAILABLE, Message: "The grant changed meanwhile; retry shortly."}
	}
	return nil
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
// revoked in one transaction. See passport.AuthorizationService.
func (s *Store) RevokeAuthorization(ctx context.Context, id string, ifVersion int64) (*passport.Authorization, error) {
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
		return nil, passport.Errorf(passport.EPRECONDITION, "The authorization changed meanwhile; read it again and retry.")
	case failedCondition(reasons, 1):
		// A newer grant for the pair holds the marker: revoke this one alone.
		items = items[:1]
		if _, err := s.transactWrite(ctx, "revoke authorization", &dynamodb.TransactWriteItemsInput{TransactItems: items}); err != nil {
			return nil, err
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

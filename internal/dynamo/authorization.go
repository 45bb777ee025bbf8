package dynamo

import (
	"context"
	"fmt"
	"slices"
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

// CreateAuthorization seals a's token and stores a in one transaction: a
// condition check that the provider exists and offers every requested scope,
// and the put. On a failed check the provider's item comes back with the
// cancellation, which tells "no such provider" (404) from "scope not
// offered" (400) without a second read. See passport.AuthorizationService.
func (s *Store) CreateAuthorization(ctx context.Context, a *passport.Authorization) error {
	if err := a.Validate(); err != nil {
		return err
	}
	if s.cfg.Sealer == nil {
		return fmt.Errorf("dynamo: create authorization: no token sealer configured")
	}
	a.ID, a.CreatedAt = newID(), s.now()
	a.ExpiresAt = a.ExpiresAt.UTC().Truncate(1e6)
	sealed, err := s.cfg.Sealer.Seal(ctx, []byte(a.Token.Reveal()), TokenContext(a))
	if err != nil {
		return fmt.Errorf("dynamo: seal token: %w", err)
	}

	cond, values := scopesCondition(a.Scopes)
	in := &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{ConditionCheck: &types.ConditionCheck{
			TableName:                           aws.String(s.cfg.Table),
			Key:                                 item{attrPK: attrS(providerPK(a.ProviderID)), attrSK: attrS(providerSK)},
			ConditionExpression:                 aws.String(cond),
			ExpressionAttributeValues:           values,
			ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
		}},
		{Put: &types.Put{
			TableName:           aws.String(s.cfg.Table),
			Item:                s.authorizationItem(ctx, a, sealed),
			ConditionExpression: aws.String("attribute_not_exists(PK)"),
		}},
	}}
	reasons, err := s.transactWrite(ctx, "create authorization", in)
	switch {
	case err != nil:
		return err
	case failedCondition(reasons, 0):
		return providerCheckError(reasons[0].Item, a.Scopes)
	case reasons != nil:
		return fmt.Errorf("dynamo: create authorization: cancelled: %v", reasonCodes(reasons))
	}
	return nil
}

// scopesCondition requires the provider to exist and list every scope.
func scopesCondition(scopes []string) (string, map[string]types.AttributeValue) {
	var b strings.Builder
	b.WriteString("attribute_exists(PK)")
	values := make(map[string]types.AttributeValue, len(scopes))
	for i, s := range scopes {
		name := fmt.Sprintf(":s%d", i)
		fmt.Fprintf(&b, " AND contains(scopes, %s)", name)
		values[name] = attrS(s)
	}
	return b.String(), values
}

func providerCheckError(provider item, requested []string) error {
	if provider == nil {
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

func (s *Store) authorizationItem(ctx context.Context, a *passport.Authorization, sealedToken []byte) item {
	it := item{
		attrPK:            attrS(authorizationPK(a.ID)),
		attrSK:            attrS(authorizationSK),
		attrKind:          attrS(KindAuthorization),
		attrGSI1PK:        attrS(userPartition(a.UserID)),
		attrGSI1SK:        attrS(AuthorizationPrefix + passport.FormatTime(a.CreatedAt) + "#" + a.ID),
		"id":              attrS(a.ID),
		"providerId":      attrS(a.ProviderID),
		"userId":          attrS(a.UserID),
		"scopes":          attrList(a.Scopes),
		"tokenCiphertext": &types.AttributeValueMemberB{Value: sealedToken},
		"expiresAt":       attrTime(a.ExpiresAt),
		"createdAt":       attrTime(a.CreatedAt),
		attrPurgeAt:       attrN(s.purgeAt(a).Unix()),
	}
	putCaller(it, passport.CallerFromContext(ctx))
	return it
}

// purgeAt is when DynamoDB's TTL may delete a: its expiry plus the retention
// window, so an expired grant stays visible for that long. A grant stored
// already expired counts its window from when it was stored, or it would be
// purged before anyone saw it.
func (s *Store) purgeAt(a *passport.Authorization) time.Time {
	from := a.ExpiresAt
	if a.CreatedAt.After(from) {
		from = a.CreatedAt
	}
	return from.Add(s.cfg.AuthorizationRetention)
}

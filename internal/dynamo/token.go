package dynamo

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/passport-oss/passport/internal/passport"
)

// tokenReadRetention is how long a token read's record stays in the table:
// long enough for the stream to carry it to the audit function, which keeps
// the entry for the audit retention.
const tokenReadRetention = 24 * time.Hour

// ReadToken reads the authorization, opens its token and records the read,
// in that order, and returns the token only once the record is written: its
// stream record becomes the authorization.token_read entry, so a read that
// could not be audited returns nothing. See passport.AuthorizationService.
func (s *Store) ReadToken(ctx context.Context, id string) (*passport.Authorization, error) {
	if s.cfg.Opener == nil {
		return nil, fmt.Errorf("dynamo: read token: no token opener configured")
	}
	it, err := s.getAuthorizationItem(ctx, id)
	if err != nil {
		return nil, err
	}
	a := authorizationFromItem(it)
	now := s.now()
	switch a.Status(now) {
	case passport.StatusRevoked:
		return nil, passport.Errorf(passport.EREVOKED, "The authorization was revoked at %s.", passport.FormatTime(a.RevokedAt))
	case passport.StatusExpired:
		return nil, passport.Errorf(passport.EEXPIRED, "The authorization expired at %s.", passport.FormatTime(a.ExpiresAt))
	}
	sealed, _ := it["tokenCiphertext"].(*types.AttributeValueMemberB)
	if sealed == nil {
		return nil, fmt.Errorf("dynamo: authorization %s has no sealed token", id)
	}
	token, err := s.cfg.Opener.Open(ctx, sealed.Value, TokenContext(a))
	if err != nil {
		return nil, fmt.Errorf("dynamo: open token: %w", err)
	}
	if err := s.recordTokenRead(ctx, a, now); err != nil {
		clear(token)
		return nil, err
	}
	a.Token = passport.Secret(token)
	clear(token)
	return a, nil
}

// recordTokenRead writes the short-lived record of one token read.
func (s *Store) recordTokenRead(ctx context.Context, a *passport.Authorization, now time.Time) error {
	it := item{
		attrPK:            attrS(TokenReadPrefix + newID()),
		attrSK:            attrS(tokenReadSK),
		attrKind:          attrS(KindTokenRead),
		"authorizationId": attrS(a.ID),
		"providerId":      attrS(a.ProviderID),
		"userId":          attrS(a.UserID),
		"createdAt":       attrTime(now),
		attrPurgeAt:       attrN(now.Add(tokenReadRetention).Unix()),
	}
	putCaller(it, passport.CallerFromContext(ctx))
	_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:           aws.String(s.cfg.Table),
		Item:                it,
		ConditionExpression: aws.String("attribute_not_exists(PK)"),
	})
	// The key is new and random: a failed condition means an earlier
	// attempt of this very call landed and its answer was lost on the way,
	// and the SDK's retry found the record written.
	if err != nil && !isConditionFailed(err) {
		return storageError("record token read", err)
	}
	return nil
}

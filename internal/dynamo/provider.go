package dynamo

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/passport-oss/passport/internal/passport"
)

// deletedProviderRetention is how long a deleted provider's tombstone stays:
// it answers 404 and keeps the id from ever naming another provider.
const deletedProviderRetention = 30 * 24 * time.Hour

// CreateProvider registers p in one transaction: the provider item and its
// name marker, each put only if absent, so two registrations of one name
// cannot both succeed. See passport.ProviderService.
func (s *Store) CreateProvider(ctx context.Context, p *passport.Provider) error {
	if err := p.Validate(); err != nil {
		return err
	}
	p.ID, p.CreatedAt, p.Version = newID(), s.now(), 1
	ifAbsent := aws.String("attribute_not_exists(PK)")
	items, idem := s.withIdempotency(ctx, []types.TransactWriteItem{
		{Put: &types.Put{TableName: aws.String(s.cfg.Table), Item: providerItem(ctx, p), ConditionExpression: ifAbsent}},
		{Put: &types.Put{TableName: aws.String(s.cfg.Table), Item: nameMarker(p), ConditionExpression: ifAbsent}},
	}, p)
	reasons, err := s.transactWrite(ctx, "create provider", &dynamodb.TransactWriteItemsInput{TransactItems: items})
	switch {
	case err != nil:
		return err
	case idem >= 0 && failedCondition(reasons, idem):
		return idempotencyOutcome(ctx, reasons[idem].Item)
	case failedCondition(reasons, 1):
		return passport.Errorf(passport.ECONFLICT, "A provider named %q already exists.", p.Name)
	case reasons != nil:
		return fmt.Errorf("dynamo: create provider: cancelled: %v", reasonCodes(reasons))
	}
	return nil
}

func nameMarker(p *passport.Provider) item {
	return item{
		attrPK:       attrS(providerNamePK(lower(p.Name))),
		attrSK:       attrS(uniqueSK),
		attrKind:     attrS(KindUnique),
		"providerId": attrS(p.ID),
	}
}

// providersList is the list of providers: GSI1's providers partition, in
// creation order. A deleted provider leaves the index.
var providersList = listQuery{
	name:     "providers",
	sources:  []source{{index: gsi1, pkAttr: attrGSI1PK, skAttr: attrGSI1SK, partition: providersPartition}},
	keyAttrs: gsi1KeyAttrs,
	forward:  true,
}

// ListProviders queries the providers partition of GSI1 in creation order.
// See passport.ProviderService.
func (s *Store) ListProviders(ctx context.Context, page passport.Page) ([]*passport.Provider, string, error) {
	items, next, err := s.queryPage(ctx, &providersList, page)
	if err != nil {
		return nil, "", err
	}
	out := make([]*passport.Provider, len(items))
	for i, it := range items {
		out[i] = providerFromItem(it)
	}
	return out, next, nil
}

// FindProvider reads the provider's item. See passport.ProviderService.
func (s *Store) FindProvider(ctx context.Context, id string) (*passport.Provider, error) {
	it, err := s.getProviderItem(ctx, id)
	if err != nil {
		return nil, err
	}
	return providerFromItem(it), nil
}

func (s *Store) getProviderItem(ctx context.Context, id string) (item, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.cfg.Table),
		Key:            providerKey(id),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return nil, storageError("get provider", err)
	}
	if out.Item == nil || out.Item["deletedAt"] != nil {
		return nil, passport.Errorf(passport.ENOTFOUND, "Provider not found")
	}
	return out.Item, nil
}

func providerKey(id string) item {
	return item{attrPK: attrS(providerPK(id)), attrSK: attrS(providerSK)}
}

// UpdateProvider reads the provider, then writes the change in one
// transaction conditioned on the version it read, so a concurrent change
// makes it fail rather than be lost; a rename swaps the name markers in the
// same transaction. See passport.ProviderService.
func (s *Store) UpdateProvider(ctx context.Context, id string, upd passport.ProviderUpdate, ifVersion int64) (*passport.Provider, error) {
	if upd.Name == nil && upd.ClientID == nil && upd.Scopes == nil && upd.RedirectURI == nil {
		return nil, &passport.Error{Code: passport.EINVALID, Message: "Request validation failed.",
			Details: []passport.FieldError{{Field: "body", Message: "must change at least one of name, clientId, scopes, redirectUri"}}}
	}
	it, err := s.getProviderItem(ctx, id)
	if err != nil {
		return nil, err
	}
	old := providerFromItem(it)
	if ifVersion != 0 && ifVersion != old.Version {
		return nil, stale(old.Version)
	}
	p := *old
	applyProviderUpdate(&p, upd)
	if err := p.Validate(); err != nil {
		return nil, err
	}
	p.Version = old.Version + 1
	items := []types.TransactWriteItem{{Put: &types.Put{
		TableName:                 aws.String(s.cfg.Table),
		Item:                      providerItem(ctx, &p),
		ConditionExpression:       aws.String("version = :v AND attribute_not_exists(deletedAt) AND attribute_not_exists(deleting)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":v": attrN(old.Version)},
	}}}
	renamed := lower(p.Name) != lower(old.Name)
	if renamed {
		items = append(items,
			types.TransactWriteItem{Put: &types.Put{TableName: aws.String(s.cfg.Table), Item: nameMarker(&p), ConditionExpression: aws.String("attribute_not_exists(PK)")}},
			types.TransactWriteItem{Delete: &types.Delete{TableName: aws.String(s.cfg.Table), Key: item{attrPK: attrS(providerNamePK(lower(old.Name))), attrSK: attrS(uniqueSK)}}},
		)
	}
	reasons, err := s.transactWrite(ctx, "update provider", &dynamodb.TransactWriteItemsInput{TransactItems: items})
	switch {
	case err != nil:
		return nil, err
	case failedCondition(reasons, 0):
		return nil, passport.Errorf(passport.EPRECONDITION, "The provider changed meanwhile; read it again and retry.")
	case renamed && failedCondition(reasons, 1):
		return nil, passport.Errorf(passport.ECONFLICT, "A provider named %q already exists.", p.Name)
	case reasons != nil:
		return nil, fmt.Errorf("dynamo: update provider: cancelled: %v", reasonCodes(reasons))
	}
	return &p, nil
}

func applyProviderUpdate(p *passport.Provider, upd passport.ProviderUpdate) {
	if upd.Name != nil {
		p.Name = *upd.Name
	}
	if upd.ClientID != nil {
		p.ClientID = *upd.ClientID
	}
	if upd.Scopes != nil {
		p.Scopes = upd.Scopes
	}
	if upd.RedirectURI != nil {
		p.RedirectURI = *upd.RedirectURI
	}
}

func stale(current int64) error {
	return passport.Errorf(passport.EPRECONDITION, "If-Match does not match the current version (v%d).", current)
}

// DeleteProvider deletes in three steps, since "no grants left" is a Query,
// not a condition: it marks the provider deleting (new grants then fail
// their check on it), looks for grants that are not revoked (revoking them
// with cascade, or unmarking and refusing without), and then turns the
// provider into a tombstone and frees its name. See passport.ProviderService.
func (s *Store) DeleteProvider(ctx context.Context, id string, cascade bool, ifVersion int64) (int, error) {
	it, err := s.getProviderItem(ctx, id)
	if err != nil {
		return 0, err
	}
	p := providerFromItem(it)
	if ifVersion != 0 && ifVersion != p.Version {
		return 0, stale(p.Version)
	}
	if err := s.markDeleting(ctx, p); err != nil {
		return 0, err
	}
	revoked, err := s.clearGrants(ctx, p.ID, cascade)
	if err != nil {
		s.unmarkDeleting(ctx, p)
		return revoked, err
	}
	return revoked, s.tombstone(ctx, p)
}

func (s *Store) markDeleting(ctx context.Context, p *passport.Provider) error {
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.cfg.Table),
		Key:                       providerKey(p.ID),
		UpdateExpression:          aws.String("SET deleting = :t"),
		ConditionExpression:       aws.String("version = :v AND attribute_not_exists(deletedAt)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":t": &types.AttributeValueMemberBOOL{Value: true}, ":v": attrN(p.Version)},
	})
	if isConditionFailed(err) {
		return passport.Errorf(passport.EPRECONDITION, "The provider changed meanwhile; read it again and retry.")
	}
	if err != nil {
		return storageError("mark provider deleting", err)
	}
	return nil
}

// unmarkDeleting undoes markDeleting after a refused delete. If it fails the
// provider stays closed to new grants until the next delete or update
// attempt clears it; the caller's error already says the delete failed.
func (s *Store) unmarkDeleting(ctx context.Context, p *passport.Provider) {
	_, _ = s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:        aws.String(s.cfg.Table),
		Key:              providerKey(p.ID),
		UpdateExpression: aws.String("REMOVE deleting"),
	})
}

// clearGrants revokes the provider's grants that are not revoked (with
// cascade), or reports that there are some.
func (s *Store) clearGrants(ctx context.Context, providerID string, cascade bool) (int, error) {
	revoked := 0
	filter := passport.AuthorizationFilter{ProviderID: providerID}
	page := passport.Page{Limit: passport.MaxPageLimit}
	for {
		list, next, err := s.ListAuthorizations(ctx, filter, page)
		if err != nil {
			return revoked, err
		}
		for _, a := range list {
			if !a.RevokedAt.IsZero() {
				continue
			}
			if !cascade {
				return 0, passport.Errorf(passport.ECONFLICT, "The provider has authorizations; revoke them first, or delete with ?cascade=true.")
			}
			if _, err := s.RevokeAuthorization(ctx, a.ID, 0); err != nil && passport.ErrorCode(err) != passport.ENOTFOUND {
				return revoked, err
			}
			revoked++
		}
		if next == "" {
			return revoked, nil
		}
		page.Cursor = next
	}
}

// tombstone turns the provider into a deleted record: out of the list
// index, closed to every change, purged later; and frees its name.
func (s *Store) tombstone(ctx context.Context, p *passport.Provider) error {
	now := s.now()
	caller := item{}
	putCaller(caller, passport.CallerFromContext(ctx))
	values := map[string]types.AttributeValue{
		":now": attrTime(now), ":purge": attrN(now.Add(deletedProviderRetention).Unix()), ":t": &types.AttributeValueMemberBOOL{Value: true},
	}
	set := "SET deletedAt = :now, updatedAt = :now, purgeAt = :purge, version = version + :one"
	values[":one"] = attrN(1)
	names := map[string]string{}
	i := 0
	for name, v := range caller {
		i++
		ph := "#c" + strconv.Itoa(i)
		names[ph] = name
		values[":c"+strconv.Itoa(i)] = v
		set += ", " + ph + " = :c" + strconv.Itoa(i)
	}
	update := &types.Update{
		TableName:                 aws.String(s.cfg.Table),
		Key:                       providerKey(p.ID),
		UpdateExpression:          aws.String(set + " REMOVE GSI1PK, GSI1SK, deleting"),
		ConditionExpression:       aws.String("deleting = :t"),
		ExpressionAttributeValues: values,
	}
	if len(names) > 0 {
		update.ExpressionAttributeNames = names
	}
	items := []types.TransactWriteItem{
		{Update: update},
		{Delete: &types.Delete{TableName: aws.String(s.cfg.Table), Key: item{attrPK: attrS(providerNamePK(lower(p.Name))), attrSK: attrS(uniqueSK)}}},
	}
	reasons, err := s.transactWrite(ctx, "delete provider", &dynamodb.TransactWriteItemsInput{TransactItems: items})
	switch {
	case err != nil:
		return err
	case failedCondition(reasons, 0):
		return passport.Errorf(passport.EPRECONDITION, "The provider changed meanwhile; read it again and retry.")
	case reasons != nil:
		return fmt.Errorf("dynamo: delete provider: cancelled: %v", reasonCodes(reasons))
	}
	return nil
}

func providerItem(ctx context.Context, p *passport.Provider) item {
	created := passport.FormatTime(p.CreatedAt)
	it := item{
		attrPK:        attrS(providerPK(p.ID)),
		attrSK:        attrS(providerSK),
		attrKind:      attrS(KindProvider),
		attrGSI1PK:    attrS(providersPartition),
		attrGSI1SK:    attrS(created + "#" + p.ID),
		"id":          attrS(p.ID),
		"name":        attrS(p.Name),
		"type":        attrS(p.Type),
		"clientId":    attrS(p.ClientID),
		"scopes":      attrList(p.Scopes),
		"redirectUri": attrS(p.RedirectURI),
		"createdAt":   attrS(created),
		"version":     attrN(p.Version),
	}
	putCaller(it, passport.CallerFromContext(ctx))
	return it
}

func providerFromItem(it item) *passport.Provider {
	return &passport.Provider{
		ID:          getS(it, "id"),
		Name:        getS(it, "name"),
		Type:        getS(it, "type"),
		ClientID:    getS(it, "clientId"),
		Scopes:      getList(it, "scopes"),
		RedirectURI: getS(it, "redirectUri"),
		CreatedAt:   getTime(it, "createdAt"),
		Version:     max(getInt(it, "version"), 1),
	}
}

func reasonCodes(reasons []types.CancellationReason) []string {
	codes := make([]string, len(reasons))
	for i, r := range reasons {
		codes[i] = aws.ToString(r.Code)
	}
	return codes
}

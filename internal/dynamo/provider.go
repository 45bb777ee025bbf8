package dynamo

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/passport-oss/passport/internal/passport"
)

// CreateProvider registers p in one transaction: the provider item and its
// name marker, each put only if absent, so two registrations of one name
// cannot both succeed. See passport.ProviderService.
func (s *Store) CreateProvider(ctx context.Context, p *passport.Provider) error {
	if err := p.Validate(); err != nil {
		return err
	}
	p.ID, p.CreatedAt = newID(), s.now()
	ifAbsent := aws.String("attribute_not_exists(PK)")
	in := &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Put: &types.Put{TableName: aws.String(s.cfg.Table), Item: providerItem(ctx, p), ConditionExpression: ifAbsent}},
		{Put: &types.Put{TableName: aws.String(s.cfg.Table), Item: item{
			attrPK:       attrS(providerNamePK(lower(p.Name))),
			attrSK:       attrS(uniqueSK),
			attrKind:     attrS(KindUnique),
			"providerId": attrS(p.ID),
		}, ConditionExpression: ifAbsent}},
	}}
	reasons, err := s.transactWrite(ctx, "create provider", in)
	switch {
	case err != nil:
		return err
	case failedCondition(reasons, 1):
		return passport.Errorf(passport.ECONFLICT, "A provider named %q already exists.", p.Name)
	case reasons != nil:
		return fmt.Errorf("dynamo: create provider: cancelled: %v", reasonCodes(reasons))
	}
	return nil
}

// providersList is the list of providers: GSI1's providers partition, in
// creation order.
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
	}
}

func reasonCodes(reasons []types.CancellationReason) []string {
	codes := make([]string, len(reasons))
	for i, r := range reasons {
		codes[i] = aws.ToString(r.Code)
	}
	return codes
}

package dynamo

// The table's key design. One table holds every item type; each item has a
// string partition key PK and sort key SK, and list-shaped access goes through
// the one global secondary index GSI1 (GSI1PK, GSI1SK, all attributes
// projected). Every access is a GetItem, a Query or a write: never a Scan.
//
//	item type        PK                            SK          GSI1PK       GSI1SK                 serves
//	provider         PROVIDER#<id>                 PROVIDER    PROVIDERS    <createdAt>#<id>       get by id; list in creation order (GSI1, ascending)
//	name marker      UNIQUE#PROVIDER_NAME#<lower>  UNIQUE      -            -                      case-insensitive name uniqueness (attribute_not_exists in the registering transaction)
//	authorization    AUTHZ#<id>                    AUTHZ       -            -                      get by id; TTL purge at purgeAt = expiresAt + retention
//	audit entry      AUDIT#<id>                    AUDIT       AUDIT        <timestamp>#<id>       trail newest first (GSI1, descending)
//
// The stream's event source mapping passes only PROVIDER# and AUTHZ# keys to
// the audit function (FilterCriteria in template.yaml, and a guard in
// internal/audit), so audit items and markers never make audit items.
// Timestamps in sort keys are fixed-width UTC with milliseconds, so their
// string order is their time order.

// Attribute names of the keys.
const (
	attrPK     = "PK"
	attrSK     = "SK"
	attrGSI1PK = "GSI1PK"
	attrGSI1SK = "GSI1SK"
	// attrPurgeAt is the table's TTL attribute (epoch seconds).
	attrPurgeAt = "purgeAt"
	// attrKind names the item type, for readers of raw items and stream images.
	attrKind = "kind"
)

// gsi1 is the name of the list index.
const gsi1 = "GSI1"

// Key prefixes, sort keys and fixed partitions.
const (
	ProviderPrefix      = "PROVIDER#"
	AuthorizationPrefix = "AUTHZ#"
	AuditPrefix         = "AUDIT#"
	UniquePrefix        = "UNIQUE#"

	providerSK      = "PROVIDER"
	authorizationSK = "AUTHZ"
	auditSK         = "AUDIT"
	uniqueSK        = "UNIQUE"

	providersPartition = "PROVIDERS"
	auditPartition     = "AUDIT"
)

// Item kinds, stored in attrKind.
const (
	KindProvider      = "provider"
	KindAuthorization = "authorization"
	KindAudit         = "audit"
	KindUnique        = "unique"
)

func providerPK(id string) string      { return ProviderPrefix + id }
func authorizationPK(id string) string { return AuthorizationPrefix + id }
func auditPK(id string) string         { return AuditPrefix + id }
func providerNamePK(lowerName string) string {
	return UniquePrefix + "PROVIDER_NAME#" + lowerName
}

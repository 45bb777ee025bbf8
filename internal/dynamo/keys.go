package dynamo

import "strconv"

// The table's key design. One table holds every item type; each item has a
// string partition key PK and sort key SK. List-shaped access goes through
// three global secondary indexes with generic key names, all attributes
// projected: GSI1 (time-ordered lists), GSI2 (by provider), GSI3 (by user).
// Every access is a GetItem, a Query or a write: never a Scan.
//
//	item type      PK                            SK        GSI1PK / GSI1SK                    GSI2PK / GSI2SK                             GSI3PK / GSI3SK
//	provider       PROVIDER#<id>                 PROVIDER  PROVIDERS / <createdAt>#<id>       -                                           -
//	name marker    UNIQUE#PROVIDER_NAME#<lower>  UNIQUE    -                                  -                                           -
//	authorization  AUTHZ#<id>                    AUTHZ     -                                  -                                           -
//	audit entry    AUDIT#<id>                    AUDIT     AUDIT#<shard> / <timestamp>#<id>   AUDIT#PROVIDER#<providerId> / <timestamp>#<id>  AUDIT#USER#<userId> / <timestamp>#<id>
//
// What each serves:
//   - provider: get by id; list in creation order (GSI1, ascending).
//   - name marker: case-insensitive name uniqueness (attribute_not_exists in
//     the registering transaction).
//   - authorization: get by id; TTL purge at purgeAt = expiresAt + retention.
//   - audit entry: the trail newest first (GSI1, descending, merged across
//     auditShards partitions); by provider (GSI2); by user (GSI3); by
//     provider and user (GSI3, filtered on providerId); a time range is a
//     key condition on the sort key of whichever index serves the filter.
//
// Audit writes are spread over auditShards partitions of GSI1 (an entry's
// shard derives from its id), so no one partition key takes every entry:
// DynamoDB caps a partition at 1,000 writes/s, so the trail takes about
// auditShards x 1,000 entries/s. An unfiltered page costs auditShards
// Queries, run in parallel. A single provider's or user's partition takes
// 1,000 entries/s.
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
	attrGSI2PK = "GSI2PK"
	attrGSI2SK = "GSI2SK"
	attrGSI3PK = "GSI3PK"
	attrGSI3SK = "GSI3SK"
	// attrPurgeAt is the table's TTL attribute (epoch seconds).
	attrPurgeAt = "purgeAt"
	// attrKind names the item type, for readers of raw items and stream images.
	attrKind = "kind"
)

// Index names.
const (
	gsi1 = "GSI1"
	gsi2 = "GSI2"
	gsi3 = "GSI3"
)

// auditShards is how many GSI1 partitions the audit trail spreads over.
// Changing it orphans no entry only if readers query the old shards too:
// treat it as fixed once deployed.
const auditShards = 4

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

// auditShardPK is the GSI1 partition of the audit entry with id. Ids are
// base32 of a hash, so their first character spreads evenly.
func auditShardPK(id string) string {
	shard := 0
	if id != "" {
		shard = int(id[0]) % auditShards
	}
	return auditShardPartition(shard)
}

func auditShardPartition(shard int) string { return AuditPrefix + strconv.Itoa(shard) }
func auditProviderPK(id string) string     { return AuditPrefix + "PROVIDER#" + id }
func auditUserPK(id string) string         { return AuditPrefix + "USER#" + id }
func providerNamePK(lowerName string) string {
	return UniquePrefix + "PROVIDER_NAME#" + lowerName
}

package dynamo

import "strconv"

// The table's key design. One table holds every item type; each item has a
// string partition key PK and sort key SK, and one global secondary index
// GSI1 (GSI1PK, GSI1SK, all attributes projected) serves the lists the base
// table cannot. Every access is a GetItem, a Query or a write: never a Scan.
//
//	item type           PK                            SK                  GSI1PK / GSI1SK
//	provider            PROVIDER#<id>                 PROVIDER            PROVIDERS / <createdAt>#<id>
//	name marker         UNIQUE#PROVIDER_NAME#<lower>  UNIQUE              -
//	authorization       AUTHZ#<id>                    AUTHZ               USER#<userId> / AUTHZ#<createdAt>#<id>
//	grant marker        GRANT#<provider,user,label>   GRANT               PROVIDER#<providerId>#GRANTS / <createdAt>#<id>
//	token read record   TOKENREAD#<id>                TOKENREAD           -
//	idempotency key     IDEMPOTENCY#<hash>            IDEMPOTENCY         -
//	audit entry         AUDIT#<shard>                 <timestamp>#<id>    -
//	  by provider copy  AUDIT#PROVIDER#<providerId>   <timestamp>#<id>    -
//	  by user copy      AUDIT#USER#<userId>           <timestamp>#<id>    -
//
// What each serves:
//   - provider: get by id; list in creation order (GSI1, ascending).
//   - name marker: case-insensitive name uniqueness (attribute_not_exists in
//     the registering transaction).
//   - authorization: get by id; a user's grants (GSI1); TTL purge at
//     purgeAt = expiresAt + retention.
//   - grant marker: one active grant per provider, user and account label
//     (put only if absent or revoked, in the creating transaction); a
//     provider's grants (GSI1). It copies the grant's fields, not its token.
//   - idempotency key: the first response to a POST with an
//     Idempotency-Key, written in the transaction of the change it guards;
//     replayed for 24 hours.
//   - token read record: written by every token read, so that its stream
//     record becomes the read's audit entry; purged by TTL after a day.
//   - audit entry: the trail newest first, merged across auditShards
//     partitions; a provider's or a user's entries from their copy (a user's
//     filtered on providerId when both are asked for: one user's entries are
//     few); a time range is a condition on SK.
//
// Why audit entries are copied rather than indexed: DynamoDB Local (3.3.0)
// stops TTL deletions altogether on a table with more than one GSI, and
// deletes only items that are in its one GSI; a second and third GSI would
// make expiry untestable locally. A copy costs the same write capacity as a
// GSI's replica, and keeps every read on the base table, strongly
// consistent. Every item carrying purgeAt that must expire locally is in
// GSI1 (authorizations); audit copies expire in AWS all the same.
//
// Audit writes are spread over auditShards partitions (an entry's shard
// derives from its id), so no one partition key takes every entry: DynamoDB
// caps a partition at 1,000 writes/s, so the trail takes about auditShards x
// 1,000 entries/s, and a single provider's or user's copies 1,000/s. An
// unfiltered page costs auditShards Queries, run in parallel; a filtered page
// one Query.
//
// The stream's event source mapping passes only PROVIDER#, AUTHZ# and
// TOKENREAD# keys to the audit function (FilterCriteria in template.yaml, and a guard in
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

// auditShards is how many GSI1 partitions the audit trail spreads over.
// Changing it orphans no entry only if readers query the old shards too:
// treat it as fixed once deployed.
const auditShards = 4

// Key prefixes, sort keys and fixed partitions.
const (
	ProviderPrefix      = "PROVIDER#"
	AuthorizationPrefix = "AUTHZ#"
	TokenReadPrefix     = "TOKENREAD#"
	GrantPrefix         = "GRANT#"
	AuditPrefix         = "AUDIT#"
	UniquePrefix        = "UNIQUE#"

	providerSK      = "PROVIDER"
	authorizationSK = "AUTHZ"
	uniqueSK        = "UNIQUE"
	tokenReadSK     = "TOKENREAD"
	grantSK         = "GRANT"

	providersPartition = "PROVIDERS"
)

// Item kinds, stored in attrKind.
const (
	KindProvider      = "provider"
	KindAuthorization = "authorization"
	KindAudit         = "audit"
	KindUnique        = "unique"
	KindTokenRead     = "token_read"
	KindGrant         = "grant"
)

func providerPK(id string) string      { return ProviderPrefix + id }
func authorizationPK(id string) string { return AuthorizationPrefix + id }
func userPartition(id string) string   { return "USER#" + id }

// providerGrantsPartition is the GSI1 partition of a provider's grants.
func providerGrantsPartition(id string) string { return ProviderPrefix + id + "#GRANTS" }

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

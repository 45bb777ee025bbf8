package dynamo

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/passport-oss/passport/internal/passport"
)

var (
	gsi1KeyAttrs = []string{attrPK, attrSK, attrGSI1PK, attrGSI1SK}
	gsi2KeyAttrs = []string{attrPK, attrSK, attrGSI2PK, attrGSI2SK}
	gsi3KeyAttrs = []string{attrPK, attrSK, attrGSI3PK, attrGSI3SK}
)

// auditQuery plans the list of entries matching f: a user's partition of
// GSI3 (filtered on provider when both are given: one user's entries are
// few), a provider's partition of GSI2, or else every shard of GSI1. A time
// range is a condition on the sort key; an action is a filter.
func auditQuery(f passport.AuditFilter) *listQuery {
	q := &listQuery{name: "audit", binding: fingerprint(f.ProviderID, f.UserID, f.Action, timeBound(f.Since), timeBound(f.Until))}
	switch {
	case f.UserID != "":
		q.sources = []source{{index: gsi3, pkAttr: attrGSI3PK, skAttr: attrGSI3SK, partition: auditUserPK(f.UserID)}}
		q.keyAttrs = gsi3KeyAttrs
	case f.ProviderID != "":
		q.sources = []source{{index: gsi2, pkAttr: attrGSI2PK, skAttr: attrGSI2SK, partition: auditProviderPK(f.ProviderID)}}
		q.keyAttrs = gsi2KeyAttrs
	default:
		for shard := range auditShards {
			q.sources = append(q.sources, source{index: gsi1, pkAttr: attrGSI1PK, skAttr: attrGSI1SK, partition: auditShardPartition(shard)})
		}
		q.keyAttrs = gsi1KeyAttrs
	}
	if !f.Since.IsZero() {
		q.skLow = passport.FormatTime(f.Since)
	}
	if !f.Until.IsZero() {
		q.skHigh = passport.FormatTime(f.Until) + "#~" // '~' sorts after every id character
	}
	q.filterNames, q.filterValues = map[string]string{}, map[string]types.AttributeValue{}
	addFilter := func(attr, value string) {
		if q.filter != "" {
			q.filter += " AND "
		}
		q.filter += "#f_" + attr + " = :f_" + attr
		q.filterNames["#f_"+attr] = attr
		q.filterValues[":f_"+attr] = attrS(value)
	}
	if f.UserID != "" && f.ProviderID != "" {
		addFilter("providerId", f.ProviderID)
	}
	if f.Action != "" {
		addFilter("action", f.Action)
	}
	return q
}

func timeBound(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return passport.FormatTime(t)
}

// ListAuditEntries reads one page of the entries matching filter, newest
// first. See passport.AuditService.
func (s *Store) ListAuditEntries(ctx context.Context, filter passport.AuditFilter, page passport.Page) ([]*passport.AuditEntry, string, error) {
	items, next, err := s.queryPage(ctx, auditQuery(filter), page)
	if err != nil {
		return nil, "", err
	}
	out := make([]*passport.AuditEntry, len(items))
	for i, it := range items {
		out[i] = auditEntryFromItem(it)
	}
	return out, next, nil
}

func auditEntryFromItem(it item) *passport.AuditEntry {
	return &passport.AuditEntry{
		ID:         getS(it, "id"),
		Action:     getS(it, "action"),
		ProviderID: getS(it, "providerId"),
		UserID:     getS(it, "userId"),
		Timestamp:  getTime(it, "timestamp"),
		Actor:      passport.Actor{Type: getS(it, attrActorType), ID: getS(it, attrActorID)},
		Request: passport.RequestInfo{
			ID:        getS(it, attrRequestID),
			SourceIP:  getS(it, attrSourceIP),
			UserAgent: getS(it, attrUserAgent),
		},
	}
}

// batchWriteMax is BatchWriteItem's limit of items per call.
const batchWriteMax = 25

// unprocessedAttempts bounds the calls spent on one chunk's UnprocessedItems.
const unprocessedAttempts = 6

// PutAuditEntries writes entries in order, 25 to a BatchWriteItem call,
// retrying UnprocessedItems with backoff. An entry's key derives from its ID
// and its content from the change it records, so writing it twice leaves one
// identical item: redelivered stream records never double an entry.
//
// It returns how many leading entries are durably written; on error, the
// entries from that index on may or may not be, and should be written again.
func (s *Store) PutAuditEntries(ctx context.Context, entries []*passport.AuditEntry) (int, error) {
	for start := 0; start < len(entries); start += batchWriteMax {
		chunk := entries[start:min(start+batchWriteMax, len(entries))]
		requests := make([]types.WriteRequest, len(chunk))
		for i, e := range chunk {
			requests[i] = types.WriteRequest{PutRequest: &types.PutRequest{Item: s.auditItem(e)}}
		}
		if err := s.batchWrite(ctx, requests); err != nil {
			return start, err
		}
	}
	return len(entries), nil
}

func (s *Store) batchWrite(ctx context.Context, requests []types.WriteRequest) error {
	pending := map[string][]types.WriteRequest{s.cfg.Table: requests}
	for attempt := 1; ; attempt++ {
		out, err := s.db.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: pending})
		if err != nil {
			return storageError("batch write audit entries", err)
		}
		if len(out.UnprocessedItems[s.cfg.Table]) == 0 {
			return nil
		}
		if attempt == unprocessedAttempts {
			return &passport.Error{Code: passport.EUNAVAILABLE, Message: fmt.Sprintf("%d audit entries unprocessed after %d attempts", len(out.UnprocessedItems[s.cfg.Table]), attempt)}
		}
		pending = out.UnprocessedItems
		select {
		case <-ctx.Done():
			return storageError("batch write audit entries", ctx.Err())
		case <-time.After(time.Duration(25<<attempt) * time.Millisecond):
		}
	}
}

// auditItem lays out an entry: its own key, one GSI1 shard for the whole
// trail, and its provider's and user's partitions (see keys.go).
func (s *Store) auditItem(e *passport.AuditEntry) item {
	sk := passport.FormatTime(e.Timestamp) + "#" + e.ID
	it := item{
		attrPK:      attrS(auditPK(e.ID)),
		attrSK:      attrS(auditSK),
		attrKind:    attrS(KindAudit),
		attrGSI1PK:  attrS(auditShardPK(e.ID)),
		attrGSI1SK:  attrS(sk),
		"id":        attrS(e.ID),
		"action":    attrS(e.Action),
		"timestamp": attrTime(e.Timestamp),
		attrPurgeAt: attrN(e.Timestamp.Add(s.cfg.AuditRetention).Unix()),
	}
	if e.ProviderID != "" {
		it["providerId"] = attrS(e.ProviderID)
		it[attrGSI2PK], it[attrGSI2SK] = attrS(auditProviderPK(e.ProviderID)), attrS(sk)
	}
	if e.UserID != "" {
		it["userId"] = attrS(e.UserID)
		it[attrGSI3PK], it[attrGSI3SK] = attrS(auditUserPK(e.UserID)), attrS(sk)
	}
	putCaller(it, passport.Caller{Actor: e.Actor, Request: e.Request})
	return it
}

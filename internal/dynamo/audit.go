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
	gsi1KeyAttrs  = []string{attrPK, attrSK, attrGSI1PK, attrGSI1SK}
	tableKeyAttrs = []string{attrPK, attrSK}
)

// auditQuery plans the list of entries matching f: a user's copies
// (filtered on provider when both are given: one user's entries are few), a
// provider's copies, or else every shard of the trail. A time range is a
// condition on the sort key; an action is a filter.
func auditQuery(f passport.AuditFilter) *listQuery {
	q := &listQuery{name: "audit", binding: fingerprint(f.ProviderID, f.UserID, f.Action, timeBound(f.Since), timeBound(f.Until))}
	switch {
	case f.UserID != "":
		q.sources = []source{tableSource(auditUserPK(f.UserID))}
	case f.ProviderID != "":
		q.sources = []source{tableSource(auditProviderPK(f.ProviderID))}
	default:
		for shard := range auditShards {
			q.sources = append(q.sources, tableSource(auditShardPartition(shard)))
		}
	}
	q.keyAttrs = tableKeyAttrs
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

// tableSource is a partition of the base table.
func tableSource(partition string) source {
	return source{pkAttr: attrPK, skAttr: attrSK, partition: partition}
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
		ID:              getS(it, "id"),
		Action:          getS(it, "action"),
		AuthorizationID: getS(it, "authorizationId"),
		ProviderID:      getS(it, "providerId"),
		UserID:          getS(it, "userId"),
		Timestamp:       getTime(it, "timestamp"),
		Actor:           passport.Actor{Type: getS(it, attrActorType), ID: getS(it, attrActorID)},
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

// PutAuditEntries writes entries in order: each as its item on its shard
// and a copy for its provider and its user, 25 items to a BatchWriteItem
// call, retrying UnprocessedItems with backoff. An entry's keys derive from
// its ID and its content from the change it records, so writing it twice
// leaves the same items: redelivered stream records never double an entry.
//
// It returns how many leading entries are durably written; on error, the
// entries from that index on may or may not be, and should be written again.
func (s *Store) PutAuditEntries(ctx context.Context, entries []*passport.AuditEntry) (int, error) {
	var requests []types.WriteRequest
	var owner []int // owner[i] is the entry of requests[i]
	for i, e := range entries {
		for _, it := range s.auditItems(e) {
			requests = append(requests, types.WriteRequest{PutRequest: &types.PutRequest{Item: it}})
			owner = append(owner, i)
		}
	}
	for start := 0; start < len(requests); start += batchWriteMax {
		end := min(start+batchWriteMax, len(requests))
		if err := s.batchWrite(ctx, requests[start:end]); err != nil {
			return owner[start], err
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

// auditItems lays out an entry: its item on its shard, and copies under its
// provider and its user (see keys.go).
func (s *Store) auditItems(e *passport.AuditEntry) []item {
	partitions := []string{auditShardPK(e.ID)}
	if e.ProviderID != "" {
		partitions = append(partitions, auditProviderPK(e.ProviderID))
	}
	if e.UserID != "" {
		partitions = append(partitions, auditUserPK(e.UserID))
	}
	sk := passport.FormatTime(e.Timestamp) + "#" + e.ID
	items := make([]item, len(partitions))
	for i, pk := range partitions {
		it := item{
			attrPK:      attrS(pk),
			attrSK:      attrS(sk),
			attrKind:    attrS(KindAudit),
			"id":        attrS(e.ID),
			"action":    attrS(e.Action),
			"timestamp": attrTime(e.Timestamp),
			attrPurgeAt: attrN(e.Timestamp.Add(s.cfg.AuditRetention).Unix()),
		}
		if e.AuthorizationID != "" {
			it["authorizationId"] = attrS(e.AuthorizationID)
		}
		if e.ProviderID != "" {
			it["providerId"] = attrS(e.ProviderID)
		}
		if e.UserID != "" {
			it["userId"] = attrS(e.UserID)
		}
		putCaller(it, passport.Caller{Actor: e.Actor, Request: e.Request})
		items[i] = it
	}
	return items
}

package dynamo

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/passport-oss/passport/internal/passport"
)

// ListAuditEntries queries the audit partition of GSI1, newest first.
// See passport.AuditService.
func (s *Store) ListAuditEntries(ctx context.Context, page passport.Page) ([]*passport.AuditEntry, string, error) {
	items, next, err := s.queryPage(ctx, listQuery{
		name: "audit", index: gsi1, pkAttr: attrGSI1PK, partition: auditPartition,
		keyAttrs: gsi1KeyAttrs, forward: false,
	}, page)
	if err != nil {
		return nil, "", err
	}
	out := make([]*passport.AuditEntry, len(items))
	for i, it := range items {
		out[i] = &passport.AuditEntry{
			ID:         getS(it, "id"),
			Action:     getS(it, "action"),
			ProviderID: getS(it, "providerId"),
			UserID:     getS(it, "userId"),
			Timestamp:  getTime(it, "timestamp"),
		}
	}
	return out, next, nil
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

func (s *Store) auditItem(e *passport.AuditEntry) item {
	ts := passport.FormatTime(e.Timestamp)
	it := item{
		attrPK:      attrS(auditPK(e.ID)),
		attrSK:      attrS(auditSK),
		attrKind:    attrS(KindAudit),
		attrGSI1PK:  attrS(auditPartition),
		attrGSI1SK:  attrS(ts + "#" + e.ID),
		"id":        attrS(e.ID),
		"action":    attrS(e.Action),
		"timestamp": attrS(ts),
		attrPurgeAt: attrN(e.Timestamp.Add(s.cfg.AuditRetention).Unix()),
	}
	if e.ProviderID != "" {
		it["providerId"] = attrS(e.ProviderID)
	}
	if e.UserID != "" {
		it["userId"] = attrS(e.UserID)
	}
	return it
}

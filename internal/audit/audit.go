// Package audit turns the table's stream into the audit trail. The audit
// function (functions/audit-stream) receives batches of stream records from
// the event source mapping in template.yaml, which passes only provider and
// authorization changes; Handler guards against anything else as well, since
// audit items live in the same table and must never make audit items.
package audit

import (
	"context"
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/passport-oss/passport/internal/dynamo"
	"github.com/passport-oss/passport/internal/metrics"
	"github.com/passport-oss/passport/internal/passport"
)

// Writer stores audit entries.
type Writer interface {
	// PutAuditEntries writes entries in order and returns how many leading
	// entries are durably written; writing an entry twice leaves one item.
	PutAuditEntries(ctx context.Context, entries []*passport.AuditEntry) (int, error)
}

// Handler is the audit function's handler.
type Handler struct {
	Writer Writer
	Logger *slog.Logger
	// Metrics, when set, receives one CloudWatch EMF line per batch:
	// entries written, records failed, lag.
	Metrics io.Writer
}

// Handle writes one audit entry per audited record of the batch. It reports
// failures as batch item failures keyed by SequenceNumber: the first record
// it could not process, from which the event source mapping redelivers.
// Records before it are done; records after it come again, and their
// entries, keyed by eventID, are written again as the same items.
func (h *Handler) Handle(ctx context.Context, ev events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
	start := time.Now()
	var (
		entries []*passport.AuditEntry
		records []int // records[i] is the index in ev.Records of entries[i]
		failAt  = -1
		skipped int
	)
	for i := range ev.Records {
		e, err := Entry(&ev.Records[i])
		if err != nil {
			h.logger().ErrorContext(ctx, "audit record not convertible", "eventID", ev.Records[i].EventID, "sequenceNumber", ev.Records[i].Change.SequenceNumber, "error", err.Error())
			failAt = i
			break
		}
		if e == nil {
			skipped++
			continue
		}
		entries, records = append(entries, e), append(records, i)
	}
	written, err := h.Writer.PutAuditEntries(ctx, entries)
	if err != nil {
		h.logger().ErrorContext(ctx, "audit write failed", "written", written, "error", err.Error())
		failAt = records[written]
	}
	resp := events.DynamoDBEventResponse{}
	if failAt >= 0 {
		resp.BatchItemFailures = []events.DynamoDBBatchItemFailure{{ItemIdentifier: ev.Records[failAt].Change.SequenceNumber}}
	}
	h.logBatch(ctx, ev, written, skipped, failAt, time.Since(start))
	if h.Metrics != nil {
		failed := 0
		if failAt >= 0 {
			failed = len(ev.Records) - failAt
		}
		_ = metrics.AuditBatch(h.Metrics, written, failed, lagOf(ev)) // metrics never fail a batch
	}
	return resp, nil
}

func (h *Handler) logBatch(ctx context.Context, ev events.DynamoDBEvent, written, skipped, failAt int, took time.Duration) {
	attrs := []any{"records", len(ev.Records), "written", written, "skipped", skipped, "failed", failAt >= 0, "durationMs", took.Milliseconds()}
	if len(ev.Records) > 0 {
		attrs = append(attrs, "lagMs", lagOf(ev).Milliseconds())
	}
	h.logger().InfoContext(ctx, "audit batch", attrs...)
}

// lagOf is how long the batch's oldest record waited for the function.
func lagOf(ev events.DynamoDBEvent) time.Duration {
	if len(ev.Records) == 0 {
		return 0
	}
	return time.Since(ev.Records[0].Change.ApproximateCreationDateTime.Time)
}

func (h *Handler) logger() *slog.Logger {
	if h.Logger == nil {
		return slog.Default()
	}
	return h.Logger
}

// Entry returns the audit entry of one stream record, nil for a record that
// is not audited (audit items, uniqueness markers), or an error for an
// audited record it cannot read.
func Entry(r *events.DynamoDBEventRecord) (*passport.AuditEntry, error) {
	pk := stringAttr(r.Change.Keys, "PK")
	var kind string
	switch {
	case strings.HasPrefix(pk, dynamo.ProviderPrefix):
		kind = dynamo.KindProvider
	case strings.HasPrefix(pk, dynamo.AuthorizationPrefix):
		kind = dynamo.KindAuthorization
	case strings.HasPrefix(pk, dynamo.TokenReadPrefix):
		if r.EventName != string(events.DynamoDBOperationTypeInsert) {
			return nil, nil // the read's record expiring is no event
		}
		kind = dynamo.KindTokenRead
	default:
		return nil, nil
	}
	if r.EventID == "" {
		return nil, fmt.Errorf("record without eventID")
	}
	image := r.Change.NewImage
	if len(image) == 0 {
		image = r.Change.OldImage
	}
	e := &passport.AuditEntry{
		ID:        EntryID(r.EventID),
		Timestamp: r.Change.ApproximateCreationDateTime.UTC(),
	}
	switch kind {
	case dynamo.KindProvider:
		e.ProviderID = stringAttr(image, "id")
	case dynamo.KindAuthorization:
		e.AuthorizationID = stringAttr(image, "id")
		e.ProviderID, e.UserID = stringAttr(image, "providerId"), stringAttr(image, "userId")
	case dynamo.KindTokenRead:
		e.AuthorizationID = stringAttr(image, "authorizationId")
		e.ProviderID, e.UserID = stringAttr(image, "providerId"), stringAttr(image, "userId")
	}
	if e.ProviderID == "" {
		return nil, fmt.Errorf("%s record %s has no image with its ids", kind, r.EventID)
	}
	action, err := actionOf(r, kind)
	if err != nil || action == "" {
		return nil, err
	}
	e.Action = action
	switch {
	case action == passport.ActionAuthorizationExpired:
		e.Actor = passport.ServiceDynamoDB
	case len(r.Change.NewImage) > 0:
		// The writer recorded itself on the item it wrote. (A removal's old
		// image names the previous writer, not the remover: deletions must
		// record their caller by a write of their own before they remove.)
		c := dynamo.CallerOf(func(name string) string { return stringAttr(r.Change.NewImage, name) })
		e.Actor, e.Request = c.Actor, c.Request
	}
	// A creation's time is the item's own, to the millisecond; the stream's
	// approximate time has whole seconds only.
	if r.EventName == string(events.DynamoDBOperationTypeInsert) {
		if t, err := time.Parse(time.RFC3339Nano, stringAttr(image, "createdAt")); err == nil {
			e.Timestamp = t.UTC()
		}
	}
	return e, nil
}

// actionOf names the change, or "" for a record that changes nothing an
// auditor sees (a provider's delete lock, the purge of a record that had
// already ended). A removal by DynamoDB's TTL is an expiry: in AWS a REMOVE
// whose userIdentity is the DynamoDB service, in DynamoDB Local an eventName
// the SDK does not know (its TTL deletions carry no identity).
func actionOf(r *events.DynamoDBEventRecord, kind string) (string, error) {
	if kind == dynamo.KindTokenRead {
		return passport.ActionTokenRead, nil
	}
	old, new := r.Change.OldImage, r.Change.NewImage
	switch r.EventName {
	case string(events.DynamoDBOperationTypeInsert):
		return kind + ".created", nil
	case string(events.DynamoDBOperationTypeModify):
		return modification(kind, old, new), nil
	case string(events.DynamoDBOperationTypeRemove), "UNKNOWN_TO_SDK_VERSION":
		byTTL := r.EventName != string(events.DynamoDBOperationTypeRemove) ||
			(r.UserIdentity != nil && r.UserIdentity.PrincipalID == "dynamodb.amazonaws.com")
		switch {
		case has(old, "deletedAt") || has(old, "revokedAt"):
			return "", nil // a tombstone or a revoked grant purged: it had ended
		case kind == dynamo.KindAuthorization && byTTL:
			return passport.ActionAuthorizationExpired, nil
		case r.EventName == string(events.DynamoDBOperationTypeRemove):
			return kind + ".deleted", nil
		}
	}
	return "", fmt.Errorf("record %s: unexpected event %q for a %s", r.EventID, r.EventName, kind)
}

// modification names a MODIFY: a deletion (provider) or revocation
// (authorization) when that mark appears, an update when the version moved,
// nothing otherwise.
func modification(kind string, old, new map[string]events.DynamoDBAttributeValue) string {
	switch {
	case kind == dynamo.KindProvider && has(new, "deletedAt") && !has(old, "deletedAt"):
		return passport.ActionProviderDeleted
	case kind == dynamo.KindAuthorization && has(new, "revokedAt") && !has(old, "revokedAt"):
		return passport.ActionAuthorizationRevoked
	case numberAttr(new, "version") != numberAttr(old, "version"):
		return kind + ".updated"
	}
	return ""
}

func has(m map[string]events.DynamoDBAttributeValue, name string) bool {
	_, ok := m[name]
	return ok
}

func numberAttr(m map[string]events.DynamoDBAttributeValue, name string) string {
	v, ok := m[name]
	if !ok || v.DataType() != events.DataTypeNumber {
		return ""
	}
	return v.Number()
}

var entryIDEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// EntryID derives an audit entry's id from its stream record's eventID, so a
// redelivered record writes the same item again instead of a second entry.
func EntryID(eventID string) string {
	sum := sha256.Sum256([]byte("passport-audit\x00" + eventID))
	return entryIDEncoding.EncodeToString(sum[:16])
}

func stringAttr(m map[string]events.DynamoDBAttributeValue, name string) string {
	v, ok := m[name]
	if !ok || v.DataType() != events.DataTypeString {
		return ""
	}
	return v.String()
}

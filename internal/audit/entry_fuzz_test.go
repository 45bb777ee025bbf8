package audit_test

import (
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/passport-oss/passport/internal/audit"
	"github.com/passport-oss/passport/internal/dynamo"
	"github.com/passport-oss/passport/internal/passport"
)

// Bits of FuzzEntry's flags: which parts the record has.
const (
	fuzzNewImage   = 1 << iota // a NewImage
	fuzzOldImage               // an OldImage
	fuzzIdentity               // a userIdentity, with the fuzzed principal
	fuzzEndedOld               // revokedAt and deletedAt on the old image
	fuzzEndedNew               // revokedAt and deletedAt on the new image
	fuzzNewVersion             // the new image's version differs from the old's
	fuzzNumbers                // whitelisted attributes as numbers, not strings
)

// fuzzSecret marks the attributes no entry may copy.
const fuzzSecret = "SECRET-never-in-an-entry"

// FuzzEntry builds stream records from fuzzed event names, ids, keys and
// image attributes, beside attributes that must never reach the trail (the
// sealed token, the provider's client id, an arbitrary extra attribute), and
// checks that audit.Entry never panics, never returns an entry without its
// id (derived from the eventID), a known action and a provider, and fills
// each field only from the attribute its whitelist names for that item kind.
func FuzzEntry(f *testing.F) {
	at := "2026-03-05T12:00:00.123Z"
	all := uint8(fuzzNewImage | fuzzOldImage | fuzzIdentity)
	f.Add("INSERT", "e1", "PROVIDER#p1", uint8(fuzzNewImage), "p1", "", "", "", at, "user", "alice", "r1", "203.0.113.1", "curl/8", "", "note", "x")
	f.Add("INSERT", "e2", "AUTHZ#a1", uint8(fuzzNewImage), "a1", "p1", "user-1", "", at, "iam", "arn:aws:iam::1:user/x", "r2", "::1", "", "", "tokenCiphertext", "y")
	f.Add("MODIFY", "e3", "AUTHZ#a1", all|fuzzEndedNew, "a1", "p1", "user-1", "", at, "user", "bob", "", "", "", "", "", "")
	f.Add("MODIFY", "e4", "PROVIDER#p1", all|fuzzNewVersion, "p1", "", "", "", at, "", "", "", "", "", "", "", "")
	f.Add("REMOVE", "e5", "AUTHZ#a1", uint8(fuzzOldImage|fuzzIdentity), "a1", "p1", "user-1", "", at, "", "", "", "", "", "dynamodb.amazonaws.com", "", "")
	f.Add("UNKNOWN_TO_SDK_VERSION", "e6", "AUTHZ#a1", uint8(fuzzOldImage), "a1", "p1", "u", "", at, "", "", "", "", "", "", "", "")
	f.Add("REMOVE", "e7", "PROVIDER#p1", uint8(fuzzOldImage|fuzzEndedOld), "p1", "", "", "", at, "", "", "", "", "", "", "", "")
	f.Add("INSERT", "e8", "TOKENREAD#r1", uint8(fuzzNewImage), "r1", "p1", "user-1", "a1", at, "user", "agent", "r3", "10.0.0.1", "go", "", "", "")
	f.Add("REMOVE", "e9", "TOKENREAD#r1", uint8(fuzzOldImage), "r1", "p1", "user-1", "a1", at, "", "", "", "", "", "", "", "")
	f.Add("INSERT", "e10", "AUDIT#0", uint8(fuzzNewImage), "x", "p1", "", "", at, "", "", "", "", "", "", "", "")
	f.Add("INSERT", "", "AUTHZ#a1", uint8(fuzzNewImage|fuzzNumbers), "a1", "p1", "u", "", "not a time", "", "", "", "", "", "", "", "")

	f.Fuzz(func(t *testing.T, eventName, eventID, pk string, flags uint8,
		id, providerID, userID, authzID, createdAt, actorType, actorID, requestID, sourceIP, userAgent,
		principal, extraName, extraValue string) {
		attr := events.NewStringAttribute
		if flags&fuzzNumbers != 0 {
			attr = events.NewNumberAttribute
		}
		image := func(version string, ended bool) map[string]events.DynamoDBAttributeValue {
			m := map[string]events.DynamoDBAttributeValue{
				"PK": events.NewStringAttribute(pk), "SK": events.NewStringAttribute("SK"),
				"id": attr(id), "providerId": attr(providerID), "userId": attr(userID),
				"authorizationId": attr(authzID), "createdAt": attr(createdAt),
				"actorType": attr(actorType), "actorId": attr(actorID), "requestId": attr(requestID),
				"sourceIp": attr(sourceIP), "userAgent": attr(userAgent),
				"version":         events.NewNumberAttribute(version),
				"tokenCiphertext": events.NewBinaryAttribute([]byte(fuzzSecret)),
				"clientId":        events.NewStringAttribute(fuzzSecret),
				"name":            events.NewStringAttribute(fuzzSecret),
				"scopes":          events.NewListAttribute([]events.DynamoDBAttributeValue{events.NewStringAttribute(fuzzSecret)}),
			}
			if _, whitelisted := m[extraName]; !whitelisted {
				m[extraName] = events.NewStringAttribute(extraValue)
			}
			if ended {
				m["revokedAt"], m["deletedAt"] = attr(createdAt), attr(createdAt)
			}
			return m
		}
		r := events.DynamoDBEventRecord{EventID: eventID, EventName: eventName, EventSource: "aws:dynamodb"}
		r.Change.Keys = map[string]events.DynamoDBAttributeValue{"PK": events.NewStringAttribute(pk), "SK": events.NewStringAttribute("SK")}
		r.Change.ApproximateCreationDateTime = events.SecondsEpochTime{Time: time.Unix(1772712000, 0)}
		newVersion := "1"
		if flags&fuzzNewVersion != 0 {
			newVersion = "2"
		}
		if flags&fuzzNewImage != 0 {
			r.Change.NewImage = image(newVersion, flags&fuzzEndedNew != 0)
		}
		if flags&fuzzOldImage != 0 {
			r.Change.OldImage = image("1", flags&fuzzEndedOld != 0)
		}
		if flags&fuzzIdentity != 0 {
			r.UserIdentity = &events.DynamoDBUserIdentity{Type: "Service", PrincipalID: principal}
		}

		e, err := audit.Entry(&r)
		if err != nil || e == nil {
			if e != nil {
				t.Fatalf("an entry with an error: %+v, %v", e, err)
			}
			return
		}
		if e.ID == "" || e.ID != audit.EntryID(eventID) {
			t.Fatalf("entry id %q, want EntryID(%q) = %q", e.ID, eventID, audit.EntryID(eventID))
		}
		if !slices.Contains(passport.AuditActions, e.Action) {
			t.Fatalf("entry action %q is not one of %v (record %s on %s)", e.Action, passport.AuditActions, eventName, pk)
		}
		if e.ProviderID == "" {
			t.Fatalf("entry without a provider: %+v", e)
		}

		// Each field comes from its own attribute of the image the entry
		// describes (the new one, or the old one of a removal), or is empty.
		img := r.Change.NewImage
		if len(img) == 0 {
			img = r.Change.OldImage
		}
		from := func(field, got string, images []map[string]events.DynamoDBAttributeValue, names ...string) {
			t.Helper()
			if got == "" {
				return
			}
			for _, m := range images {
				for _, n := range names {
					if v, ok := m[n]; ok && v.DataType() == events.DataTypeString && v.String() == got {
						return
					}
				}
			}
			t.Fatalf("entry %s = %q, which is not the image's %v (record %s on %s)", field, got, names, eventName, pk)
		}
		var kindIDs struct{ provider, authorization, user []string }
		switch {
		case hasPrefix(pk, dynamo.ProviderPrefix):
			kindIDs.provider = []string{"id"}
		case hasPrefix(pk, dynamo.AuthorizationPrefix):
			kindIDs.provider, kindIDs.authorization, kindIDs.user = []string{"providerId"}, []string{"id"}, []string{"userId"}
		case hasPrefix(pk, dynamo.TokenReadPrefix):
			kindIDs.provider, kindIDs.authorization, kindIDs.user = []string{"providerId"}, []string{"authorizationId"}, []string{"userId"}
		default:
			t.Fatalf("an entry for an item that is not audited (PK %q): %+v", pk, e)
		}
		self := []map[string]events.DynamoDBAttributeValue{img}
		from("providerId", e.ProviderID, self, kindIDs.provider...)
		from("authorizationId", e.AuthorizationID, self, kindIDs.authorization...)
		from("userId", e.UserID, self, kindIDs.user...)
		// The caller is the writer of the new image, or DynamoDB itself.
		if e.Actor != passport.ServiceDynamoDB {
			writer := []map[string]events.DynamoDBAttributeValue{r.Change.NewImage}
			from("actor.type", e.Actor.Type, writer, "actorType")
			from("actor.id", e.Actor.ID, writer, "actorId")
		}
		writer := []map[string]events.DynamoDBAttributeValue{r.Change.NewImage}
		from("request.id", e.Request.ID, writer, "requestId")
		from("request.sourceIp", e.Request.SourceIP, writer, "sourceIp")
		from("request.userAgent", e.Request.UserAgent, writer, "userAgent")
		if !e.Timestamp.Equal(r.Change.ApproximateCreationDateTime.Time) {
			if ts, err := time.Parse(time.RFC3339Nano, createdAt); err != nil || !ts.Equal(e.Timestamp) {
				t.Fatalf("entry time %v is neither the record's nor the image's createdAt %q", e.Timestamp, createdAt)
			}
		}
	})
}

func hasPrefix(s, prefix string) bool { return len(s) >= len(prefix) && s[:len(prefix)] == prefix }

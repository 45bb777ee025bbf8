package dynamo

import "github.com/passport-oss/passport/internal/passport"

// Attributes of the caller behind an item's latest change. Writes set them
// on the item itself, so the stream image carries them to the audit
// function. They are flat strings rather than a map: DynamoDB Local's stream
// mangles an empty map attribute, and a missing field is simply absent.
const (
	attrActorType = "actorType"
	attrActorID   = "actorId"
	attrRequestID = "requestId"
	attrSourceIP  = "sourceIp"
	attrUserAgent = "userAgent"
)

// maxUserAgent bounds what a client's User-Agent adds to every item.
const maxUserAgent = 512

// putCaller records c on it, leaving out empty fields.
func putCaller(it item, c passport.Caller) {
	ua := c.Request.UserAgent
	if len(ua) > maxUserAgent {
		ua = ua[:maxUserAgent]
	}
	for name, v := range map[string]string{
		attrActorType: c.Actor.Type,
		attrActorID:   c.Actor.ID,
		attrRequestID: c.Request.ID,
		attrSourceIP:  c.Request.SourceIP,
		attrUserAgent: ua,
	} {
		if v != "" {
			it[name] = attrS(v)
		}
	}
}

// CallerOf reads the caller recorded on an item image, as the audit function
// sees it: exported for internal/audit, which reads stream images.
func CallerOf(get func(name string) string) passport.Caller {
	return passport.Caller{
		Actor: passport.Actor{Type: get(attrActorType), ID: get(attrActorID)},
		Request: passport.RequestInfo{
			ID:        get(attrRequestID),
			SourceIP:  get(attrSourceIP),
			UserAgent: get(attrUserAgent),
		},
	}
}

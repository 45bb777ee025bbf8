package kmsenvelope

// CacheLen reports the number of cached data keys (tests only).
func (e *Envelope) CacheLen() (seal, open int) {
	return e.sealCache.len(), e.openCache.len()
}

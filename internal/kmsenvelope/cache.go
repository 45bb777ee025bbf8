package kmsenvelope

import (
	"container/list"
	"crypto/sha256"
	"encoding/binary"
	"sync"
	"time"
)

// keyCache is a bounded LRU of plaintext data keys, each usable for at most
// ttl (from when it was fetched from KMS) and maxUses operations. Keys are
// copied out under the lock, so an entry can be zeroed on eviction while
// another goroutine is still using its own copy. A nil *keyCache is a
// disabled cache.
type keyCache struct {
	ttl        time.Duration
	maxUses    int
	maxEntries int
	now        func() time.Time

	mu      sync.Mutex
	entries map[[sha256.Size]byte]*list.Element // -> *cacheEntry
	lru     *list.List                          // front = most recently used
}

type cacheEntry struct {
	id           [sha256.Size]byte
	key          [dataKeyLen]byte
	encryptedKey []byte // Seal cache only
	created      time.Time
	uses         int
}

func newKeyCache(ttl time.Duration, maxUses, maxEntries int, now func() time.Time) *keyCache {
	return &keyCache{
		ttl:        ttl,
		maxUses:    maxUses,
		maxEntries: maxEntries,
		now:        now,
		entries:    make(map[[sha256.Size]byte]*list.Element),
		lru:        list.New(),
	}
}

// sealCacheID identifies a Seal cache entry: one data key per context.
func sealCacheID(canonCtx []byte) [sha256.Size]byte {
	h := sha256.New()
	h.Write([]byte("seal\x00"))
	h.Write(canonCtx)
	var id [sha256.Size]byte
	h.Sum(id[:0])
	return id
}

// openCacheID identifies an Open cache entry: (encrypted data key, context).
func openCacheID(encryptedKey, canonCtx []byte) [sha256.Size]byte {
	h := sha256.New()
	h.Write([]byte("open\x00"))
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(encryptedKey)))
	h.Write(n[:])
	h.Write(encryptedKey)
	h.Write(canonCtx)
	var id [sha256.Size]byte
	h.Sum(id[:0])
	return id
}

// get copies a live key for id into dst and counts one use. It returns the
// cached encrypted data key (nil for Open entries) and whether it hit.
// Expired entries are evicted; an entry that reaches maxUses is evicted
// right after this (last) use.
func (c *keyCache) get(id [sha256.Size]byte, dst *[dataKeyLen]byte) ([]byte, bool) {
	if c == nil {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.entries[id]
	if !ok {
		return nil, false
	}
	e := el.Value.(*cacheEntry)
	if c.expired(e, c.now()) {
		c.removeLocked(el)
		return nil, false
	}
	*dst = e.key
	edk := e.encryptedKey
	e.uses++
	if e.uses >= c.maxUses {
		c.removeLocked(el)
	} else {
		c.lru.MoveToFront(el)
	}
	return edk, true
}

// put caches key (copied) for id after it was used once by the caller.
func (c *keyCache) put(id [sha256.Size]byte, key *[dataKeyLen]byte, encryptedKey []byte) {
	if c == nil || c.maxUses <= 1 {
		return
	}
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.entries[id]; ok {
		c.removeLocked(old)
	}
	// Drop expired entries first (cheap: this only runs after a KMS call),
	// then the least recently used ones until there is room.
	for el := c.lru.Back(); el != nil; {
		prev := el.Prev()
		if c.expired(el.Value.(*cacheEntry), now) {
			c.removeLocked(el)
		}
		el = prev
	}
	for c.lru.Len() >= c.maxEntries {
		c.removeLocked(c.lru.Back())
	}
	e := &cacheEntry{id: id, key: *key, encryptedKey: encryptedKey, created: now, uses: 1}
	c.entries[id] = c.lru.PushFront(e)
}

// purge zeroes and drops every entry.
func (c *keyCache) purge() {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for el := c.lru.Back(); el != nil; el = c.lru.Back() {
		c.removeLocked(el)
	}
}

func (c *keyCache) len() int {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}

func (c *keyCache) expired(e *cacheEntry, now time.Time) bool {
	age := now.Sub(e.created)
	return age >= c.ttl || age < 0 // a clock that went backwards also expires
}

func (c *keyCache) removeLocked(el *list.Element) {
	e := c.lru.Remove(el).(*cacheEntry)
	delete(c.entries, e.id)
	clear(e.key[:])
}

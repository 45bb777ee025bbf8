// Package kmsenvelope seals small secrets (OAuth tokens) with envelope
// encryption under an AWS KMS key.
//
// Each Seal encrypts the plaintext with AES-256-GCM under a data key from
// KMS GenerateDataKey (AES_256), using a random 96-bit nonce. The caller's
// encryption context (for Passport: authorizationId, providerId, userId) is
// sent to KMS as EncryptionContext on GenerateDataKey and Decrypt, and is
// also bound into the GCM additional data in a canonical, unambiguous
// encoding, so a blob copied onto another item (another context) fails to
// open. The result is one self-describing, versioned byte slice suitable
// for a DynamoDB B attribute; see format.go for the layout.
//
// Plaintext data keys are cached in memory (bounded by age, number of uses
// and number of entries) to avoid a KMS round trip per operation. They are
// zeroed when evicted and never appear in errors or logs. This package does
// not log.
//
// An *Envelope is safe for concurrent use.
package kmsenvelope

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

// KMS is the subset of *kms.Client this package uses, with the same
// signatures, so that tests and callers can wrap or fake it.
type KMS interface {
	GenerateDataKey(ctx context.Context, params *kms.GenerateDataKeyInput, optFns ...func(*kms.Options)) (*kms.GenerateDataKeyOutput, error)
	Decrypt(ctx context.Context, params *kms.DecryptInput, optFns ...func(*kms.Options)) (*kms.DecryptOutput, error)
}

var _ KMS = (*kms.Client)(nil)

// Defaults applied by New for zero Options fields.
const (
	DefaultCacheTTL        = 5 * time.Minute
	DefaultCacheMaxUses    = 1000
	DefaultCacheMaxEntries = 1000

	// maxCacheMaxUses keeps random-nonce collisions under one data key
	// negligible (NIST SP 800-38D: at most 2^32 random-nonce invocations).
	maxCacheMaxUses = 1 << 32
)

// Options configures an Envelope.
type Options struct {
	// KeyID is the KMS key (key ID, key ARN, alias name or alias ARN) used
	// for GenerateDataKey. It is also passed as KeyId on Decrypt, so blobs
	// only open under this key: switching to a different KMS key needs a
	// re-encryption migration (KMS automatic rotation of the same key is
	// transparent). Required.
	KeyID string

	// CacheTTL is how long a data key fetched from KMS may be reused.
	// 0 means DefaultCacheTTL (5 min); a negative value disables caching.
	CacheTTL time.Duration

	// CacheMaxUses is how many Seal (or Open) operations one cached data key
	// may serve, counting the one that fetched it. 0 means
	// DefaultCacheMaxUses (1000); 1 or a negative value disables caching.
	// Values above 2^32 are rejected.
	CacheMaxUses int

	// CacheMaxEntries caps the number of cached data keys in each of the
	// Seal and Open caches (least recently used evicted first). 0 means
	// DefaultCacheMaxEntries (1000); negative disables caching.
	CacheMaxEntries int

	// Now returns the current time; nil means time.Now. Tests inject a fake
	// clock to exercise CacheTTL.
	Now func() time.Time
}

// Envelope seals and opens blobs. Create it with New; it is safe for
// concurrent use. The zero value is not usable.
type Envelope struct {
	client    KMS
	keyID     string
	sealCache *keyCache // per canonical context: data key + its encrypted form
	openCache *keyCache // per (encrypted data key, canonical context)
}

// New returns an Envelope that uses client and opts.KeyID.
//
// Errors (all *Error with Kind ErrBadInput): client is nil, opts.KeyID is
// empty, or opts.CacheMaxUses exceeds 2^32. New does not call KMS.
func New(client KMS, opts Options) (*Envelope, error) {
	if client == nil {
		return nil, badInput("new", "KMS client is nil")
	}
	if opts.KeyID == "" {
		return nil, badInput("new", "KeyID is empty")
	}
	if uint64(max(opts.CacheMaxUses, 0)) > maxCacheMaxUses {
		return nil, badInput("new", "CacheMaxUses exceeds 2^32")
	}
	ttl, uses, entries, now := opts.CacheTTL, opts.CacheMaxUses, opts.CacheMaxEntries, opts.Now
	if ttl == 0 {
		ttl = DefaultCacheTTL
	}
	if uses == 0 {
		uses = DefaultCacheMaxUses
	}
	if entries == 0 {
		entries = DefaultCacheMaxEntries
	}
	if now == nil {
		now = time.Now
	}
	e := &Envelope{client: client, keyID: opts.KeyID}
	if ttl > 0 && uses > 1 && entries > 0 {
		e.sealCache = newKeyCache(ttl, uses, entries, now)
		e.openCache = newKeyCache(ttl, uses, entries, now)
	}
	return e, nil
}

// String describes the Envelope without any key material.
func (e *Envelope) String() string {
	return "kmsenvelope.Envelope{KeyID: " + e.keyID + "}"
}

// Seal encrypts plaintext under a data key bound to encCtx and returns a
// version-1 blob. plaintext may be empty and is not retained; encCtx must be
// the same map contents later given to Open.
//
// Errors (*Error):
//   - ErrBadInput: encCtx is empty, has an empty key or value, is not valid
//     UTF-8 or encodes to more than MaxContextLen bytes; plaintext is longer
//     than MaxPlaintextLen. KMS is not called.
//   - ErrUnavailable: KMS GenerateDataKey failed transiently (network,
//     timeout, throttling, KMS internal error, ctx cancelled). Retryable.
//   - ErrKMS: KMS refused GenerateDataKey (e.g. AccessDeniedException,
//     NotFoundException, DisabledException) or returned an unusable response.
func (e *Envelope) Seal(ctx context.Context, plaintext []byte, encCtx map[string]string) ([]byte, error) {
	const op = "seal"
	canon, reason := canonicalContext(encCtx)
	if reason != "" {
		return nil, badInput(op, reason)
	}
	if len(plaintext) > MaxPlaintextLen {
		return nil, badInput(op, "plaintext too large")
	}

	var key [dataKeyLen]byte
	defer clear(key[:])
	id := sealCacheID(canon)
	edk, ok := e.sealCache.get(id, &key)
	if !ok {
		out, err := e.client.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{
			KeyId:             &e.keyID,
			KeySpec:           types.DataKeySpecAes256,
			EncryptionContext: encCtx,
		})
		if err != nil {
			return nil, classifyKMSError(op, "GenerateDataKey", err)
		}
		if len(out.Plaintext) != dataKeyLen || len(out.CiphertextBlob) == 0 || len(out.CiphertextBlob) > MaxEncryptedKeyLen {
			clear(out.Plaintext)
			return nil, &Error{Op: op, Kind: ErrKMS, KMSOperation: "GenerateDataKey", Reason: "unexpected response shape"}
		}
		copy(key[:], out.Plaintext)
		clear(out.Plaintext)
		edk = out.CiphertextBlob
		e.sealCache.put(id, &key, edk)
	}

	aead, err := newGCM(&key)
	if err != nil {
		return nil, &Error{Op: op, Kind: ErrKMS, Reason: "cannot use data key"}
	}
	blob := make([]byte, 0, Overhead+len(edk)+len(plaintext))
	blob = append(blob, Version1, byte(len(edk)>>8), byte(len(edk)))
	blob = append(blob, edk...)
	header := blob[:headerLen+len(edk)]
	nonce := blob[len(blob) : len(blob)+nonceLen]
	rand.Read(nonce) // never returns an error (crypto/rand, Go 1.24+)
	blob = blob[:len(blob)+nonceLen]
	blob = aead.Seal(blob, nonce, plaintext, additionalData(header, canon))
	return blob, nil
}

// Open verifies and decrypts a blob produced by Seal with the same encCtx
// and returns the plaintext (a new slice the caller owns).
//
// Errors (*Error):
//   - ErrBadInput: encCtx is invalid (same rules as Seal). KMS is not called.
//   - ErrInvalidCiphertext: the blob is empty, truncated, oversized, of an
//     unknown version, tampered with anywhere, or was sealed under another
//     encryption context or KMS key (KMS InvalidCiphertextException /
//     IncorrectKeyException, or GCM authentication failure). Malformed blobs
//     are rejected before KMS is called. Never panics on any input.
//   - ErrUnavailable: KMS Decrypt failed transiently (network, timeout,
//     throttling, KMS internal error, ctx cancelled). Retryable.
//   - ErrKMS: KMS refused Decrypt for a non-ciphertext reason (e.g.
//     AccessDeniedException, DisabledException, KMSInvalidStateException).
func (e *Envelope) Open(ctx context.Context, blob []byte, encCtx map[string]string) ([]byte, error) {
	const op = "open"
	canon, reason := canonicalContext(encCtx)
	if reason != "" {
		return nil, badInput(op, reason)
	}
	p, reason := parseBlob(blob)
	if reason != "" {
		return nil, invalidCiphertext(op, reason)
	}

	var key [dataKeyLen]byte
	defer clear(key[:])
	id := openCacheID(p.encryptedKey, canon)
	if _, ok := e.openCache.get(id, &key); !ok {
		out, err := e.client.Decrypt(ctx, &kms.DecryptInput{
			KeyId:             &e.keyID,
			CiphertextBlob:    p.encryptedKey,
			EncryptionContext: encCtx,
		})
		if err != nil {
			return nil, classifyKMSError(op, "Decrypt", err)
		}
		if len(out.Plaintext) != dataKeyLen {
			// KMS decrypted something that is not one of our data keys.
			clear(out.Plaintext)
			return nil, &Error{Op: op, Kind: ErrInvalidCiphertext, KMSOperation: "Decrypt", Reason: "encrypted data key is not an AES-256 data key"}
		}
		copy(key[:], out.Plaintext)
		clear(out.Plaintext)
		// Authenticate before caching, so a forged blob whose data key
		// happens to decrypt cannot occupy the cache.
		plaintext, err := openGCM(&key, p, canon)
		if err != nil {
			return nil, invalidCiphertext(op, "authentication failed")
		}
		e.openCache.put(id, &key, nil)
		return plaintext, nil
	}
	plaintext, err := openGCM(&key, p, canon)
	if err != nil {
		return nil, invalidCiphertext(op, "authentication failed")
	}
	return plaintext, nil
}

// Purge zeroes and drops every cached data key. Later calls fetch fresh keys
// from KMS. Safe to call concurrently with Seal and Open.
func (e *Envelope) Purge() {
	e.sealCache.purge()
	e.openCache.purge()
}

func newGCM(key *[dataKeyLen]byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key[:])
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

func openGCM(key *[dataKeyLen]byte, p parsedBlob, canon []byte) ([]byte, error) {
	aead, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	pt, err := aead.Open(nil, p.nonce, p.sealed, additionalData(p.header, canon))
	if err != nil {
		return nil, err
	}
	if pt == nil {
		pt = []byte{}
	}
	return pt, nil
}

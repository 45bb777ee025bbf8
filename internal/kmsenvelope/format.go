package kmsenvelope

import (
	"encoding/binary"
	"slices"
	"unicode/utf8"
)

// Blob format, version 1 (all integers big-endian):
//
//	offset  size  field
//	0       1     version (0x01)
//	1       2     n = length of the KMS-encrypted data key, 1..MaxEncryptedKeyLen
//	3       n     encrypted data key (KMS CiphertextBlob)
//	3+n     12    AES-GCM nonce (random per Seal)
//	15+n    >=16  AES-256-GCM ciphertext || 16-byte tag
//
// The GCM additional data is
//
//	aadLabel || blob[0:3+n] || canonicalContext(encCtx)
//
// so the version, the encrypted data key and the full encryption context are
// all authenticated: a blob moved to another item (other context) or edited
// anywhere fails to open.
const (
	// Version1 is the only blob version this package writes and reads.
	Version1 byte = 0x01

	// MaxEncryptedKeyLen is the largest encrypted data key accepted (the KMS
	// CiphertextBlob limit).
	MaxEncryptedKeyLen = 6144

	// MaxPlaintextLen bounds what Seal accepts (OAuth tokens are far smaller;
	// a DynamoDB item is at most 400 KB).
	MaxPlaintextLen = 64 << 10

	// MaxContextLen bounds the canonical encoding of an encryption context.
	MaxContextLen = 8 << 10

	dataKeyLen = 32 // AES-256
	nonceLen   = 12
	tagLen     = 16
	headerLen  = 1 + 2

	// Overhead is the blob size minus the plaintext size, excluding the
	// encrypted data key.
	Overhead = headerLen + nonceLen + tagLen
)

var aadLabel = []byte("passport/kmsenvelope/v1\x00")

// canonicalContext encodes encCtx unambiguously: the entry count, then each
// entry sorted by key as uint32 len(key) | key | uint32 len(value) | value.
// It validates the context (non-empty, non-empty keys and values, valid
// UTF-8, bounded size) and returns a short fixed reason when it is invalid.
func canonicalContext(encCtx map[string]string) ([]byte, string) {
	if len(encCtx) == 0 {
		return nil, "encryption context is empty"
	}
	keys := make([]string, 0, len(encCtx))
	size := 4
	for k, v := range encCtx {
		if k == "" {
			return nil, "encryption context has an empty key"
		}
		if v == "" {
			return nil, "encryption context has an empty value"
		}
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			return nil, "encryption context is not valid UTF-8"
		}
		size += 8 + len(k) + len(v)
		if size > MaxContextLen {
			return nil, "encryption context too large"
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([]byte, 0, size)
	out = binary.BigEndian.AppendUint32(out, uint32(len(keys)))
	for _, k := range keys {
		v := encCtx[k]
		out = binary.BigEndian.AppendUint32(out, uint32(len(k)))
		out = append(out, k...)
		out = binary.BigEndian.AppendUint32(out, uint32(len(v)))
		out = append(out, v...)
	}
	return out, ""
}

// parsedBlob holds sub-slices of a version-1 blob.
type parsedBlob struct {
	header       []byte // version | len | encrypted data key
	encryptedKey []byte
	nonce        []byte
	sealed       []byte // ciphertext || tag
}

// parseBlob splits a blob; it never panics and returns a fixed reason on
// failure.
func parseBlob(b []byte) (parsedBlob, string) {
	if len(b) == 0 {
		return parsedBlob{}, "blob is empty"
	}
	if b[0] != Version1 {
		return parsedBlob{}, "unknown blob version"
	}
	if len(b) < headerLen {
		return parsedBlob{}, "blob truncated"
	}
	n := int(binary.BigEndian.Uint16(b[1:3]))
	if n == 0 || n > MaxEncryptedKeyLen {
		return parsedBlob{}, "encrypted data key length out of range"
	}
	if len(b) < headerLen+n+nonceLen+tagLen {
		return parsedBlob{}, "blob truncated"
	}
	if len(b)-headerLen-n-nonceLen-tagLen > MaxPlaintextLen {
		return parsedBlob{}, "blob too large"
	}
	p := parsedBlob{
		header:       b[:headerLen+n],
		encryptedKey: b[headerLen : headerLen+n],
		nonce:        b[headerLen+n : headerLen+n+nonceLen],
		sealed:       b[headerLen+n+nonceLen:],
	}
	return p, ""
}

// additionalData builds aadLabel || header || canonical context.
func additionalData(header, canonCtx []byte) []byte {
	aad := make([]byte, 0, len(aadLabel)+len(header)+len(canonCtx))
	aad = append(aad, aadLabel...)
	aad = append(aad, header...)
	return append(aad, canonCtx...)
}

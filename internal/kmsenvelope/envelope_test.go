package kmsenvelope_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/smithy-go"

	"github.com/passport-oss/passport/internal/kmsenvelope"
)

func TestRoundTrip(t *testing.T) {
	client, keyID := stackKMS(t)
	env := MustNew(t, client, kmsenvelope.Options{KeyID: keyID})
	encCtx := authzCtx("authz-"+uniq(t), "github", "user-1")

	tests := []struct {
		name      string
		plaintext []byte
	}{
		{"token", []byte("gho_16C7e42F292c6912E7710c838347Ae178B4a")},
		{"empty", []byte{}},
		{"nil", nil},
		{"one byte", []byte{0}},
		{"binary", randBytes(t, 777)},
		{"max size", bytes.Repeat([]byte("x"), kmsenvelope.MaxPlaintextLen)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			blob := MustSeal(t, env, tt.plaintext, encCtx)
			if got, want := blob[0], kmsenvelope.Version1; got != want {
				t.Errorf("version byte = %#x, want %#x", got, want)
			}
			edkLen := int(binary.BigEndian.Uint16(blob[1:3]))
			if got, want := len(blob), kmsenvelope.Overhead+edkLen+len(tt.plaintext); got != want {
				t.Errorf("len(blob) = %d, want %d", got, want)
			}
			if len(tt.plaintext) >= 8 && bytes.Contains(blob, tt.plaintext) {
				t.Errorf("blob contains the plaintext")
			}
			// A new map with the same contents opens it (order is irrelevant),
			// both on a warm Envelope and on a fresh one (cold cache).
			for _, e := range []*kmsenvelope.Envelope{env, MustNew(t, client, kmsenvelope.Options{KeyID: keyID})} {
				got := MustOpen(t, e, blob, cloneCtx(encCtx))
				if !bytes.Equal(got, tt.plaintext) {
					t.Fatalf("Open = %q, want %q", got, tt.plaintext)
				}
				if got == nil {
					t.Fatalf("Open returned nil slice, want non-nil")
				}
			}
		})
	}
}

func TestSealUsesFreshNonce(t *testing.T) {
	client, keyID := stackKMS(t)
	env := MustNew(t, client, kmsenvelope.Options{KeyID: keyID})
	encCtx := authzCtx("authz-"+uniq(t), "github", "user-1")
	seen := map[string]bool{}
	for range 100 {
		blob := MustSeal(t, env, []byte("same token"), encCtx)
		n := int(binary.BigEndian.Uint16(blob[1:3]))
		nonce := string(blob[3+n : 3+n+12])
		if seen[nonce] {
			t.Fatalf("nonce repeated under a cached data key")
		}
		seen[nonce] = true
	}
}

func TestKMSRequests(t *testing.T) {
	client, keyID := stackKMS(t)
	var genIn *kms.GenerateDataKeyInput
	var decIn *kms.DecryptInput
	c := &countingKMS{
		inner:     client,
		beforeGen: func(in *kms.GenerateDataKeyInput) error { genIn = in; return nil },
		beforeDec: func(in *kms.DecryptInput) error { decIn = in; return nil },
	}
	env := MustNew(t, c, kmsenvelope.Options{KeyID: keyID})
	encCtx := authzCtx("authz-"+uniq(t), "google", "user-2")
	MustOpen(t, env, MustSeal(t, env, []byte("tok"), encCtx), encCtx)

	if got, want := aws.ToString(genIn.KeyId), keyID; got != want {
		t.Errorf("GenerateDataKey KeyId = %q, want %q", got, want)
	}
	if got, want := genIn.KeySpec, types.DataKeySpecAes256; got != want {
		t.Errorf("GenerateDataKey KeySpec = %q, want %q", got, want)
	}
	if got, want := fmt.Sprint(genIn.EncryptionContext), fmt.Sprint(encCtx); got != want {
		t.Errorf("GenerateDataKey EncryptionContext = %v, want %v", got, want)
	}
	if got, want := aws.ToString(decIn.KeyId), keyID; got != want {
		t.Errorf("Decrypt KeyId = %q, want %q", got, want)
	}
	if got, want := fmt.Sprint(decIn.EncryptionContext), fmt.Sprint(encCtx); got != want {
		t.Errorf("Decrypt EncryptionContext = %v, want %v", got, want)
	}
}

func TestOpenWrongContext(t *testing.T) {
	client, keyID := stackKMS(t)
	id := uniq(t)
	sealCtx := authzCtx("authz-"+id, "github", "user-"+id)
	sealer := MustNew(t, client, kmsenvelope.Options{KeyID: keyID})
	blob := MustSeal(t, sealer, []byte("secret token"), sealCtx)

	with := func(k, v string) map[string]string {
		m := cloneCtx(sealCtx)
		m[k] = v
		return m
	}
	without := func(k string) map[string]string {
		m := cloneCtx(sealCtx)
		delete(m, k)
		return m
	}
	tests := []struct {
		name   string
		encCtx map[string]string
	}{
		{"other authorizationId", with("authorizationId", "authz-other")},
		{"other providerId", with("providerId", "google")},
		{"other userId", with("userId", "user-other")},
		{"value case", with("providerId", "GitHub")},
		{"extra key", with("tenant", "t1")},
		{"missing authorizationId", without("authorizationId")},
		{"missing providerId", without("providerId")},
		{"missing userId", without("userId")},
		{"renamed key", func() map[string]string { m := without("userId"); m["userID"] = sealCtx["userId"]; return m }()},
		// local-kms concatenates key||value for its own AAD, so it accepts
		// this one; the canonical encoding in our GCM AAD must still refuse.
		{"key/value boundary shift", func() map[string]string {
			m := without("userId")
			m["userIdu"] = strings.TrimPrefix(sealCtx["userId"], "u")
			return m
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Cold cache, and warm cache (the right context was opened first).
			cold := MustNew(t, client, kmsenvelope.Options{KeyID: keyID})
			warm := MustNew(t, client, kmsenvelope.Options{KeyID: keyID})
			MustOpen(t, warm, blob, sealCtx)
			for _, e := range []*kmsenvelope.Envelope{cold, warm, sealer} {
				pt, err := e.Open(context.Background(), blob, tt.encCtx)
				wantKind(t, err, kmsenvelope.ErrInvalidCiphertext)
				if pt != nil {
					t.Fatalf("Open returned plaintext with an error")
				}
			}
		})
	}
}

// TestAADBindsContext shows the GCM additional data alone rejects a context
// swap: the wrapper hands KMS the original context (as if KMS ignored it),
// so the data key decrypts, and only the AAD check is left to fail.
func TestAADBindsContext(t *testing.T) {
	client, keyID := stackKMS(t)
	sealCtx := authzCtx("authz-"+uniq(t), "github", "user-1")
	env := MustNew(t, client, kmsenvelope.Options{KeyID: keyID})
	blob := MustSeal(t, env, []byte("secret token"), sealCtx)

	c := &countingKMS{inner: client, beforeDec: func(in *kms.DecryptInput) error {
		in.EncryptionContext = cloneCtx(sealCtx)
		return nil
	}}
	lying := MustNew(t, c, kmsenvelope.Options{KeyID: keyID})
	_, err := lying.Open(context.Background(), blob, authzCtx(sealCtx["authorizationId"], "github", "user-2"))
	wantKind(t, err, kmsenvelope.ErrInvalidCiphertext)
	if _, dec := c.calls(); dec != 1 {
		t.Fatalf("Decrypt calls = %d, want 1 (KMS must have accepted)", dec)
	}
}

func TestOpenTampered(t *testing.T) {
	client, keyID := stackKMS(t)
	encCtx := authzCtx("authz-"+uniq(t), "slack", "user-1")
	sealer := MustNew(t, client, kmsenvelope.Options{KeyID: keyID})
	blob := MustSeal(t, sealer, []byte("xoxb-secret-token-value"), encCtx)
	n := int(binary.BigEndian.Uint16(blob[1:3]))
	nonceAt, ctAt, tagAt := 3+n, 3+n+12, len(blob)-16

	regions := []struct {
		name string
		at   int
	}{
		{"version", 0},
		{"length high byte", 1},
		{"length low byte", 2},
		{"encrypted key first byte", 3},
		{"encrypted key middle", 3 + n/2},
		{"encrypted key last byte", 3 + n - 1},
		{"nonce first byte", nonceAt},
		{"nonce last byte", nonceAt + 11},
		{"ciphertext first byte", ctAt},
		{"ciphertext last byte", tagAt - 1},
		{"tag first byte", tagAt},
		{"tag last byte", len(blob) - 1},
	}
	for _, r := range regions {
		for _, mask := range []byte{0x01, 0x80, 0xff} {
			t.Run(fmt.Sprintf("%s^%#x", r.name, mask), func(t *testing.T) {
				bad := bytes.Clone(blob)
				bad[r.at] ^= mask
				cold := MustNew(t, client, kmsenvelope.Options{KeyID: keyID})
				for _, e := range []*kmsenvelope.Envelope{cold, sealer} {
					pt, err := e.Open(context.Background(), bad, encCtx)
					wantKind(t, err, kmsenvelope.ErrInvalidCiphertext)
					if pt != nil {
						t.Fatalf("Open returned plaintext with an error")
					}
				}
			})
		}
	}
	// The untouched blob still opens.
	MustOpen(t, sealer, blob, encCtx)
}

func TestOpenMalformed(t *testing.T) {
	client, keyID := stackKMS(t)
	encCtx := authzCtx("authz-"+uniq(t), "github", "user-1")
	c := &countingKMS{inner: client}
	env := MustNew(t, c, kmsenvelope.Options{KeyID: keyID})
	blob := MustSeal(t, env, []byte("a token"), encCtx)
	n := int(binary.BigEndian.Uint16(blob[1:3]))
	minLen := 3 + n + 12 + 16

	// Rejected before any KMS call.
	noKMS := map[string][]byte{
		"nil":                 nil,
		"empty":               {},
		"version only":        {kmsenvelope.Version1},
		"version 0":           append([]byte{0}, blob[1:]...),
		"version 2":           append([]byte{2}, blob[1:]...),
		"zero key length":     {1, 0, 0, 1, 2, 3},
		"key length too big":  append([]byte{1, 0xff, 0xff}, make([]byte, 70000)...),
		"key length past end": {1, 0x10, 0x00, 1, 2, 3},
		"one byte short":      blob[:minLen-1],
		"garbage":             randBytes(t, 300),
		"too large":           append(bytes.Clone(blob[:minLen]), make([]byte, kmsenvelope.MaxPlaintextLen+1)...),
	}
	for i := range minLen {
		noKMS[fmt.Sprintf("truncated to %d", i)] = blob[:i]
	}
	for name, b := range noKMS {
		if name == "garbage" && len(b) > 0 && b[0] == kmsenvelope.Version1 {
			b[0] = 0x7f
		}
		_, dec0 := c.calls()
		pt, err := env.Open(context.Background(), b, encCtx)
		wantKindNamed(t, name, err, kmsenvelope.ErrInvalidCiphertext)
		if pt != nil {
			t.Fatalf("%s: Open returned plaintext with an error", name)
		}
		if _, dec := c.calls(); dec != dec0 {
			t.Errorf("%s: Open called KMS Decrypt; malformed blobs must be rejected first", name)
		}
	}

	// Well-formed header but body cut or extended: KMS is consulted (or the
	// cache), GCM refuses.
	for i := minLen; i < len(blob); i++ {
		_, err := env.Open(context.Background(), blob[:i], encCtx)
		wantKindNamed(t, fmt.Sprintf("body truncated to %d", i), err, kmsenvelope.ErrInvalidCiphertext)
	}
	_, err := env.Open(context.Background(), append(bytes.Clone(blob), 0), encCtx)
	wantKindNamed(t, "trailing byte", err, kmsenvelope.ErrInvalidCiphertext)
}

func wantKindNamed(t *testing.T, name string, err, kind error) {
	t.Helper()
	if !errors.Is(err, kind) {
		t.Fatalf("%s: got error %v, want %v", name, err, kind)
	}
}

func TestOpenUnderOtherKey(t *testing.T) {
	client, keyID := stackKMS(t)
	encCtx := authzCtx("authz-"+uniq(t), "github", "user-1")
	blob := MustSeal(t, MustNew(t, client, kmsenvelope.Options{KeyID: keyID}), []byte("tok"), encCtx)
	other := MustNew(t, client, kmsenvelope.Options{KeyID: MustCreateKey(t)})
	_, err := other.Open(context.Background(), blob, encCtx)
	wantKind(t, err, kmsenvelope.ErrInvalidCiphertext)
}

func TestBadInput(t *testing.T) {
	// No KMS call is made for bad input, so a fake is enough here.
	c := &countingKMS{inner: newFakeKMS()}
	env := MustNew(t, c, kmsenvelope.Options{KeyID: "fake-key"})
	good := authzCtx("a", "p", "u")
	blob := MustSeal(t, env, []byte("tok"), good)
	gen0, dec0 := c.calls()

	badCtxs := map[string]map[string]string{
		"nil context":       nil,
		"empty context":     {},
		"empty key":         {"": "x", "userId": "u"},
		"empty value":       {"authorizationId": "", "userId": "u"},
		"invalid UTF-8 key": {"user\xffId": "u"},
		"invalid UTF-8 val": {"userId": "u\xc3"},
		"too large":         {"userId": strings.Repeat("u", kmsenvelope.MaxContextLen)},
	}
	for name, encCtx := range badCtxs {
		t.Run(name, func(t *testing.T) {
			_, err := env.Seal(context.Background(), []byte("tok"), encCtx)
			wantKind(t, err, kmsenvelope.ErrBadInput)
			_, err = env.Open(context.Background(), blob, encCtx)
			wantKind(t, err, kmsenvelope.ErrBadInput)
		})
	}
	t.Run("plaintext too large", func(t *testing.T) {
		_, err := env.Seal(context.Background(), make([]byte, kmsenvelope.MaxPlaintextLen+1), good)
		wantKind(t, err, kmsenvelope.ErrBadInput)
	})
	if gen, dec := c.calls(); gen != gen0 || dec != dec0 {
		t.Errorf("KMS calls for bad input: GenerateDataKey +%d, Decrypt +%d; want none", gen-gen0, dec-dec0)
	}

	newTests := []struct {
		name   string
		client kmsenvelope.KMS
		opts   kmsenvelope.Options
	}{
		{"nil client", nil, kmsenvelope.Options{KeyID: "k"}},
		{"empty key id", newFakeKMS(), kmsenvelope.Options{}},
		{"max uses above 2^32", newFakeKMS(), kmsenvelope.Options{KeyID: "k", CacheMaxUses: 1<<32 + 1}},
	}
	for _, tt := range newTests {
		t.Run("New "+tt.name, func(t *testing.T) {
			e, err := kmsenvelope.New(tt.client, tt.opts)
			wantKind(t, err, kmsenvelope.ErrBadInput)
			if e != nil {
				t.Fatalf("New returned an Envelope with an error")
			}
		})
	}
}

func TestSealCache(t *testing.T) {
	client, keyID := stackKMS(t)
	c := &countingKMS{inner: client}
	env := MustNew(t, c, kmsenvelope.Options{KeyID: keyID})
	encCtx := authzCtx("authz-"+uniq(t), "github", "user-1")

	const n = 50
	blobs := make([][]byte, n)
	for i := range n {
		blobs[i] = MustSeal(t, env, fmt.Appendf(nil, "token-%d", i), encCtx)
	}
	if gen, _ := c.calls(); gen != 1 {
		t.Fatalf("GenerateDataKey calls after %d seals with one context = %d, want 1", n, gen)
	}
	// Another context gets its own data key.
	MustSeal(t, env, []byte("x"), authzCtx("authz-other-"+uniq(t), "github", "user-1"))
	if gen, _ := c.calls(); gen != 2 {
		t.Fatalf("GenerateDataKey calls after a second context = %d, want 2", gen)
	}
	// All blobs open, on a fresh Envelope: they share one encrypted data
	// key, so one Decrypt serves them all.
	c2 := &countingKMS{inner: client}
	opener := MustNew(t, c2, kmsenvelope.Options{KeyID: keyID})
	for i, b := range blobs {
		if got, want := string(MustOpen(t, opener, b, encCtx)), fmt.Sprintf("token-%d", i); got != want {
			t.Fatalf("Open = %q, want %q", got, want)
		}
	}
	if _, dec := c2.calls(); dec != 1 {
		t.Fatalf("Decrypt calls for %d blobs under one data key = %d, want 1", n, dec)
	}
}

func TestOpenCache(t *testing.T) {
	client, keyID := stackKMS(t)
	encCtx := authzCtx("authz-"+uniq(t), "github", "user-1")
	blob := MustSeal(t, MustNew(t, client, kmsenvelope.Options{KeyID: keyID}), []byte("tok"), encCtx)

	c := &countingKMS{inner: client}
	env := MustNew(t, c, kmsenvelope.Options{KeyID: keyID})
	for range 50 {
		MustOpen(t, env, blob, encCtx)
	}
	if gen, dec := c.calls(); gen != 0 || dec != 1 {
		t.Fatalf("after 50 opens: GenerateDataKey = %d, Decrypt = %d; want 0, 1", gen, dec)
	}
}

func TestCacheTTL(t *testing.T) {
	client, keyID := stackKMS(t)
	const ttl = time.Minute
	encCtx := authzCtx("authz-"+uniq(t), "github", "user-1")

	t.Run("seal", func(t *testing.T) {
		clock := newFakeClock()
		c := &countingKMS{inner: client}
		env := MustNew(t, c, kmsenvelope.Options{KeyID: keyID, CacheTTL: ttl, Now: clock.Now})
		MustSeal(t, env, []byte("a"), encCtx)
		clock.Advance(ttl - time.Nanosecond)
		MustSeal(t, env, []byte("b"), encCtx)
		if gen, _ := c.calls(); gen != 1 {
			t.Fatalf("GenerateDataKey calls just before TTL = %d, want 1", gen)
		}
		clock.Advance(time.Nanosecond)
		MustSeal(t, env, []byte("c"), encCtx)
		if gen, _ := c.calls(); gen != 2 {
			t.Fatalf("GenerateDataKey calls at TTL = %d, want 2", gen)
		}
	})
	t.Run("open", func(t *testing.T) {
		clock := newFakeClock()
		blob := MustSeal(t, MustNew(t, client, kmsenvelope.Options{KeyID: keyID}), []byte("a"), encCtx)
		c := &countingKMS{inner: client}
		env := MustNew(t, c, kmsenvelope.Options{KeyID: keyID, CacheTTL: ttl, Now: clock.Now})
		MustOpen(t, env, blob, encCtx)
		clock.Advance(ttl - time.Nanosecond)
		MustOpen(t, env, blob, encCtx)
		if _, dec := c.calls(); dec != 1 {
			t.Fatalf("Decrypt calls just before TTL = %d, want 1", dec)
		}
		clock.Advance(time.Nanosecond)
		MustOpen(t, env, blob, encCtx)
		if _, dec := c.calls(); dec != 2 {
			t.Fatalf("Decrypt calls at TTL = %d, want 2", dec)
		}
	})
}

func TestCacheMaxUses(t *testing.T) {
	client, keyID := stackKMS(t)
	encCtx := authzCtx("authz-"+uniq(t), "github", "user-1")
	const uses, n = 3, 7 // 7 operations with 3 uses per key -> 3 KMS calls

	c := &countingKMS{inner: client}
	env := MustNew(t, c, kmsenvelope.Options{KeyID: keyID, CacheMaxUses: uses})
	var blob []byte
	for i := range n {
		blob = MustSeal(t, env, []byte("tok"), encCtx)
		if got, want := c.gen.Load(), int64(i/uses+1); got != want {
			t.Fatalf("after seal %d: GenerateDataKey calls = %d, want %d", i+1, got, want)
		}
	}
	opener := MustNew(t, c, kmsenvelope.Options{KeyID: keyID, CacheMaxUses: uses})
	for i := range n {
		MustOpen(t, opener, blob, encCtx)
		if got, want := c.dec.Load(), int64(i/uses+1); got != want {
			t.Fatalf("after open %d: Decrypt calls = %d, want %d", i+1, got, want)
		}
	}
}

func TestCacheDisabled(t *testing.T) {
	client, keyID := stackKMS(t)
	encCtx := authzCtx("authz-"+uniq(t), "github", "user-1")
	for _, opts := range []kmsenvelope.Options{
		{KeyID: keyID, CacheTTL: -1},
		{KeyID: keyID, CacheMaxUses: 1},
		{KeyID: keyID, CacheMaxUses: -1},
		{KeyID: keyID, CacheMaxEntries: -1},
	} {
		c := &countingKMS{inner: client}
		env := MustNew(t, c, opts)
		for range 3 {
			MustOpen(t, env, MustSeal(t, env, []byte("tok"), encCtx), encCtx)
		}
		if gen, dec := c.calls(); gen != 3 || dec != 3 {
			t.Errorf("%+v: GenerateDataKey = %d, Decrypt = %d; want 3, 3", opts, gen, dec)
		}
		if s, o := env.CacheLen(); s != 0 || o != 0 {
			t.Errorf("%+v: cache sizes = %d, %d; want 0, 0", opts, s, o)
		}
	}
}

func TestCacheBounded(t *testing.T) {
	client, keyID := stackKMS(t)
	c := &countingKMS{inner: client}
	env := MustNew(t, c, kmsenvelope.Options{KeyID: keyID, CacheMaxEntries: 2})
	id := uniq(t)
	ctxs := []map[string]string{
		authzCtx("a1-"+id, "p", "u"), authzCtx("a2-"+id, "p", "u"), authzCtx("a3-"+id, "p", "u"),
	}
	var blobs [][]byte
	for _, m := range ctxs {
		blob := MustSeal(t, env, []byte("tok"), m)
		blobs = append(blobs, blob)
		MustOpen(t, env, blob, m)
	}
	if s, o := env.CacheLen(); s != 2 || o != 2 {
		t.Fatalf("cache sizes = %d, %d; want 2, 2", s, o)
	}
	// ctxs[0] was least recently used and evicted: it costs a new call.
	gen0, dec0 := c.calls()
	MustSeal(t, env, []byte("tok"), ctxs[2])
	MustOpen(t, env, blobs[2], ctxs[2])
	if gen, dec := c.calls(); gen != gen0 || dec != dec0 {
		t.Fatalf("most recent entry was not cached")
	}
	MustSeal(t, env, []byte("tok"), ctxs[0])
	MustOpen(t, env, blobs[0], ctxs[0])
	if gen, dec := c.calls(); gen != gen0+1 || dec != dec0+1 {
		t.Fatalf("evicted entry: GenerateDataKey +%d, Decrypt +%d; want +1, +1", gen-gen0, dec-dec0)
	}

	env.Purge()
	if s, o := env.CacheLen(); s != 0 || o != 0 {
		t.Fatalf("after Purge cache sizes = %d, %d; want 0, 0", s, o)
	}
}

func TestConcurrent(t *testing.T) {
	client, keyID := stackKMS(t)
	// Small limits so that eviction (and zeroing) races with use.
	for _, opts := range []kmsenvelope.Options{
		{KeyID: keyID},
		{KeyID: keyID, CacheMaxUses: 3, CacheMaxEntries: 2},
	} {
		t.Run(fmt.Sprintf("maxUses=%d,maxEntries=%d", opts.CacheMaxUses, opts.CacheMaxEntries), func(t *testing.T) {
			env := MustNew(t, client, opts)
			id := uniq(t)
			const workers, iters = 12, 25
			var wg sync.WaitGroup
			errs := make(chan error, workers*iters)
			for w := range workers {
				wg.Go(func() {
					encCtx := authzCtx(fmt.Sprintf("a%d-%s", w%3, id), "p", "u")
					for i := range iters {
						want := fmt.Appendf(nil, "token-%d-%d", w, i)
						blob, err := env.Seal(context.Background(), want, encCtx)
						if err != nil {
							errs <- err
							return
						}
						got, err := env.Open(context.Background(), blob, encCtx)
						if err != nil {
							errs <- err
							return
						}
						if !bytes.Equal(got, want) {
							errs <- fmt.Errorf("Open = %q, want %q", got, want)
							return
						}
						if i%10 == 0 {
							env.Purge()
						}
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
		})
	}
}

func TestKMSErrorMapping(t *testing.T) {
	const secretMsg = "SERVICE-MESSAGE-MUST-NOT-LEAK"
	tests := []struct {
		name string
		err  error
		// wantSeal is the kind for GenerateDataKey failing, wantOpen for Decrypt.
		wantSeal, wantOpen error
	}{
		{"throttling", &smithy.GenericAPIError{Code: "ThrottlingException", Message: secretMsg}, kmsenvelope.ErrUnavailable, kmsenvelope.ErrUnavailable},
		{"kms internal", &types.KMSInternalException{Message: aws.String(secretMsg)}, kmsenvelope.ErrUnavailable, kmsenvelope.ErrUnavailable},
		{"dependency timeout", &types.DependencyTimeoutException{Message: aws.String(secretMsg)}, kmsenvelope.ErrUnavailable, kmsenvelope.ErrUnavailable},
		{"key unavailable", &types.KeyUnavailableException{Message: aws.String(secretMsg)}, kmsenvelope.ErrUnavailable, kmsenvelope.ErrUnavailable},
		{"deadline", context.DeadlineExceeded, kmsenvelope.ErrUnavailable, kmsenvelope.ErrUnavailable},
		{"network", errors.New("dial tcp 127.0.0.1:1: connect: connection refused"), kmsenvelope.ErrUnavailable, kmsenvelope.ErrUnavailable},
		{"access denied", &smithy.GenericAPIError{Code: "AccessDeniedException", Message: secretMsg}, kmsenvelope.ErrKMS, kmsenvelope.ErrKMS},
		{"not found", &types.NotFoundException{Message: aws.String(secretMsg)}, kmsenvelope.ErrKMS, kmsenvelope.ErrKMS},
		{"disabled", &types.DisabledException{Message: aws.String(secretMsg)}, kmsenvelope.ErrKMS, kmsenvelope.ErrKMS},
		{"invalid state", &types.KMSInvalidStateException{Message: aws.String(secretMsg)}, kmsenvelope.ErrKMS, kmsenvelope.ErrKMS},
		{"invalid ciphertext", &types.InvalidCiphertextException{Message: aws.String(secretMsg)}, kmsenvelope.ErrKMS, kmsenvelope.ErrInvalidCiphertext},
		{"incorrect key", &types.IncorrectKeyException{Message: aws.String(secretMsg)}, kmsenvelope.ErrKMS, kmsenvelope.ErrInvalidCiphertext},
	}
	encCtx := authzCtx("a", "p", "u")
	blob := MustSeal(t, MustNew(t, newFakeKMS(), kmsenvelope.Options{KeyID: "fake-key"}), []byte("tok"), encCtx)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &countingKMS{
				inner:     newFakeKMS(),
				beforeGen: func(*kms.GenerateDataKeyInput) error { return tt.err },
				beforeDec: func(*kms.DecryptInput) error { return tt.err },
			}
			env := MustNew(t, c, kmsenvelope.Options{KeyID: "fake-key"})
			_, err := env.Seal(context.Background(), []byte("tok"), encCtx)
			wantKind(t, err, tt.wantSeal)
			if !errors.Is(err, tt.err) {
				t.Errorf("Seal error does not wrap the cause: %v", err)
			}
			if strings.Contains(err.Error(), secretMsg) {
				t.Errorf("Seal error text carries the service message: %q", err)
			}
			_, err = env.Open(context.Background(), blob, encCtx)
			wantKind(t, err, tt.wantOpen)
			if strings.Contains(err.Error(), secretMsg) {
				t.Errorf("Open error text carries the service message: %q", err)
			}
		})
	}
}

// TestUnreachableKMS uses a real SDK client pointed at a closed port with
// retries off.
func TestUnreachableKMS(t *testing.T) {
	client := kms.New(kms.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String("http://127.0.0.1:1"),
		Credentials:  credentials.NewStaticCredentialsProvider("x", "x", ""),
		Retryer:      aws.NopRetryer{},
	})
	env := MustNew(t, client, kmsenvelope.Options{KeyID: "alias/passport"})
	encCtx := authzCtx("a", "p", "u")
	_, err := env.Seal(context.Background(), []byte("tok"), encCtx)
	wantKind(t, err, kmsenvelope.ErrUnavailable)

	blob := MustSeal(t, MustNew(t, newFakeKMS(), kmsenvelope.Options{KeyID: "fake-key"}), []byte("tok"), encCtx)
	_, err = env.Open(context.Background(), blob, encCtx)
	wantKind(t, err, kmsenvelope.ErrUnavailable)
}

func TestContextCancelled(t *testing.T) {
	client, keyID := stackKMS(t)
	env := MustNew(t, client, kmsenvelope.Options{KeyID: keyID})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := env.Seal(ctx, []byte("tok"), authzCtx("a-"+uniq(t), "p", "u"))
	wantKind(t, err, kmsenvelope.ErrUnavailable)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error does not wrap context.Canceled: %v", err)
	}
}

func TestDisabledKeyIsKMSError(t *testing.T) {
	client, _ := stackKMS(t)
	keyID := MustCreateKey(t)
	if _, err := client.DisableKey(context.Background(), &kms.DisableKeyInput{KeyId: aws.String(keyID)}); err != nil {
		t.Fatalf("DisableKey: %v", err)
	}
	env := MustNew(t, client, kmsenvelope.Options{KeyID: keyID})
	_, err := env.Seal(context.Background(), []byte("tok"), authzCtx("a", "p", "u"))
	wantKind(t, err, kmsenvelope.ErrKMS)
	var e *kmsenvelope.Error
	if errors.As(err, &e); e.KMSCode != "DisabledException" {
		t.Fatalf("KMSCode = %q, want DisabledException", e.KMSCode)
	}
}

func TestNoSecretsInErrorsOrString(t *testing.T) {
	client, keyID := stackKMS(t)
	const marker = "PLAINTEXT-MARKER-d41d8cd9"
	env := MustNew(t, client, kmsenvelope.Options{KeyID: keyID})
	encCtx := authzCtx("authz-CTXVALUE-"+uniq(t), "github", "user-1")
	blob := MustSeal(t, env, []byte(marker), encCtx)
	n := int(binary.BigEndian.Uint16(blob[1:3]))
	edk := string(blob[3 : 3+n])

	tampered := bytes.Clone(blob)
	tampered[len(tampered)-1] ^= 1
	var errs []error
	_, err := env.Open(context.Background(), tampered, encCtx)
	errs = append(errs, err)
	_, err = env.Open(context.Background(), blob, authzCtx("authz-CTXVALUE-other", "github", "user-1"))
	errs = append(errs, err)
	_, err = env.Seal(context.Background(), []byte(marker), map[string]string{"userId": "CTXVALUE\xff"})
	errs = append(errs, err)
	for _, err := range errs {
		if err == nil {
			t.Fatal("want an error")
		}
		for _, s := range []string{marker, "CTXVALUE", edk} {
			if strings.Contains(err.Error(), s) || strings.Contains(fmt.Sprintf("%+v", err), s) {
				t.Errorf("error %q leaks %q", err, s)
			}
		}
	}
	if s := fmt.Sprint(env); strings.Contains(s, marker) || strings.Contains(s, edk) {
		t.Errorf("String() leaks: %q", s)
	}
}

// TestAliasKeyID: deployments name the key by alias; Decrypt gets the same
// alias as KeyId.
func TestAliasKeyID(t *testing.T) {
	client, keyID := stackKMS(t)
	alias := "alias/passport-test-" + uniq(t)
	if _, err := client.CreateAlias(context.Background(), &kms.CreateAliasInput{AliasName: aws.String(alias), TargetKeyId: aws.String(keyID)}); err != nil {
		t.Fatalf("CreateAlias: %v", err)
	}
	t.Cleanup(func() {
		client.DeleteAlias(context.Background(), &kms.DeleteAliasInput{AliasName: aws.String(alias)})
	})
	encCtx := authzCtx("authz-"+uniq(t), "github", "user-1")
	blob := MustSeal(t, MustNew(t, client, kmsenvelope.Options{KeyID: alias}), []byte("tok"), encCtx)
	// Opens by alias and by key ARN alike.
	for _, k := range []string{alias, keyID} {
		if got, want := string(MustOpen(t, MustNew(t, client, kmsenvelope.Options{KeyID: k}), blob, encCtx)), "tok"; got != want {
			t.Fatalf("Open with KeyID %q = %q, want %q", k, got, want)
		}
	}
}

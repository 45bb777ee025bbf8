package kmsenvelope_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/passport-oss/passport/internal/kmsenvelope"
)

// fuzzCtx and fuzzPlaintexts match the seed corpus in testdata/fuzz/FuzzOpen,
// whose valid blobs were sealed with fakeKMS (fixed master key).
var (
	fuzzCtx        = map[string]string{"authorizationId": "authz-1", "providerId": "github", "userId": "user-1"}
	fuzzPlaintexts = [][]byte{[]byte("gho_fuzzseedtoken"), []byte("runtime-seed"), {}}
)

// FuzzOpen feeds arbitrary blobs to Open. It uses the in-memory fakeKMS so
// it runs without the local-kms stack and fast enough to fuzz; the blob
// parsing and GCM code under test are the same. Open must never panic, must
// fail only with ErrInvalidCiphertext, and may succeed only on an authentic
// blob.
func FuzzOpen(f *testing.F) {
	env := MustNew(f, newFakeKMS(), kmsenvelope.Options{KeyID: "fake-key"})
	f.Add(MustSeal(f, env, []byte("runtime-seed"), fuzzCtx))
	f.Add(MustSeal(f, env, []byte{}, fuzzCtx))
	f.Add([]byte{})
	f.Add([]byte{kmsenvelope.Version1, 0x00})
	f.Add([]byte{kmsenvelope.Version1, 0xff, 0xff})

	f.Fuzz(func(t *testing.T, blob []byte) {
		in := bytes.Clone(blob)
		pt, err := env.Open(context.Background(), blob, fuzzCtx)
		if !bytes.Equal(in, blob) {
			t.Fatalf("Open modified its input")
		}
		if err != nil {
			if !errors.Is(err, kmsenvelope.ErrInvalidCiphertext) {
				t.Fatalf("Open error = %v, want ErrInvalidCiphertext", err)
			}
			if pt != nil {
				t.Fatalf("Open returned plaintext with an error")
			}
			return
		}
		for _, want := range fuzzPlaintexts {
			if bytes.Equal(pt, want) {
				return
			}
		}
		t.Fatalf("Open accepted a blob that was never sealed: plaintext %q", pt)
	})
}

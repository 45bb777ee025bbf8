package kmsenvelope_test

import (
	"context"
	"testing"

	"github.com/passport-oss/passport/internal/kmsenvelope"
)

// The benchmarks run against local-kms, but with warm caches no KMS call is
// made inside the loop: they measure the per-operation cost of a cache hit.

func BenchmarkSeal(b *testing.B) {
	client, keyID := stackKMS(b)
	env := MustNew(b, client, kmsenvelope.Options{KeyID: keyID, CacheMaxUses: 1 << 30})
	encCtx := authzCtx("authz-bench-"+uniq(b), "github", "user-1")
	token := []byte("gho_16C7e42F292c6912E7710c838347Ae178B4a")
	MustSeal(b, env, token, encCtx) // warm the cache
	ctx := context.Background()
	b.SetBytes(int64(len(token)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := env.Seal(ctx, token, encCtx); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpen(b *testing.B) {
	client, keyID := stackKMS(b)
	env := MustNew(b, client, kmsenvelope.Options{KeyID: keyID, CacheMaxUses: 1 << 30})
	encCtx := authzCtx("authz-bench-"+uniq(b), "github", "user-1")
	token := []byte("gho_16C7e42F292c6912E7710c838347Ae178B4a")
	blob := MustSeal(b, env, token, encCtx)
	MustOpen(b, env, blob, encCtx) // warm the cache
	ctx := context.Background()
	b.SetBytes(int64(len(token)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := env.Open(ctx, blob, encCtx); err != nil {
			b.Fatal(err)
		}
	}
}

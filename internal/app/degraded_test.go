package app_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/passport-oss/passport/internal/dynamo"
	"github.com/passport-oss/passport/internal/faults"
	"github.com/passport-oss/passport/internal/kmsenvelope"
	"github.com/passport-oss/passport/internal/localapp"
	"github.com/passport-oss/passport/internal/passport"
	"github.com/passport-oss/passport/internal/testenv"
)

// closedPort returns the URL of a loopback port nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	ln.Close()
	return url
}

// sealer is the token vault as it was while KMS answered: it stores the
// grant the degraded stack is then asked to read.
func sealer(t *testing.T) dynamo.Config {
	t.Helper()
	client, keyID := testenv.KMS(t)
	env, err := kmsenvelope.New(client, kmsenvelope.Options{KeyID: keyID})
	if err != nil {
		t.Fatal(err)
	}
	return dynamo.Config{Sealer: env}
}

// With KMS unreachable, storing or reading a token answers 503 with
// Retry-After and changes nothing, while registering and listing providers
// and reading the audit trail keep working: degraded, not down.
func TestKMSUnreachableDegradesTokensOnly(t *testing.T) {
	for _, tt := range []struct {
		name  string
		stack func(t *testing.T) *stack
	}{
		{"closed port", func(t *testing.T) *stack {
			// Every function's KMS client goes to a port nothing listens on:
			// connections are refused, as with KMS down or its endpoint
			// unreachable from the VPC.
			t.Setenv("AWS_ENDPOINT_URL_KMS", closedPort(t))
			return mustStack(t)
		}},
		{"every KMS call dropped", func(t *testing.T) *stack {
			tr := faults.New(nil, 1, faults.Rule{Op: "KMS.*", Kind: faults.Drop, Rate: 1})
			return mustStackWith(t, localapp.LocalOptions{HTTPClient: func(string) aws.HTTPClient { return tr.Client() }})
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			vault := sealer(t) // before the stack: its KMS client must reach KMS
			s := tt.stack(t)
			vault.Table = s.table
			store := dynamo.New(s.db, vault)

			// Token-free operations work.
			created := s.send("POST", "/api/v1/passport/providers", providerBody("degraded"))
			if created.status != 201 {
				t.Fatalf("POST providers with KMS down: %d %s", created.status, created.raw)
			}
			providerID := created.data["id"].(string)
			if got := s.send("GET", "/api/v1/passport/providers", ""); got.status != 200 || !strings.Contains(got.raw, providerID) {
				t.Errorf("GET providers with KMS down: %d %.300s", got.status, got.raw)
			}

			// A grant stored while KMS answered, to read now.
			grant := &passport.Authorization{ProviderID: providerID, UserID: "stored-before", Scopes: []string{"repo"},
				Token: "gho_before", ExpiresAt: time.Now().Add(time.Hour)}
			if err := store.CreateAuthorization(context.Background(), grant); err != nil {
				t.Fatal(err)
			}

			// Storing and reading tokens answer 503 with Retry-After.
			stored := s.send("POST", "/api/v1/passport/authorizations", authorizationBody(providerID, "stored-during", "gho_during"))
			read := s.send("GET", "/api/v1/passport/authorizations/"+grant.ID+"/token", "")
			for what, a := range map[string]answer{"POST authorizations": stored, "GET token": read} {
				if a.status != 503 || a.okOr503() != nil {
					t.Errorf("%s with KMS down: %d (Retry-After %q) %s, want 503 with Retry-After", what, a.status, a.retryAfter, a.raw)
				}
			}

			// The audit trail reads, and shows the provider's registration;
			// the refused grant and the refused read left nothing.
			entries := s.mustEventually(t, func() (string, bool) {
				a := s.send("GET", "/api/v1/passport/audit?providerId="+providerID, "")
				return fmt.Sprintf("%d %.300s", a.status, a.raw), a.status == 200 && strings.Contains(a.raw, passport.ActionProviderCreated) &&
					strings.Contains(a.raw, passport.ActionAuthorizationCreated)
			})
			if strings.Contains(entries, passport.ActionTokenRead) {
				t.Errorf("a refused token read was audited: %s", entries)
			}
			for _, it := range testenv.Items(t, s.db, s.table) {
				if pk := str(it, "PK"); strings.HasPrefix(pk, dynamo.TokenReadPrefix) || str(it, "userId") == "stored-during" {
					t.Errorf("a refused request left %s", pk)
				}
			}
		})
	}
}

// mustEventually polls check until it holds (the audit trail follows the
// stream within about a second) and returns its last description.
func (s *stack) mustEventually(t *testing.T, check func() (string, bool)) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, ok := check()
		if ok {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("still not so after 30s: %s", got)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

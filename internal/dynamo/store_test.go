package dynamo_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/passport-oss/passport/internal/dynamo"
	"github.com/passport-oss/passport/internal/kmsenvelope"
	"github.com/passport-oss/passport/internal/passport"
	"github.com/passport-oss/passport/internal/testenv"
)

// fixture is a Store on a fresh table of DynamoDB Local, sealing tokens with
// local-kms, with every AWS call counted at the wire.
type fixture struct {
	store *dynamo.Store
	db    *dynamodb.Client
	table string
	calls *testenv.CallCounter
	now   time.Time
}

func mustFixture(t *testing.T) *fixture {
	t.Helper()
	calls := &testenv.CallCounter{}
	cfg := testenv.AWSConfig(t, &http.Client{Transport: calls})
	testenv.Require(t, "AWS_ENDPOINT_URL_DYNAMODB")
	db := dynamodb.NewFromConfig(cfg)
	f := &fixture{db: db, table: testenv.NewTable(t, db), calls: calls, now: time.Date(2026, 3, 5, 12, 0, 0, 0, time.UTC)}
	vault := mustSealer(t)
	f.store = dynamo.New(db, dynamo.Config{
		Table:  f.table,
		Sealer: vault,
		Opener: vault.(dynamo.TokenOpener),
		Now:    func() time.Time { return f.now },
	})
	calls.Take()
	return f
}

func mustSealer(t *testing.T) dynamo.TokenSealer {
	t.Helper()
	client, keyID := testenv.KMS(t)
	env, err := kmsenvelope.New(client, kmsenvelope.Options{KeyID: keyID})
	if err != nil {
		t.Fatal(err)
	}
	return env
}

func newProvider(name string) *passport.Provider {
	return &passport.Provider{
		Name:        name,
		Type:        "oauth2",
		ClientID:    "Iv1.abc123def456",
		Scopes:      []string{"repo", "user", "read:org"},
		RedirectURI: "https://app.example.com/auth/callback",
	}
}

func (f *fixture) mustCreateProvider(t *testing.T, name string) *passport.Provider {
	t.Helper()
	p := newProvider(name)
	if err := f.store.CreateProvider(context.Background(), p); err != nil {
		t.Fatalf("create provider %s: %v", name, err)
	}
	return p
}

func newAuthorization(providerID string) *passport.Authorization {
	return &passport.Authorization{
		ProviderID: providerID,
		UserID:     "user-abc",
		Scopes:     []string{"repo", "user"},
		Token:      "gho_xxxxxxxxxxxx",
		ExpiresAt:  time.Date(2026, 6, 5, 12, 0, 0, 0, time.UTC),
	}
}

func assertCode(t *testing.T, err error, want string) {
	t.Helper()
	if got := passport.ErrorCode(err); got != want {
		t.Fatalf("error code = %q (%v), want %q", got, err, want)
	}
}

func TestCreateProvider(t *testing.T) {
	f := mustFixture(t)
	p := f.mustCreateProvider(t, "github")
	if len(p.ID) < 20 || strings.ContainsAny(p.ID, "/+=") {
		t.Errorf("id %q is not a long URL-safe id", p.ID)
	}
	if !p.CreatedAt.Equal(f.now) {
		t.Errorf("createdAt = %v, want %v", p.CreatedAt, f.now)
	}
	got, next, err := f.store.ListProviders(context.Background(), passport.Page{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || next != "" {
		t.Fatalf("list = %d providers, next %q; want 1, none", len(got), next)
	}
	if fmt.Sprintf("%+v", got[0]) != fmt.Sprintf("%+v", p) {
		t.Errorf("listed %+v, want %+v", got[0], p)
	}
}

func TestCreateProvider_NameTakenIgnoringCase(t *testing.T) {
	f := mustFixture(t)
	f.mustCreateProvider(t, "github")
	before := len(testenv.Items(t, f.db, f.table))
	err := f.store.CreateProvider(context.Background(), newProvider("GitHub"))
	assertCode(t, err, passport.ECONFLICT)
	if after := len(testenv.Items(t, f.db, f.table)); after != before {
		t.Errorf("items = %d after the conflict, want %d", after, before)
	}
}

func TestCreateProvider_InvalidWritesNothing(t *testing.T) {
	f := mustFixture(t)
	p := newProvider("github")
	p.RedirectURI = "http://evil.example/cb"
	assertCode(t, f.store.CreateProvider(context.Background(), p), passport.EINVALID)
	if calls := f.calls.Take(); len(calls) != 0 {
		t.Errorf("calls = %v, want none", calls)
	}
	if n := len(testenv.Items(t, f.db, f.table)); n != 0 {
		t.Errorf("items = %d, want 0", n)
	}
}

// 50 registrations of one name at once: exactly one wins, the rest conflict.
func TestCreateProvider_ConcurrentSameName(t *testing.T) {
	f := mustFixture(t)
	const n = 50
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			errs[i] = f.store.CreateProvider(context.Background(), newProvider("Slack"))
		})
	}
	wg.Wait()
	codes := map[string]int{}
	for _, err := range errs {
		codes[passport.ErrorCode(err)]++
	}
	if codes[""] != 1 || codes[passport.ECONFLICT] != n-1 {
		t.Fatalf("outcomes = %v, want 1 success and %d conflicts", codes, n-1)
	}
	list, _, err := f.store.ListProviders(context.Background(), passport.Page{})
	if err != nil || len(list) != 1 {
		t.Fatalf("providers = %d (%v), want 1", len(list), err)
	}
}

func TestListProviders_PagesInCreationOrder(t *testing.T) {
	f := mustFixture(t)
	var want []string
	for i := range 5 {
		f.now = f.now.Add(time.Millisecond)
		want = append(want, f.mustCreateProvider(t, "p"+strconv.Itoa(i)).ID)
	}
	var got []string
	var pages int
	page := passport.Page{Limit: 2}
	for {
		list, next, err := f.store.ListProviders(context.Background(), page)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, p := range list {
			got = append(got, p.ID)
		}
		if next == "" {
			break
		}
		page.Cursor = next
	}
	if fmt.Sprint(got) != fmt.Sprint(want) || pages != 3 {
		t.Fatalf("ids = %v in %d pages, want %v in 3", got, pages, want)
	}
}

func TestListProviders_RejectsForeignCursors(t *testing.T) {
	f := mustFixture(t)
	for i := range 3 {
		f.mustCreateProvider(t, "p"+strconv.Itoa(i))
	}
	_, next, err := f.store.ListProviders(context.Background(), passport.Page{Limit: 1})
	if err != nil || next == "" {
		t.Fatalf("first page: next %q, err %v", next, err)
	}
	// A providers cursor is not an audit cursor.
	_, _, err = f.store.ListAuditEntries(context.Background(), passport.AuditFilter{}, passport.Page{Cursor: next})
	assertCode(t, err, passport.EINVALID)
	// A cursor edited by hand (here: another position) fails its signature.
	payload, sig, _ := strings.Cut(next, ".")
	raw, _ := base64.RawURLEncoding.DecodeString(payload)
	edited := base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(raw), `"v":1`, `"v":1 `, 1))) + "." + sig
	for _, c := range []string{"garbage", "eyJ2IjoxfQ", strings.Repeat("A", 5000), edited, payload} {
		_, _, err := f.store.ListProviders(context.Background(), passport.Page{Cursor: c})
		assertCode(t, err, passport.EINVALID)
	}
}

func TestCreateAuthorization(t *testing.T) {
	f := mustFixture(t)
	p := f.mustCreateProvider(t, "github")
	a := newAuthorization(p.ID)
	if err := f.store.CreateAuthorization(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	if a.ID == "" || a.ID == p.ID || !a.CreatedAt.Equal(f.now) {
		t.Errorf("id %q createdAt %v", a.ID, a.CreatedAt)
	}
	var stored map[string]types.AttributeValue
	for _, it := range testenv.Items(t, f.db, f.table) {
		if pk := it["PK"].(*types.AttributeValueMemberS).Value; pk == "AUTHZ#"+a.ID {
			stored = it
		}
	}
	if stored == nil {
		t.Fatal("authorization item not found")
	}
	if _, ok := stored["token"]; ok {
		t.Error("item has a plaintext token attribute")
	}
	if strings.Contains(string(stored["tokenCiphertext"].(*types.AttributeValueMemberB).Value), "gho_") {
		t.Error("tokenCiphertext holds the plaintext")
	}
	wantPurge := a.ExpiresAt.Add(dynamo.DefaultAuthorizationRetention).Unix()
	if got := stored["purgeAt"].(*types.AttributeValueMemberN).Value; got != strconv.FormatInt(wantPurge, 10) {
		t.Errorf("purgeAt = %s, want %d", got, wantPurge)
	}
}

// A grant stored already expired stays a retention window from storage.
func TestCreateAuthorization_AlreadyExpiredKeepsItsRetention(t *testing.T) {
	f := mustFixture(t)
	p := f.mustCreateProvider(t, "github")
	a := newAuthorization(p.ID)
	a.ExpiresAt = f.now.AddDate(-1, 0, 0)
	if err := f.store.CreateAuthorization(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	want := strconv.FormatInt(f.now.Add(dynamo.DefaultAuthorizationRetention).Unix(), 10)
	for _, it := range testenv.Items(t, f.db, f.table) {
		if it["PK"].(*types.AttributeValueMemberS).Value == "AUTHZ#"+a.ID {
			if got := it["purgeAt"].(*types.AttributeValueMemberN).Value; got != want {
				t.Errorf("purgeAt = %s, want %s (stored + 30 days)", got, want)
			}
			return
		}
	}
	t.Fatal("authorization not stored")
}

func TestCreateAuthorization_UnknownProvider(t *testing.T) {
	f := mustFixture(t)
	err := f.store.CreateAuthorization(context.Background(), newAuthorization("nope"))
	assertCode(t, err, passport.ENOTFOUND)
	if got, want := passport.ErrorMessage(err), "Provider not found"; got != want {
		t.Errorf("message = %q, want %q", got, want)
	}
	if n := len(testenv.Items(t, f.db, f.table)); n != 0 {
		t.Errorf("items = %d, want 0", n)
	}
}

func TestCreateAuthorization_ScopeNotOffered(t *testing.T) {
	f := mustFixture(t)
	p := f.mustCreateProvider(t, "github")
	a := newAuthorization(p.ID)
	a.Scopes = []string{"repo", "admin:org", "gist"}
	err := f.store.CreateAuthorization(context.Background(), a)
	assertCode(t, err, passport.EINVALID)
	d := passport.ErrorDetails(err)
	if len(d) != 1 || d[0].Field != "scopes" || !strings.HasSuffix(d[0].Message, "admin:org, gist") {
		t.Errorf("details = %+v", d)
	}
	if n := len(testenv.Items(t, f.db, f.table)); n != 2 { // the provider and its name marker
		t.Errorf("items = %d, want 2", n)
	}
}

// Each write is one DynamoDB round trip: checks go in the same transaction.
func TestWritesMakeOneDynamoDBCall(t *testing.T) {
	f := mustFixture(t)
	p := f.mustCreateProvider(t, "github")
	if got := f.calls.Take(); fmt.Sprint(got) != "map[DynamoDB.TransactWriteItems:1]" {
		t.Errorf("create provider calls = %v", got)
	}
	for i := range 3 {
		a := newAuthorization(p.ID)
		a.UserID = fmt.Sprintf("user-%d", i) // a new grant each time
		if err := f.store.CreateAuthorization(context.Background(), a); err != nil {
			t.Fatal(err)
		}
		got := f.calls.Take()
		if got["DynamoDB.TransactWriteItems"] != 1 || len(got) > 2 || (i > 0 && len(got) != 1) {
			t.Errorf("create authorization #%d calls = %v, want one TransactWriteItems (and one KMS call at first)", i, got)
		}
	}
	if _, _, err := f.store.ListProviders(context.Background(), passport.Page{}); err != nil {
		t.Fatal(err)
	}
	if got := f.calls.Take(); fmt.Sprint(got) != "map[DynamoDB.Query:1]" {
		t.Errorf("list providers calls = %v", got)
	}
}

func TestPutAuditEntries_IdempotentAndNewestFirst(t *testing.T) {
	f := mustFixture(t)
	var entries []*passport.AuditEntry
	for i := range 60 { // three BatchWriteItem chunks
		entries = append(entries, &passport.AuditEntry{
			ID:         fmt.Sprintf("entry%02d", i),
			Action:     passport.ActionAuthorizationCreated,
			ProviderID: "p1",
			UserID:     "u" + strconv.Itoa(i),
			Timestamp:  f.now.Add(time.Duration(i) * time.Second),
		})
	}
	for range 2 { // a redelivered batch writes the same items again
		n, err := f.store.PutAuditEntries(context.Background(), entries)
		if err != nil || n != len(entries) {
			t.Fatalf("put = %d, %v", n, err)
		}
	}
	// 60 entries with a provider and a user are 180 items: 8 calls of 25.
	if got := f.calls.Take()["DynamoDB.BatchWriteItem"]; got != 16 {
		t.Errorf("BatchWriteItem calls = %d, want 16", got)
	}
	var got []string
	page := passport.Page{Limit: 200}
	list, next, err := f.store.ListAuditEntries(context.Background(), passport.AuditFilter{}, page)
	if err != nil || next != "" {
		t.Fatalf("list: next %q err %v", next, err)
	}
	for _, e := range list {
		got = append(got, e.ID)
	}
	if len(got) != 60 || got[0] != "entry59" || got[59] != "entry00" {
		t.Fatalf("listed %d entries, first %v", len(got), got[:min(3, len(got))])
	}
	if e := list[0]; e.Action != passport.ActionAuthorizationCreated || e.UserID != "u59" || !e.Timestamp.Equal(f.now.Add(59*time.Second)) {
		t.Errorf("entry = %+v", e)
	}
}

func TestReadToken(t *testing.T) {
	f := mustFixture(t)
	p := f.mustCreateProvider(t, "github")
	a := newAuthorization(p.ID)
	if err := f.store.CreateAuthorization(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	f.calls.Take()
	ctx := passport.NewContextWithCaller(context.Background(), passport.Caller{Actor: passport.Actor{Type: "user", ID: "agent-7"}})
	got, err := f.store.ReadToken(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Token.Reveal() != "gho_xxxxxxxxxxxx" || got.ProviderID != p.ID || fmt.Sprint(got.Scopes) != "[repo user]" {
		t.Errorf("read %+v token %q", got, got.Token.Reveal())
	}
	// One read, one write of the read's record, and at most one KMS call.
	if calls := f.calls.Take(); calls["DynamoDB.GetItem"] != 1 || calls["DynamoDB.PutItem"] != 1 || calls["KMS.Decrypt"] > 1 || len(calls) > 3 {
		t.Errorf("calls = %v", calls)
	}
	var record map[string]types.AttributeValue
	for _, it := range testenv.Items(t, f.db, f.table) {
		if strings.HasPrefix(it["PK"].(*types.AttributeValueMemberS).Value, dynamo.TokenReadPrefix) {
			record = it
		}
	}
	if record == nil || record["authorizationId"].(*types.AttributeValueMemberS).Value != a.ID || record["actorId"].(*types.AttributeValueMemberS).Value != "agent-7" {
		t.Fatalf("token read record = %v", record)
	}
}

func TestReadToken_Refusals(t *testing.T) {
	f := mustFixture(t)
	p := f.mustCreateProvider(t, "github")
	_, err := f.store.ReadToken(context.Background(), "unknown")
	assertCode(t, err, passport.ENOTFOUND)

	a := newAuthorization(p.ID)
	if err := f.store.CreateAuthorization(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	f.now = a.ExpiresAt // the moment it expires
	_, err = f.store.ReadToken(context.Background(), a.ID)
	assertCode(t, err, passport.EEXPIRED)
	for _, it := range testenv.Items(t, f.db, f.table) {
		if strings.HasPrefix(it["PK"].(*types.AttributeValueMemberS).Value, dynamo.TokenReadPrefix) {
			t.Error("a refused read wrote a read record")
		}
	}
}

// A sealed token copied onto another authorization does not open there.
func TestReadToken_CiphertextBoundToItsAuthorization(t *testing.T) {
	f := mustFixture(t)
	p := f.mustCreateProvider(t, "github")
	a, b := newAuthorization(p.ID), newAuthorization(p.ID)
	b.UserID = "someone-else"
	for _, x := range []*passport.Authorization{a, b} {
		if err := f.store.CreateAuthorization(context.Background(), x); err != nil {
			t.Fatal(err)
		}
	}
	key := func(id string) map[string]types.AttributeValue {
		return map[string]types.AttributeValue{"PK": &types.AttributeValueMemberS{Value: "AUTHZ#" + id}, "SK": &types.AttributeValueMemberS{Value: "AUTHZ"}}
	}
	out, err := f.db.GetItem(context.Background(), &dynamodb.GetItemInput{TableName: &f.table, Key: key(a.ID)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.db.UpdateItem(context.Background(), &dynamodb.UpdateItemInput{
		TableName: &f.table, Key: key(b.ID),
		UpdateExpression:          aws.String("SET tokenCiphertext = :c"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":c": out.Item["tokenCiphertext"]},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := f.store.ReadToken(context.Background(), b.ID); err == nil {
		t.Fatalf("read %q from a copied ciphertext", got.Token.Reveal())
	}
}

// Paging while others write neither skips nor repeats an item that existed
// when paging began.
func TestListProviders_StableWhileWriting(t *testing.T) {
	f := mustFixture(t)
	var before []string
	for i := range 6 {
		f.now = f.now.Add(time.Millisecond)
		before = append(before, f.mustCreateProvider(t, "p"+strconv.Itoa(i)).ID)
	}
	seen := map[string]int{}
	page := passport.Page{Limit: 2}
	for pages := 0; pages < 20; pages++ {
		list, next, err := f.store.ListProviders(context.Background(), page)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range list {
			seen[p.ID]++
		}
		for i := range 2 { // others register meanwhile
			f.now = f.now.Add(time.Millisecond)
			f.mustCreateProvider(t, fmt.Sprintf("new-%d-%d", pages, i))
		}
		if next == "" || pages == 5 {
			break
		}
		page.Cursor = next
	}
	for _, id := range before {
		if seen[id] != 1 {
			t.Errorf("provider %s seen %d times, want 1", id, seen[id])
		}
	}
}

// A revoke without a version, racing reconnects of the same pair, lands
// (never a 412), and the pair's marker and grants agree afterwards: the
// marker names an active grant at its version, or is revoked.
func TestRevokeAuthorization_RacingReconnects(t *testing.T) {
	f := mustFixture(t)
	p := f.mustCreateProvider(t, "github")
	// Far from expiry: DynamoDB Local's TTL runs on the wall clock, and would
	// purge the fixture's 2026 grants under the test.
	farOff := time.Date(2999, 1, 1, 0, 0, 0, 0, time.UTC)
	first := newAuthorization(p.ID)
	first.ExpiresAt = farOff
	if err := f.store.CreateAuthorization(context.Background(), first); err != nil {
		t.Fatal(err)
	}
	const reconnects = 10
	errs := make([]error, reconnects+1)
	var wg sync.WaitGroup
	for i := range reconnects {
		wg.Go(func() {
			a := newAuthorization(p.ID)
			a.Token, a.ExpiresAt = passport.Secret(fmt.Sprint("gho_", i)), farOff
			errs[i] = f.store.CreateAuthorization(context.Background(), a)
		})
	}
	wg.Go(func() { _, errs[reconnects] = f.store.RevokeAuthorization(context.Background(), first.ID, 0) })
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("call %d: %v", i, err)
		}
	}
	var marker map[string]types.AttributeValue
	grants := map[string]map[string]types.AttributeValue{}
	for _, it := range testenv.Items(t, f.db, f.table) {
		switch pk := it["PK"].(*types.AttributeValueMemberS).Value; {
		case strings.HasPrefix(pk, dynamo.GrantPrefix):
			marker = it
		case strings.HasPrefix(pk, "AUTHZ#"):
			grants[it["id"].(*types.AttributeValueMemberS).Value] = it
		}
	}
	_, markerRevoked := marker["revokedAt"]
	active := 0
	for id, g := range grants {
		if _, revoked := g["revokedAt"]; revoked {
			continue
		}
		active++
		if markerRevoked || attrString(marker["authorizationId"]) != id || attrString(marker["version"]) != attrString(g["version"]) {
			t.Errorf("active grant %s v%s, marker names %s v%s (revoked %v)", id, attrString(g["version"]), attrString(marker["authorizationId"]), attrString(marker["version"]), markerRevoked)
		}
	}
	if active > 1 || (active == 0 && !markerRevoked) {
		t.Errorf("active grants = %d, marker revoked %v", active, markerRevoked)
	}
}

func attrString(v types.AttributeValue) string {
	switch v := v.(type) {
	case *types.AttributeValueMemberS:
		return v.Value
	case *types.AttributeValueMemberN:
		return v.Value
	}
	return fmt.Sprint(v)
}

package lambdarie_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/passport-oss/passport/internal/localapp"
	"github.com/passport-oss/passport/internal/testenv"
)

// `make run LAMBDA=rie`: the local gateway and the stream poller serve the
// API through the built binaries under the emulator, the audit trail
// included.
func TestLocalRunThroughTheEmulator(t *testing.T) {
	db := testenv.DynamoDB(t)
	_, keyID := testenv.KMS(t)
	tmpl := testenv.Template(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	opts := localapp.LocalOptions{
		Table:    fmt.Sprintf("passport-rie-%d", time.Now().UnixNano()),
		KMSKeyID: keyID,
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	t.Cleanup(func() {
		_, _ = db.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: &opts.Table})
	})
	fns, err := localapp.StartRIEFunctions(ctx, tmpl, opts, t.TempDir(), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer fns.Stop()
	opts.Functions = fns
	local, err := localapp.NewLocal(ctx, tmpl, testenv.AWSConfig(t, nil), opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(local.Gateway)
	defer srv.Close()
	pollers := make(chan error, 1)
	go func() { pollers <- local.RunPollers(ctx) }()

	call := func(method, path, body string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var env map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
			t.Fatalf("%s %s: body is not JSON: %v", method, path, err)
		}
		return resp.StatusCode, env
	}

	status, env := call("POST", "/api/v1/passport/providers",
		`{"name":"github","type":"oauth2","clientId":"Iv1.abc123def456","scopes":["repo"],"redirectUri":"https://app.example.com/auth/callback"}`)
	if status != 201 || env["success"] != true {
		t.Fatalf("register: %d %v", status, env)
	}
	if status, env = call("GET", "/api/v1/passport/providers", ""); status != 200 || len(env["data"].([]any)) != 1 {
		t.Fatalf("list: %d %v", status, env)
	}
	if status, env = call("DELETE", "/api/v1/passport/providers", ""); status != 405 || env["success"] != false {
		t.Fatalf("fallback: %d %v", status, env)
	}

	waitCtx, waitCancel := context.WithTimeout(ctx, 30*time.Second)
	defer waitCancel()
	if err := local.WaitIdle(waitCtx); err != nil {
		t.Fatalf("stream not drained: %v", err)
	}
	for {
		status, env = call("GET", "/api/v1/passport/audit", "")
		if list, _ := env["data"].([]any); status == 200 && len(list) == 1 {
			if a := list[0].(map[string]any)["action"]; a != "provider.created" {
				t.Errorf("audit entry %v", list[0])
			}
			break
		}
		if waitCtx.Err() != nil {
			t.Fatalf("audit trail after 30 s: %d %v", status, env)
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	if err := <-pollers; err != nil {
		t.Errorf("pollers: %v", err)
	}
}

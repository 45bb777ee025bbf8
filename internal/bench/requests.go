package bench

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/passport-oss/passport/internal/httpapi"
	"github.com/passport-oss/passport/internal/samtemplate"
)

// request is one HTTP request to the API.
type request struct {
	Method, Path, Body string
}

// response is what came back: status, body and the envelope's data.id.
type response struct {
	Status int
	Body   []byte
	ID     string
}

// client calls the API over HTTP, as a user would.
type client struct {
	base string
	hc   *http.Client
}

func newClient(base string) *client {
	return &client{base: base, hc: &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true},
	}}
}

// do sends req and reads the whole response.
func (c *client) do(ctx context.Context, req request) (response, error) {
	r, err := http.NewRequestWithContext(ctx, req.Method, c.base+req.Path, strings.NewReader(req.Body))
	if err != nil {
		return response{}, err
	}
	if req.Body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(r)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return response{}, err
	}
	out := response{Status: resp.StatusCode, Body: b}
	var env struct {
		Data json.RawMessage `json:"data"`
	}
	var data struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(b, &env) == nil && json.Unmarshal(env.Data, &data) == nil {
		out.ID = data.ID
	}
	return out, nil
}

// mustSucceed sends req and fails on anything but a 2xx answer: a bench of
// failing requests measures nothing.
func (c *client) mustSucceed(ctx context.Context, req request) (response, error) {
	resp, err := c.do(ctx, req)
	if err != nil {
		return resp, fmt.Errorf("%s %s: %w", req.Method, req.Path, err)
	}
	if resp.Status/100 != 2 {
		return resp, fmt.Errorf("%s %s: status %d: %s", req.Method, req.Path, resp.Status, resp.Body)
	}
	return resp, nil
}

// samples makes the requests each route is measured with.
type samples struct {
	root            string
	tmpl            *samtemplate.Template
	run             string // unique per run, so names never collide with another run's
	seq             atomic.Int64
	providerID      string // a provider offering the scopes authorizations ask for
	authorizationID string // an authorization of it, whose token is read
}

const scopesJSON = `["repo","user","read:org"]`

// providerBody is a registration with a name never used before.
func (s *samples) providerBody() string {
	return fmt.Sprintf(`{"name":"bench-%s-%d","type":"oauth2","clientId":"Iv1.abc123def456","scopes":%s,"redirectUri":"https://app.example.com/auth/callback"}`,
		s.run, s.seq.Add(1), scopesJSON)
}

func (s *samples) authorizationBody() string {
	return fmt.Sprintf(`{"providerId":%q,"userId":"user-%d","scopes":["repo","user"],"token":"gho_16C7e42F292c6912E7710c838347Ae178B4a","expiresAt":%q}`,
		s.providerID, s.seq.Add(1), time.Now().Add(90*24*time.Hour).UTC().Format("2006-01-02T15:04:05.000Z"))
}

// forRoute returns a request for rt that succeeds. Routes this package does
// not know yet are sent as their event in events/ has them (ok is false:
// the answer may be an error, and a write may not be repeatable).
func (s *samples) forRoute(rt httpapi.Route) (req request, ok bool, err error) {
	switch rt.Method + " " + rt.Path {
	case "POST /api/v1/passport/providers":
		return request{"POST", rt.Path, s.providerBody()}, true, nil
	case "POST /api/v1/passport/authorizations":
		return request{"POST", rt.Path, s.authorizationBody()}, true, nil
	case "GET /api/v1/passport/authorizations":
		return request{"GET", rt.Path + "?providerId=" + s.providerID, ""}, true, nil
	}
	if path, ok := s.fillPath(rt.Path); ok && rt.Method == "GET" {
		return request{"GET", path, ""}, true, nil
	}
	ev, err := s.event(rt.FunctionID)
	if err != nil {
		return request{}, false, err
	}
	path := ev.RawPath
	if ev.RawQueryString != "" {
		path += "?" + ev.RawQueryString
	}
	return request{ev.RequestContext.HTTP.Method, path, ev.Body}, false, nil
}

// fillPath puts the seeded ids into a route's path parameters: a "{...}"
// segment after "providers" is the seeded provider, after "authorizations"
// the seeded authorization. ok is false for a parameter it cannot fill.
func (s *samples) fillPath(path string) (string, bool) {
	segs := strings.Split(path, "/")
	for i, seg := range segs {
		if !strings.HasPrefix(seg, "{") || i == 0 {
			continue
		}
		switch segs[i-1] {
		case "providers":
			segs[i] = s.providerID
		case "authorizations":
			segs[i] = s.authorizationID
		default:
			return "", false
		}
	}
	return strings.Join(segs, "/"), true
}

// event reads the function's example event, events/<folder>.json.
func (s *samples) event(functionID string) (events.APIGatewayV2HTTPRequest, error) {
	var ev events.APIGatewayV2HTTPRequest
	b, err := os.ReadFile(eventFile(s.root, s.tmpl, functionID))
	if err != nil {
		return ev, err
	}
	return ev, json.Unmarshal(b, &ev)
}

// eventFile is the example event of a function: events/<its folder>.json.
func eventFile(root string, tmpl *samtemplate.Template, functionID string) string {
	return filepath.Join(root, "events", filepath.Base(sourceDir(tmpl, functionID))+".json")
}

// sourceDir is the folder of a function's main package, relative to the
// module root ("functions/list-providers").
func sourceDir(tmpl *samtemplate.Template, functionID string) string {
	if f, ok := tmpl.Function(functionID); ok && f.SourceDir != "" {
		return f.SourceDir
	}
	return samtemplate.ConventionalSourceDir(functionID)
}

// seed registers providers through the API, one more that authorizations
// name and one authorization of it, then lets the stream pollers write their audit
// entries, so that each list has more than a page to answer.
func (e *env) seed(ctx context.Context) error {
	e.samples = &samples{root: e.root, tmpl: e.tmpl, run: newID()[:8]}
	for range e.n.seedProviders {
		if _, err := e.api.mustSucceed(ctx, request{"POST", "/api/v1/passport/providers", e.samples.providerBody()}); err != nil {
			return err
		}
	}
	p, err := e.api.mustSucceed(ctx, request{"POST", "/api/v1/passport/providers", e.samples.providerBody()})
	if err != nil {
		return err
	}
	e.samples.providerID = p.ID
	a, err := e.api.mustSucceed(ctx, request{"POST", "/api/v1/passport/authorizations", e.samples.authorizationBody()})
	if err != nil {
		return err
	}
	e.samples.authorizationID = a.ID
	stop := runPollers(e.local)
	waitCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	err = e.local.WaitIdle(waitCtx)
	if stopErr := stop(); err == nil {
		err = stopErr
	}
	e.wire.Take() // seeding is not measured
	return err
}

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// newID returns 128 random bits as 26 lower-case characters, like the ids
// Passport makes.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return idEncoding.EncodeToString(b[:])
}

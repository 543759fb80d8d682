package idp

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/oauth2"

	"github.com/ztagent/ztagent/internal/clock"
	"github.com/ztagent/ztagent/internal/secret"
	"github.com/ztagent/ztagent/internal/testenv/syncbuf"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	alicePassword = "alice-CANARY-pw-7731"
	bobPassword   = "bob-CANARY-pw-4242"
	accessSecret  = "access-CANARY-client-secret"
	accessID      = "access"
	accessCB      = "http://acme.localhost:8781/cdn-cgi/access/callback"
	agentID       = "agent"
	agentCB       = "http://127.0.0.1:4567/callback"
	testVerifier  = "dBjftJeZ4CK-mB6ZRkT1l4XJ8zDiiAZA2L2ibAj7A1M"
)

// testChallenge is testVerifier's S256 challenge, computed by x/oauth2.
var testChallenge = oauth2.S256ChallengeFromVerifier(testVerifier)

var epoch = time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)

var testKey = func() *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	return k
}()

// env is a provider served over httptest, with a fake clock, captured logs
// and audit events, and a scripted browser.
type env struct {
	t     *testing.T
	clk   *clock.Fake
	p     *Provider
	srv   *httptest.Server
	logs  *syncbuf.Buffer
	mu    sync.Mutex
	audit []AuditEvent
}

func testUsers() []User {
	return []User{
		{Email: "alice@acme.example", Name: "Alice Liddell", Password: secret.New(alicePassword), Groups: []string{"engineering", "admins"}},
		{Email: "bob@acme.example", Name: "Bob", Password: secret.New(bobPassword), Groups: []string{"sales"}},
	}
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, clk: clock.NewFake(epoch), logs: &syncbuf.Buffer{}}
	var h http.Handler = http.NotFoundHandler()
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	t.Cleanup(e.srv.Close)
	p, err := New(Options{
		Issuer: e.srv.URL,
		Users:  testUsers(),
		Clients: []Client{
			{ID: accessID, Secret: secret.New(accessSecret), RedirectURIs: []string{accessCB}},
			{ID: agentID, RedirectURIs: []string{agentCB}},
		},
		Clock: e.clk,
		// A plain logger without the logging package's scrubber, so the
		// canary test proves this package never hands a secret to zap.
		Logger:     zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(e.logs), zap.DebugLevel)),
		Audit:      func(ev AuditEvent) { e.mu.Lock(); e.audit = append(e.audit, ev); e.mu.Unlock() },
		SigningKey: testKey,
		BcryptCost: bcrypt.MinCost,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	e.p, h = p, p.Handler()
	return e
}

func (e *env) events() []AuditEvent {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]AuditEvent(nil), e.audit...)
}

// browser is an HTTP client with a cookie jar that does not follow
// redirects, so each step of the flow can be checked.
type browser struct {
	e *env
	c *http.Client
}

func (e *env) browser() *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		e.t.Fatal(err)
	}
	return &browser{e: e, c: &http.Client{
		Transport:     e.srv.Client().Transport,
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// page is a response with its body read.
type page struct {
	status   int
	location string
	body     string
}

func (b *browser) do(req *http.Request) page {
	b.e.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.e.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return page{resp.StatusCode, resp.Header.Get("Location"), string(body)}
}

func (b *browser) get(u string) page {
	b.e.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	return b.do(req)
}

func (b *browser) post(path string, form url.Values) page {
	b.e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.e.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

// authParams are the parameters of an authorize request from the access
// client; extra pairs override or add.
func authParams(extra ...string) url.Values {
	v := url.Values{
		"client_id": {accessID}, "redirect_uri": {accessCB}, "response_type": {"code"},
		"scope": {"openid email profile"}, "state": {"st-123"}, "nonce": {"n-456"},
		"code_challenge": {testChallenge}, "code_challenge_method": {"S256"},
	}
	for i := 0; i+1 < len(extra); i += 2 {
		v.Set(extra[i], extra[i+1])
	}
	return v
}

func (b *browser) authorize(v url.Values) page {
	b.e.t.Helper()
	return b.get(b.e.srv.URL + PathAuthorize + "?" + v.Encode())
}

var requestField = regexp.MustCompile(`name="request" value="([^"]+)"`)

// formID returns the pending request ID of a login page.
func formID(t *testing.T, pg page) string {
	t.Helper()
	m := requestField.FindStringSubmatch(pg.body)
	if pg.status != http.StatusOK || m == nil {
		t.Fatalf("expected the login form, got %d %q location=%q", pg.status, pg.body, pg.location)
	}
	for _, want := range []string{`type="email"`, `type="password"`, `type="submit"`, `method="post"`} {
		if !strings.Contains(pg.body, want) {
			t.Fatalf("login form lacks %s", want)
		}
	}
	return m[1]
}

func (b *browser) login(id, email, password string) page {
	b.e.t.Helper()
	return b.post(PathLogin, url.Values{"request": {id}, "email": {email}, "password": {password}})
}

// signIn runs authorize → form → credentials and returns the code.
func (b *browser) signIn(v url.Values, email, password string) string {
	b.e.t.Helper()
	pg := b.login(formID(b.e.t, b.authorize(v)), email, password)
	return codeFrom(b.e.t, pg, v.Get("redirect_uri"), v.Get("state"))
}

// codeFrom checks that pg redirects to redirectURI with state and returns the
// code.
func codeFrom(t *testing.T, pg page, redirectURI, state string) string {
	t.Helper()
	if pg.status != http.StatusSeeOther {
		t.Fatalf("expected a redirect to the client, got %d %q", pg.status, pg.body)
	}
	u, err := url.Parse(pg.location)
	if err != nil || !strings.HasPrefix(pg.location, redirectURI+"?") {
		t.Fatalf("redirected to %q, want %s?…", pg.location, redirectURI)
	}
	q := u.Query()
	if q.Get("state") != state || q.Get("code") == "" {
		t.Fatalf("redirect %q: want code and state %q", pg.location, state)
	}
	return q.Get("code")
}

// exchange redeems a code at the token endpoint with client_secret_post
// (or as a public client when secret is empty).
func (e *env) exchange(clientID, secret, code, redirectURI, verifier string) (int, map[string]any) {
	e.t.Helper()
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI}, "client_id": {clientID}}
	if secret != "" {
		form.Set("client_secret", secret)
	}
	if verifier != "" {
		form.Set("code_verifier", verifier)
	}
	resp, err := e.srv.Client().PostForm(e.srv.URL+PathToken, form)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		e.t.Fatal(err)
	}
	return resp.StatusCode, out
}

// claims decodes (without verifying) the payload of a token response's
// id_token; the go-oidc test verifies signatures.
func claimsOf(t *testing.T, tok map[string]any) Claims {
	t.Helper()
	raw, _ := tok["id_token"].(string)
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		t.Fatalf("id_token %q is not a compact JWS", raw)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c Claims
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

package access

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
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
	"github.com/ztagent/ztagent/internal/testenv/scriptbrowser"
	"github.com/ztagent/ztagent/internal/testenv/syncbuf"
	"github.com/ztagent/ztagent/pkg/edge/idp"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	alicePassword = "alice-CANARY-pw-7731"
	bobPassword   = "bob-CANARY-pw-4242"
	clientSecret  = "teamdomain-CANARY-client-secret"
	clientID      = "acme-access"
	agentCB       = "http://127.0.0.1:4567/callback" // never dialled: the browser stops there
	appDomain     = "wiki.acme.internal"
)

var epoch = time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)

var idpKey = func() *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	return k
}()

var (
	alice = &scriptbrowser.Credentials{Email: "alice@acme.example", Password: alicePassword}
	bob   = &scriptbrowser.Credentials{Email: "bob@acme.example", Password: bobPassword}
)

func testUsers(aliceGroups ...string) []idp.User {
	if aliceGroups == nil {
		aliceGroups = []string{"engineering"}
	}
	return []idp.User{
		{Email: "alice@acme.example", Name: "Alice Liddell", Password: secret.New(alicePassword), Groups: aliceGroups},
		{Email: "bob@acme.example", Name: "Bob", Password: secret.New(bobPassword), Groups: []string{"sales"}},
	}
}

// server is an httptest server whose handler is set after it has an
// address, so that URLs naming its port can be configured first.
type server struct {
	srv  *httptest.Server
	port string
	mu   sync.Mutex
	h    http.Handler
}

func newServer(t *testing.T) *server {
	t.Helper()
	s := &server{}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		h := s.h
		s.mu.Unlock()
		if h == nil {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		h.ServeHTTP(w, r)
	}))
	_, s.port, _ = net.SplitHostPort(s.srv.Listener.Addr().String())
	t.Cleanup(s.srv.Close)
	return s
}

func (s *server) set(h http.Handler) {
	s.mu.Lock()
	s.h = h
	s.mu.Unlock()
}

// env is a team domain and a built-in IdP, each on its own
// http://NAME.localhost:PORT origin, sharing a fake clock.
type env struct {
	t      *testing.T
	clk    *clock.Fake
	idpSrv *server
	idp    *idp.Provider
	// idpHandler is what startIdP serves.
	idpHandler http.Handler
	tdSrv      *server
	td         *TeamDomain
	tdURL      string
	logs       *syncbuf.Buffer
	tr         *http.Transport

	mu     sync.Mutex
	logins []Login
	audit  []AuditEvent
	failOn func(Login) error
}

// envOptions vary the environment.
type envOptions struct {
	idpType string // azureAD when empty
	prompt  string
	// explicitEndpoints configures auth_url, token_url and certs_url
	// instead of discovery.
	explicitEndpoints bool
	// startIdPLater leaves the IdP answering 503 until startIdP.
	startIdPLater bool
	// maxPending and maxPendingPerClient set the pending-login bounds.
	maxPending, maxPendingPerClient int
}

// withoutDiscovery hides the IdP's discovery document, as a provider that
// only publishes auth_url, token_url and certs_url would.
func withoutDiscovery(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == idp.PathDiscovery {
			http.NotFound(w, r)
			return
		}
		h.ServeHTTP(w, r)
	})
}

func newEnv(t *testing.T, o envOptions) *env {
	t.Helper()
	e := &env{t: t, clk: clock.NewFake(epoch), logs: &syncbuf.Buffer{}}
	e.idpSrv, e.tdSrv = newServer(t), newServer(t)
	issuer := "http://idp.localhost:" + e.idpSrv.port
	e.tdURL = "http://acme.localhost:" + e.tdSrv.port
	// A plain logger without the logging package's scrubber, so the canary
	// test proves this package never hands a secret to zap.
	logger := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(e.logs), zap.DebugLevel))
	p, err := idp.New(idp.Options{
		Issuer:     issuer,
		Users:      testUsers(),
		Clients:    []idp.Client{{ID: clientID, Secret: secret.New(clientSecret), RedirectURIs: []string{e.tdURL + PathCallback}}},
		Clock:      e.clk,
		Logger:     logger,
		SigningKey: idpKey,
		BcryptCost: bcrypt.MinCost,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	e.idp = p
	e.idpHandler = p.Handler()
	if o.explicitEndpoints {
		e.idpHandler = withoutDiscovery(e.idpHandler)
	}
	if !o.startIdPLater {
		e.startIdP()
	}
	e.tr = scriptbrowser.Hosts{}.Transport()
	t.Cleanup(e.tr.CloseIdleConnections)
	td, err := New(Options{
		TeamName:   "acme",
		PublicURL:  e.tdURL,
		IdP:        e.idpConfig(o),
		AppDomains: []string{appDomain, "Other.acme.internal/path"},
		HTTPClient: &http.Client{Transport: e.tr},
		Clock:      e.clk,
		Logger:     logger,
		OnLogin: func(_ context.Context, l Login) error {
			e.mu.Lock()
			defer e.mu.Unlock()
			e.logins = append(e.logins, l)
			if e.failOn != nil {
				return e.failOn(l)
			}
			return nil
		},
		Audit:                     func(ev AuditEvent) { e.mu.Lock(); e.audit = append(e.audit, ev); e.mu.Unlock() },
		MaxPendingLogins:          o.maxPending,
		MaxPendingLoginsPerClient: o.maxPendingPerClient,
	})
	if err != nil {
		t.Fatal(err)
	}
	e.td = td
	e.tdSrv.set(td.Handler())
	return e
}

func (e *env) startIdP() { e.idpSrv.set(e.idpHandler) }

func (e *env) idpConfig(o envOptions) IdP {
	issuer := "http://idp.localhost:" + e.idpSrv.port
	c := IdP{Type: o.idpType, Issuer: issuer, ClientID: clientID, ClientSecret: secret.New(clientSecret), Prompt: o.prompt,
		Scopes: []string{"openid", "email", "profile", "groups"}}
	if c.Type == "" {
		c.Type = "azureAD"
	}
	if o.explicitEndpoints {
		c.AuthURL, c.TokenURL, c.JWKSURL = issuer+idp.PathAuthorize, issuer+idp.PathToken, issuer+idp.PathJWKS
	}
	return c
}

func (e *env) browser() *scriptbrowser.Browser {
	e.t.Helper()
	b, err := scriptbrowser.New(scriptbrowser.Options{StopAt: []string{agentCB}})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(b.Close)
	return b
}

func (e *env) visit(b *scriptbrowser.Browser, u string, opts scriptbrowser.VisitOptions) *scriptbrowser.Result {
	e.t.Helper()
	res, err := b.Visit(e.t.Context(), u, opts)
	if err != nil {
		e.t.Fatalf("visit %s: %v", u, err)
	}
	return res
}

// warpURL is what an agent opens to enroll, with its own PKCE verifier.
func (e *env) warpURL(redirectURI, state, verifier string) string {
	v := url.Values{"redirect_uri": {redirectURI}, "state": {state},
		"code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}, "code_challenge_method": {"S256"}}
	return e.tdURL + PathWARP + "?" + v.Encode()
}

// enroll runs /warp in b, signing in with login when the form shows, and
// returns the enrollment code and the agent's verifier.
func (e *env) enroll(b *scriptbrowser.Browser, login *scriptbrowser.Credentials) (code, verifier string, res *scriptbrowser.Result) {
	e.t.Helper()
	verifier = oauth2.GenerateVerifier()
	res = e.visit(b, e.warpURL(agentCB, "agent-state-1", verifier), scriptbrowser.VisitOptions{Login: login})
	if !res.Stopped || !strings.HasPrefix(res.URL, agentCB+"?") {
		e.t.Fatalf("enrollment did not reach the agent: %d %s %q %q", res.Status, res.URL, res.ErrorText, res.Body)
	}
	q := res.Query()
	if q.Get("state") != "agent-state-1" || q.Get("code") == "" {
		e.t.Fatalf("agent callback %s: want code and the agent's state", res.URL)
	}
	return q.Get("code"), verifier, res
}

func (e *env) refresh(b *scriptbrowser.Browser, login *scriptbrowser.Credentials) *scriptbrowser.Result {
	e.t.Helper()
	res := e.visit(b, e.td.RefreshIdentityURL(), scriptbrowser.VisitOptions{Login: login})
	if res.Status != http.StatusOK || !strings.Contains(res.Body, "Session refreshed") {
		e.t.Fatalf("refresh-identity: %d %s %q", res.Status, res.URL, res.ErrorText)
	}
	return res
}

func (e *env) loginsSoFar() []Login {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]Login(nil), e.logins...)
}

func (e *env) lastLogin() Login {
	e.t.Helper()
	l := e.loginsSoFar()
	if len(l) == 0 {
		e.t.Fatal("OnLogin was never called")
	}
	return l[len(l)-1]
}

func (e *env) events() []AuditEvent {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]AuditEvent(nil), e.audit...)
}

func (e *env) countEvents(typ string) int {
	n := 0
	for _, ev := range e.events() {
		if ev.Type == typ {
			n++
		}
	}
	return n
}

func queryOf(t *testing.T, raw string) url.Values {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query()
}

// setFailOn makes OnLogin fail with f's error.
func (e *env) setFailOn(f func(Login) error) {
	e.mu.Lock()
	e.failOn = f
	e.mu.Unlock()
}

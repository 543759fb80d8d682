package simulator

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap/zaptest"
	"golang.org/x/crypto/bcrypt"

	"github.com/ztagent/ztagent/internal/secret"
	"github.com/ztagent/ztagent/internal/testenv/freeport"
	"github.com/ztagent/ztagent/internal/testenv/scriptbrowser"
	"github.com/ztagent/ztagent/internal/wgkey"
	"github.com/ztagent/ztagent/pkg/control"
	"github.com/ztagent/ztagent/pkg/edge/admin"
	"github.com/ztagent/ztagent/pkg/session"
	"github.com/ztagent/ztagent/pkg/tunnel"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const exampleDir = "../../../examples/acme"

var (
	alice   = &scriptbrowser.Credentials{Email: "alice@example.com", Password: "alice-demo-password"}
	bob     = &scriptbrowser.Credentials{Email: "bob@example.com", Password: "bob-demo-password"}
	mallory = &scriptbrowser.Credentials{Email: "mallory@contractor.test", Password: "mallory-demo-password"}
	loopAny = netip.MustParseAddrPort("127.0.0.1:0")
)

// testConfig is a copy of examples/acme in a temporary directory, with the
// virtual network's upstreams pointed at the test's HTTP servers, so that
// tests can edit it and reload.
type testConfig struct {
	tfDir, simFile string
	wiki, git      *httptest.Server
}

func newTestConfig(t testing.TB) *testConfig {
	t.Helper()
	dir := t.TempDir()
	tc := &testConfig{tfDir: filepath.Join(dir, "tf"), simFile: filepath.Join(dir, "simulator.hcl")}
	if err := os.Mkdir(tc.tfDir, 0o755); err != nil {
		t.Fatal(err)
	}
	tf, err := os.ReadFile(filepath.Join(exampleDir, "main.tf"))
	if err != nil {
		t.Fatal(err)
	}
	tc.writeTF(t, string(tf))
	tc.wiki = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "wiki: %s %s", r.Method, r.URL.Path)
	}))
	t.Cleanup(tc.wiki.Close)
	sim, err := os.ReadFile(filepath.Join(exampleDir, "simulator.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	tc.git = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "git: %s %s", r.Method, r.URL.Path)
	}))
	t.Cleanup(tc.git.Close)
	s := strings.ReplaceAll(string(sim), `"127.0.0.1:9080"`, `"`+tc.wiki.Listener.Addr().String()+`"`)
	s = strings.ReplaceAll(s, `"127.0.0.1:9081"`, `"`+tc.git.Listener.Addr().String()+`"`)
	tc.writeSim(t, s)
	return tc
}

func (tc *testConfig) writeTF(t testing.TB, s string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(tc.tfDir, "main.tf"), []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func (tc *testConfig) readTF(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(tc.tfDir, "main.tf"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func (tc *testConfig) writeSim(t testing.TB, s string) {
	t.Helper()
	if err := os.WriteFile(tc.simFile, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func (tc *testConfig) readSim(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(tc.simFile)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// editTF replaces the first match of re in main.tf.
func (tc *testConfig) editTF(t *testing.T, re, repl string) {
	t.Helper()
	s := tc.readTF(t)
	rx := regexp.MustCompile(re)
	if !rx.MatchString(s) {
		t.Fatalf("main.tf has no match for %q", re)
	}
	tc.writeTF(t, rx.ReplaceAllString(s, repl))
}

func (tc *testConfig) options(stateDir string) Options {
	return Options{
		TerraformDir: tc.tfDir,
		SimFile:      tc.simFile,
		StateDir:     stateDir,
		Listen:       Listeners{API: loopAny, TeamDomain: loopAny, IdP: loopAny, WireGuard: loopAny},
		BcryptCost:   bcrypt.MinCost,
	}
}

// startSim starts a simulator on free ports, closed at the end of the test.
func startSim(t *testing.T, opts Options) *Simulator {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = zaptest.NewLogger(t)
	}
	s, err := Start(t.Context(), opts)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func adminClient(s *Simulator) *admin.Client {
	tok, _ := s.AdminToken()
	return &admin.Client{BaseURL: s.APIURL(), Token: tok}
}

// testAgent enrolls like agentd does: PKCE and state, a loopback callback
// (where the scripted browser stops), then the control API.
type testAgent struct {
	t           *testing.T
	sim         *Simulator
	browser     *scriptbrowser.Browser
	fingerprint string
	key         wgkey.Private
	reg         control.Registration
}

func newAgent(t *testing.T, s *Simulator, fingerprint string) *testAgent {
	t.Helper()
	b, err := scriptbrowser.New(scriptbrowser.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	key, err := wgkey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	return &testAgent{t: t, sim: s, browser: b, fingerprint: fingerprint, key: key}
}

func (a *testAgent) api() *control.Client {
	return &control.Client{BaseURL: a.sim.APIURL(), Token: secret.New(a.reg.DeviceToken)}
}

func randomString(t *testing.T) string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

const callbackURL = "http://127.0.0.1:45999/callback"

// enrollment is a login at the team domain that ended at the agent's
// callback.
type enrollment struct {
	code, state, verifier string
	result                *scriptbrowser.Result
}

// login runs /warp in the browser as user and returns what the callback
// received.
func (a *testAgent) login(user *scriptbrowser.Credentials) enrollment {
	a.t.Helper()
	e := a.visitWARP(user)
	res := e.result
	if !res.Stopped {
		a.t.Fatalf("enrollment did not reach the callback: ended at %s (%d): %s %s", res.URL, res.Status, res.ErrorText, res.Body)
	}
	if got := res.Query().Get("state"); got != e.state {
		a.t.Fatalf("the callback got state %q, want %q", got, e.state)
	}
	e.code = res.Query().Get("code")
	return e
}

// loginVia is login through the identity provider with ID idpID.
func (a *testAgent) loginVia(user *scriptbrowser.Credentials, idpID string) enrollment {
	a.t.Helper()
	e := a.visitWARPVia(user, idpID)
	res := e.result
	if !res.Stopped {
		a.t.Fatalf("enrollment did not reach the callback: ended at %s (%d): %s %s", res.URL, res.Status, res.ErrorText, res.Body)
	}
	e.code = res.Query().Get("code")
	return e
}

// visitWARP runs /warp in the browser as user, stopping at the agent's
// callback or at the page the team domain ends on.
func (a *testAgent) visitWARP(user *scriptbrowser.Credentials) enrollment {
	a.t.Helper()
	return a.visitWARPVia(user, "")
}

// visitWARPVia is visitWARP naming the identity provider (none when "").
func (a *testAgent) visitWARPVia(user *scriptbrowser.Credentials, idpID string) enrollment {
	a.t.Helper()
	verifier := randomString(a.t)
	sum := sha256.Sum256([]byte(verifier))
	state := randomString(a.t)
	q := url.Values{
		"redirect_uri":          {callbackURL},
		"state":                 {state},
		"code_challenge":        {base64.RawURLEncoding.EncodeToString(sum[:])},
		"code_challenge_method": {"S256"},
	}
	if idpID != "" {
		q.Set("idp", idpID)
	}
	res, err := a.browser.Visit(a.t.Context(), a.sim.TeamDomainURL()+"/warp?"+q.Encode(),
		scriptbrowser.VisitOptions{Login: user, StopAt: []string{callbackURL}})
	if err != nil {
		a.t.Fatalf("enrollment in the browser: %v", err)
	}
	return enrollment{state: state, verifier: verifier, result: res}
}

// register redeems an enrollment at the control API.
func (a *testAgent) register(e enrollment) (control.Registration, error) {
	pub := a.key.Public()
	api := &control.Client{BaseURL: a.sim.APIURL()}
	reg, err := api.Register(a.t.Context(), control.RegisterRequest{
		Code: e.code, CodeVerifier: e.verifier, WGPublicKey: pub.String(),
		DeviceFingerprint: a.fingerprint, Name: "test-" + a.fingerprint, OS: "linux",
	})
	if err == nil {
		a.reg = reg
	}
	return reg, err
}

// enroll logs in as user and registers, failing the test on any error.
func (a *testAgent) enroll(user *scriptbrowser.Credentials) control.Registration {
	a.t.Helper()
	reg, err := a.register(a.login(user))
	if err != nil {
		a.t.Fatalf("register: %v", err)
	}
	return reg
}

// startTunnel brings up the agent's WireGuard tunnel in proxy mode.
func (a *testAgent) startTunnel() *tunnel.Tunnel {
	a.t.Helper()
	r := a.reg.Tunnel
	tun, err := tunnel.New(a.t.Context(), tunnel.Config{
		Tunnel: session.Tunnel{
			Endpoint: r.Endpoint, EdgePublicKey: r.EdgePublicKey, Addresses: r.Addresses,
			DNS: r.DNS, AllowedIPs: r.AllowedIPs, MTU: r.MTU,
		},
		PrivateKey: a.key,
	}, tunnel.Options{ProxyAddr: "127.0.0.1:0", Logger: zaptest.NewLogger(a.t)})
	if err != nil {
		a.t.Fatalf("tunnel: %v", err)
	}
	a.t.Cleanup(func() { _ = tun.Close() })
	return tun
}

// getThrough fetches rawURL through the tunnel's HTTP proxy.
func getThrough(ctx context.Context, tun *tunnel.Tunnel, rawURL string) (int, string, error) {
	proxy, _ := url.Parse("http://" + tun.ProxyAddr())
	c := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxy), DisableKeepAlives: true}, Timeout: 15 * time.Second}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// freePorts reserves n TCP ports and one UDP port on loopback and releases
// them, for tests that restart the edge on the same addresses.
func freeListeners(t *testing.T) Listeners {
	t.Helper()
	return Listeners{API: freeport.TCP(t), TeamDomain: freeport.TCP(t), IdP: freeport.TCP(t), WireGuard: freeport.UDP(t)}
}

// auditKinds returns the kinds of every audit record, in order.
func auditKinds(t *testing.T, s *Simulator) []string {
	t.Helper()
	page, err := adminClient(s).Audit(t.Context(), 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, r := range page.Records {
		kinds = append(kinds, r.Kind)
	}
	return kinds
}

// stateDir returns a state directory that does not exist yet, so that the
// simulator creates it 0700.
func stateDir(t *testing.T) string { return filepath.Join(t.TempDir(), "state") }

package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/ztagent/ztagent/internal/clock"
	"github.com/ztagent/ztagent/internal/testenv/fakecontrol"
	"github.com/ztagent/ztagent/internal/testenv/syncbuf"
	"github.com/ztagent/ztagent/pkg/apierror"
	"github.com/ztagent/ztagent/pkg/control"
	"github.com/ztagent/ztagent/pkg/ipc"
	"github.com/ztagent/ztagent/pkg/ipc/ipcproto"
	"github.com/ztagent/ztagent/pkg/tunnel"
	"github.com/ztagent/ztagent/platform/keyring"
	"github.com/ztagent/ztagent/platform/peercred"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var t0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

// fakeEdge is an HTTP control API with knobs: it serves the routes the
// agent uses, checks PKCE against the challenge the test hands it, and
// keeps one device's event stream. Its clock (edgeNow) is apart from the
// agent's, so that tests can skew or jump one without the other.
type fakeEdge struct {
	t   testing.TB
	srv *httptest.Server
	mux *http.ServeMux // more routes may be added before the first request

	mu          sync.Mutex
	edgeNow     time.Time
	challenges  map[string]string // code → code_challenge
	otherUser   string            // non-empty: refuse registration as owned by this user
	token       string
	deviceID    string
	authTime    time.Time
	fingerprint []string
	events      *fakecontrol.Events
	revoked     bool
	leaveDenied bool
	sessionReqs int
	// sessionDown makes the session view answer 503.
	sessionDown bool
	policies    []map[string]any
	// tokenSecret is the secret of the service token servers.access;
	// tokenAttempts counts registrations with a service token.
	tokenSecret   string
	tokenAttempts int
	tokenDown     bool // answer them 503
	// tamperTeam rewrites the team in registration answers, as a man in
	// the middle would.
	tamperTeam func(*control.TeamInfo)
}

func newFakeEdge(t testing.TB) *fakeEdge {
	e := &fakeEdge{
		t: t, edgeNow: t0, challenges: map[string]string{}, token: "tok-" + strconv.FormatInt(time.Now().UnixNano(), 36) + "-canary",
		deviceID: "dev-1", authTime: t0.Add(-time.Minute), events: fakecontrol.NewEvents(),
		policies: []map[string]any{{"policy_id": "p-git", "name": "Git over HTTP", "filter": "http", "duration": "1h0m0s"}},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/teams/{name}", e.team)
	mux.HandleFunc("POST /v1/registrations", e.register)
	mux.HandleFunc("GET /v1/registrations/{id}/events", e.authed(e.events.ServeHTTP))
	mux.HandleFunc("GET /v1/registrations/{id}/session", e.authed(e.session))
	mux.HandleFunc("GET /v1/registrations/{id}/explain", e.authed(func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]string{"dst": r.URL.Query().Get("dst"), "decision": "allow"})
	}))
	mux.HandleFunc("DELETE /v1/registrations/{id}", e.authed(func(w http.ResponseWriter, r *http.Request) {
		e.mu.Lock()
		defer e.mu.Unlock()
		if e.leaveDenied {
			e.fail(w, 403, apierror.Error{Code: "not_allowed_to_leave", Message: "not allowed"})
			return
		}
		e.revoked = true
		w.WriteHeader(http.StatusNoContent)
	}))
	e.mux = mux
	e.srv = httptest.NewServer(mux)
	t.Cleanup(e.srv.Close)
	return e
}

func (e *fakeEdge) fail(w http.ResponseWriter, status int, d apierror.Error) {
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(apierror.Body{Error: d})
}

func (e *fakeEdge) team(w http.ResponseWriter, r *http.Request) {
	if r.PathValue("name") != "acme" {
		e.fail(w, 404, apierror.Error{Code: control.CodeUnknownTeam, Message: "no such team"})
		return
	}
	_ = json.NewEncoder(w).Encode(control.Team{Name: "acme", Domain: e.srv.URL, IdP: control.IdP{Type: "azureAD", Prompt: "login"}})
}

// expectCode lets the registration with code redeem the enrollment whose
// URL carried challenge.
func (e *fakeEdge) expectCode(code, challenge string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.challenges[code] = challenge
}

func (e *fakeEdge) register(w http.ResponseWriter, r *http.Request) {
	var req control.RegisterRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		e.fail(w, 400, apierror.Error{Code: "bad_request", Message: err.Error()})
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if t := req.ServiceToken; t != nil {
		e.tokenAttempts++
		if e.tokenDown {
			e.fail(w, 503, apierror.Error{Code: "unavailable", Message: "the edge is restarting"})
			return
		}
		if t.ClientID != "servers.access" || t.ClientSecret != e.tokenSecret || e.tokenSecret == "" {
			e.fail(w, 401, apierror.Error{Code: control.CodeInvalidServiceToken, Message: "the service token's client ID or secret is wrong"})
			return
		}
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(control.Registration{
			DeviceID: e.deviceID, DeviceToken: e.token,
			User:       control.User{Email: "non_identity@acme.cloudflareaccess.com", Name: "Service token Servers", Groups: []string{}},
			ServerTime: e.edgeNow, ServiceToken: &control.ServiceTokenInfo{ID: "tok-1", Name: "Servers"},
			Team: control.TeamInfo{Name: "acme", Domain: e.srv.URL, RefreshIdentityURL: e.srv.URL + "/cdn-cgi/access/refresh-identity"},
			Tunnel: control.Tunnel{Endpoint: "127.0.0.1:2408", EdgePublicKey: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
				Addresses: []string{"100.96.0.3/32"}, DNS: []string{"100.96.0.1"}, AllowedIPs: []string{"0.0.0.0/0"}, MTU: 1280},
		})
		if e.revoked {
			e.events.Forget() // a revoked device registers as a new one
		}
		e.revoked = false
		return
	}
	want, ok := e.challenges[req.Code]
	delete(e.challenges, req.Code)
	if !ok || pkceChallenge(req.CodeVerifier) != want {
		e.fail(w, 400, apierror.Error{Code: "invalid_grant", Message: "bad code or verifier"})
		return
	}
	e.fingerprint = append(e.fingerprint, req.DeviceFingerprint)
	if e.otherUser != "" {
		e.fail(w, 409, apierror.Error{Code: ipcproto.CodeOtherUser, Message: "registered to someone else", User: e.otherUser})
		return
	}
	if e.revoked {
		e.events.Forget() // a revoked device registers as a new one
	}
	e.revoked = false
	team := control.TeamInfo{Name: "acme", Domain: e.srv.URL, RefreshIdentityURL: e.srv.URL + "/cdn-cgi/access/refresh-identity"}
	if e.tamperTeam != nil {
		e.tamperTeam(&team)
	}
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(control.Registration{
		DeviceID: e.deviceID, DeviceToken: e.token,
		User: control.User{Email: "alice@example.com", Name: "Alice", Groups: []string{"engineering"}},
		IdP:  control.IdP{Type: "azureAD", Prompt: "login"}, AuthTime: e.authTime, ServerTime: e.edgeNow,
		Team: team,
		Tunnel: control.Tunnel{Endpoint: "127.0.0.1:2408", EdgePublicKey: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
			Addresses: []string{"100.96.0.2/32"}, DNS: []string{"100.96.0.1"}, AllowedIPs: []string{"0.0.0.0/0"}, MTU: 1280},
	})
}

func (e *fakeEdge) authed(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		e.mu.Lock()
		ok, revoked := r.Header.Get("Authorization") == "Bearer "+e.token, e.revoked
		e.mu.Unlock()
		switch {
		case !ok:
			e.fail(w, 401, apierror.Error{Code: control.CodeInvalidToken, Message: "bad token"})
		case revoked:
			e.fail(w, 401, apierror.Error{Code: control.CodeDeviceRevoked, Message: "revoked"})
		default:
			h(w, r)
		}
	}
}

func (e *fakeEdge) session(w http.ResponseWriter, _ *http.Request) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.sessionReqs++
	if e.sessionDown {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	_ = json.NewEncoder(w).Encode(map[string]any{
		"auth_time": e.authTime, "server_time": e.edgeNow, "gateway": e.policies,
		"access": map[string]any{"duration": "12h0m0s", "expires_at": e.authTime.Add(12 * time.Hour)},
	})
}

func (e *fakeEdge) sessionRequests() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.sessionReqs
}

func (e *fakeEdge) setOtherUser(u string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.otherUser = u
}

func (e *fakeEdge) setNow(t time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.edgeNow = t
}

// appendEvent adds an event to the device's stream.
func (e *fakeEdge) appendEvent(typ string, payload any) int64 {
	e.mu.Lock()
	now := e.edgeNow
	if typ == control.EventDeviceRevoked {
		e.revoked = true
	}
	e.mu.Unlock()
	return e.events.Append(typ, now, payload)
}

func (e *fakeEdge) streamAfters() []int64 { return e.events.Afters() }

// fakeTunnel is a Tunnel that records its life.
type fakeTunnel struct {
	cfg    tunnel.Config
	opts   tunnel.Options
	closed atomic.Bool
}

func (f *fakeTunnel) ProxyAddr() string {
	if f.opts.Mode == tunnel.ModeTUN {
		return ""
	}
	return f.opts.ProxyAddr
}
func (f *fakeTunnel) InterfaceName() string { return "" }
func (f *fakeTunnel) Stats() (tunnel.Stats, error) {
	if f.closed.Load() {
		return tunnel.Stats{}, tunnel.ErrClosed
	}
	return tunnel.Stats{Endpoint: f.cfg.Tunnel.Endpoint, RxBytes: 1, TxBytes: 2}, nil
}
func (f *fakeTunnel) Close() error { f.closed.Store(true); return nil }

type fakeTunnels struct {
	mu      sync.Mutex
	started []*fakeTunnel
	fail    error
}

func (f *fakeTunnels) start(_ context.Context, cfg tunnel.Config, opts tunnel.Options) (Tunnel, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return nil, f.fail
	}
	t := &fakeTunnel{cfg: cfg, opts: opts}
	f.started = append(f.started, t)
	return t, nil
}

func (f *fakeTunnels) last() *fakeTunnel {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.started) == 0 {
		return nil
	}
	return f.started[len(f.started)-1]
}

// hangingKeyring wraps a store; while hung, every call waits for its
// context's deadline and fails with ErrUnavailable, as a locked Secret
// Service does.
type hangingKeyring struct {
	keyring.Store
	hung atomic.Bool
	// waiting counts the calls hanging now.
	waiting atomic.Int32
}

func (h *hangingKeyring) wait(ctx context.Context) error {
	if !h.hung.Load() {
		return nil
	}
	h.waiting.Add(1)
	defer h.waiting.Add(-1)
	<-ctx.Done()
	return fmt.Errorf("%w: no answer before the deadline", keyring.ErrUnavailable)
}

func (h *hangingKeyring) Get(ctx context.Context, k string) ([]byte, error) {
	if err := h.wait(ctx); err != nil {
		return nil, err
	}
	return h.Store.Get(ctx, k)
}

func (h *hangingKeyring) Set(ctx context.Context, k string, v []byte) error {
	if err := h.wait(ctx); err != nil {
		return err
	}
	return h.Store.Set(ctx, k, v)
}

func (h *hangingKeyring) Delete(ctx context.Context, k string) error {
	if err := h.wait(ctx); err != nil {
		return err
	}
	return h.Store.Delete(ctx, k)
}

// monoClock is the monotonic clock of a fake wall clock: it moves with
// every Advance of the fake, at the same instant, so the agent's jump
// detector never sees the two apart in the middle of an advance (a
// separate counter moved before the wall clock looked like a backward
// jump to a loop that woke between the two). A wall-clock jump is a Set
// of the fake that the monotonic clock does not follow (wallJump).
type monoClock struct {
	clk      *clock.Fake
	start    time.Time
	wallOnly atomic.Int64
}

func (m *monoClock) now() time.Duration {
	return m.clk.Now().Sub(m.start) - time.Duration(m.wallOnly.Load())
}

// wallJump moves the wall clock alone to t. The wall clock moves first,
// as if both clocks moved, and the monotonic one is then taken back: an
// agent that reads the two in between sees no jump, then the whole jump
// at its wall time. The other order let it see the monotonic clock jump
// back while the wall clock had not moved yet, and measure the edge's
// clock against the wall time before the jump (a flake under load).
func (m *monoClock) wallJump(t time.Time) {
	from := m.clk.Now()
	m.clk.Set(t)
	m.wallOnly.Add(int64(t.Sub(from)))
}

// env is an agent on a fake edge, fake tunnels, a memory keyring and a
// fake clock, with a subscription that records every event.
type env struct {
	t       testing.TB
	edge    *fakeEdge
	clk     *clock.Fake
	mono    *monoClock
	kr      *hangingKeyring
	tunnels *fakeTunnels
	logs    *syncbuf.Buffer
	dir     string
	a       *Agent
	events  chan ipcproto.Event
	runDone chan error
	cancel  context.CancelFunc
	opts    Options
	browser browserOwner
}

// browserOwner stands in for the kernel's answer to "who owns the browser
// that called the enrollment callback": it asks the kernel (the real path)
// and, since one test process plays users 1000 and 1001, names the test's
// own sockets as uid, root (whom every enrollment admits) by default.
type browserOwner struct{ uid atomic.Int64 }

func (b *browserOwner) owner(c net.Conn) (int, error) {
	uid, err := peercred.LoopbackTCPOwner(c)
	if err == nil && uid == os.Getuid() {
		return int(b.uid.Load()), nil
	}
	return uid, err
}

func newEnv(t testing.TB, edit ...func(*Options)) *env {
	t.Helper()
	fake := clock.NewFake(t0)
	e := &env{t: t, edge: newFakeEdge(t), clk: fake, mono: &monoClock{clk: fake, start: t0},
		kr: &hangingKeyring{Store: keyring.NewMemory()}, tunnels: &fakeTunnels{}, logs: &syncbuf.Buffer{}, dir: filepath.Join(t.TempDir(), "state")}
	e.opts = Options{
		StateDir: e.dir, Keyring: e.kr, EdgeAPI: e.edge.srv.URL, Team: "acme",
		ProxyAddr: "127.0.0.1:40001", StartTunnel: e.tunnels.start, Clock: e.clk, Monotonic: e.mono.now,
		CallbackOwner: e.browser.owner,
		// A healthy in-memory keyring answers at once; only the hang
		// test shortens this, to see keyring_unavailable soon.
		KeyringTimeout: DefaultKeyringTimeout, Logger: bufLogger(e.logs),
		// The fake clock jumps hours at a time; the fake edge sends no
		// heartbeats.
		StreamIdleTimeout: 1000 * time.Hour, JumpCheckInterval: time.Minute,
	}
	for _, f := range edit {
		f(&e.opts)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("agent logs:\n%s", e.logs.String())
		}
	})
	e.start()
	return e
}

func bufLogger(buf *syncbuf.Buffer) *zap.Logger {
	enc := zapcore.NewJSONEncoder(zap.NewDevelopmentEncoderConfig())
	return zap.New(zapcore.NewCore(enc, zapcore.AddSync(buf), zap.DebugLevel))
}

// start runs a new agent on the env's state dir and keyring.
func (e *env) start() {
	e.t.Helper()
	a, err := New(e.opts)
	if err != nil {
		e.t.Fatal(err)
	}
	e.a = a
	_, ch, cancel := a.Subscribe(ipc.Caller{UID: 0})
	if e.events == nil {
		e.events = make(chan ipcproto.Event, 1000)
	}
	out := e.events
	go func() {
		for ev := range ch {
			out <- ev
		}
	}()
	ctx, stop := context.WithCancel(context.Background())
	e.cancel = func() { cancel(); stop() }
	e.runDone = make(chan error, 1)
	go func() { e.runDone <- a.Run(ctx) }()
	e.t.Cleanup(e.stop)
}

// stop closes the agent and waits for Run.
func (e *env) stop() {
	if e.a == nil {
		return
	}
	e.cancel()
	if err := e.a.Close(); err != nil {
		e.t.Errorf("Close: %v", err)
	}
	select {
	case <-e.runDone:
	case <-time.After(10 * time.Second):
		e.t.Error("Run did not return after Close")
	}
	e.a = nil
}

// waitEvent returns the next event of type typ, failing after 10 s.
func (e *env) waitEvent(typ string) ipcproto.Event {
	e.t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case ev := <-e.events:
			if ev.Type == typ {
				return ev
			}
		case <-deadline:
			e.t.Fatalf("no %s event within 30s (state %s: %s)", typ, e.a.Status(context.Background()).State, e.a.Status(context.Background()).Message)
		}
	}
}

// waitState waits until the agent is in state s.
func (e *env) waitState(s ipcproto.State) ipcproto.Status {
	e.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		st := e.a.Status(context.Background())
		if st.State == s {
			return st
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("state %s (%s), want %s", st.State, st.Message, s)
		}
		select {
		case <-e.events: // any change may be the one
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// drain returns the events queued so far.
func (e *env) drain() []ipcproto.Event {
	var out []ipcproto.Event
	for {
		select {
		case ev := <-e.events:
			out = append(out, ev)
		default:
			return out
		}
	}
}

// enroll registers through the agent's loopback callback as a browser
// returning from the team domain would.
func (e *env) enroll(uid int) {
	e.t.Helper()
	e.waitState(ipcproto.StateUnregistered)
	au, err := e.a.Register(e.t.Context(), ipc.Caller{UID: uid}, ipcproto.RegisterRequest{})
	if err != nil {
		e.t.Fatalf("Register: %v", err)
	}
	cb := e.callbackURL(au.AuthURL, "code-1", "")
	if status, body := get(e.t, cb); status != 200 || !strings.Contains(body, "registered") {
		e.t.Fatalf("callback: %d %s", status, body)
	}
	e.waitState(ipcproto.StateConnected)
}

// callbackURL reads an auth URL and returns the callback the team domain
// would redirect to with code (and state, or the right one when empty).
// The fake edge learns the code's PKCE challenge.
func (e *env) callbackURL(authURL, code, state string) string {
	e.t.Helper()
	u, err := url.Parse(authURL)
	if err != nil {
		e.t.Fatal(err)
	}
	q := u.Query()
	e.edge.expectCode(code, q.Get("code_challenge"))
	if state == "" {
		state = q.Get("state")
	}
	return q.Get("redirect_uri") + "?" + url.Values{"code": {code}, "state": {state}}.Encode()
}

func get(t testing.TB, u string) (int, string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return resp.StatusCode, b.String()
}

func isIPCCode(err error, code string) bool {
	var ie *apierror.Error
	return errors.As(err, &ie) && ie.Code == code
}

package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
	"golang.org/x/crypto/bcrypt"

	"github.com/ztagent/ztagent/internal/testenv/freeport"
	"github.com/ztagent/ztagent/internal/testenv/scriptbrowser"
	"github.com/ztagent/ztagent/internal/testenv/syncbuf"
	"github.com/ztagent/ztagent/pkg/control"
	"github.com/ztagent/ztagent/pkg/edge/admin"
	"github.com/ztagent/ztagent/pkg/edge/simulator"
	"github.com/ztagent/ztagent/pkg/ipc"
	"github.com/ztagent/ztagent/pkg/ipc/ipcproto"
	"github.com/ztagent/ztagent/platform/keyring"
)

const exampleDir = "../../examples/acme"

var (
	alice = &scriptbrowser.Credentials{Email: "alice@example.com", Password: "alice-demo-password"}
	bob   = &scriptbrowser.Credentials{Email: "bob@example.com", Password: "bob-demo-password"}
)

// simEnv is an agent with the real tunnel and keyring store against an
// in-process edge on fixed free ports (so it can be restarted), with a
// scripted browser, and a record of every output the agent produced.
type simEnv struct {
	t *testing.T
	// browserOwner names the script browser's sockets as root's.
	browserOwner browserOwner
	simOpts      simulator.Options
	sim          *simulator.Simulator
	browser      *scriptbrowser.Browser
	kr           keyring.Store
	dir          string
	logs         *syncbuf.Buffer
	a            *Agent
	cancel       context.CancelFunc
	runDone      chan error

	mu      sync.Mutex
	events  []ipcproto.Event
	outputs []string // statuses and errors, for the canary check
	notify  chan struct{}
}

func newSimEnv(t *testing.T) *simEnv {
	t.Helper()
	dir := t.TempDir()
	git := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprintf(w, "git: %s", r.URL.Path) }))
	t.Cleanup(git.Close)
	tfDir := filepath.Join(dir, "tf")
	if err := os.Mkdir(tfDir, 0o755); err != nil {
		t.Fatal(err)
	}
	copyFile(t, filepath.Join(exampleDir, "main.tf"), filepath.Join(tfDir, "main.tf"), nil)
	simFile := filepath.Join(dir, "simulator.hcl")
	copyFile(t, filepath.Join(exampleDir, "simulator.hcl"), simFile, strings.NewReplacer(
		`"127.0.0.1:9081"`, `"`+git.Listener.Addr().String()+`"`))
	e := &simEnv{t: t, kr: keyring.NewMemory(), dir: filepath.Join(dir, "agent"), logs: &syncbuf.Buffer{}, notify: make(chan struct{}, 1)}
	e.simOpts = simulator.Options{
		TerraformDir: tfDir, SimFile: simFile, StateDir: filepath.Join(dir, "edge"),
		Listen: freeListeners(t), BcryptCost: bcrypt.MinCost, Logger: zaptest.NewLogger(t).Named("edge"),
	}
	e.startSim()
	b, err := scriptbrowser.New(scriptbrowser.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	e.browser = b
	e.startAgent()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("agent logs:\n%s", e.logs.String())
		}
	})
	return e
}

func copyFile(t *testing.T, from, to string, r *strings.Replacer) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	if r != nil {
		s = r.Replace(s)
	}
	if err := os.WriteFile(to, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func freeListeners(t *testing.T) simulator.Listeners {
	t.Helper()
	return simulator.Listeners{API: freeport.TCP(t), TeamDomain: freeport.TCP(t), IdP: freeport.TCP(t), WireGuard: freeport.UDP(t)}
}

func (e *simEnv) startSim() {
	e.t.Helper()
	s, err := simulator.Start(e.t.Context(), e.simOpts)
	if err != nil {
		e.t.Fatalf("start the edge: %v", err)
	}
	e.sim = s
	e.t.Cleanup(func() { _ = s.Close() })
}

func (e *simEnv) startAgent() {
	e.t.Helper()
	opts := Options{
		StateDir: e.dir, Keyring: e.kr, EdgeAPI: e.sim.APIURL(), Team: e.sim.Team(), ProxyAddr: "127.0.0.1:0",
		Logger: bufLogger(e.logs), StreamMinBackoff: 50 * time.Millisecond, StreamMaxBackoff: 500 * time.Millisecond,
		CallbackOwner: e.browserOwner.owner,
	}
	opts.TunnelOptions.MemoryLimit = -1
	a, err := New(opts)
	if err != nil {
		e.t.Fatal(err)
	}
	e.a = a
	_, ch, cancel := a.Subscribe(ipc.Caller{UID: 0})
	go func() {
		for ev := range ch {
			e.mu.Lock()
			e.events = append(e.events, ev)
			e.mu.Unlock()
			select {
			case e.notify <- struct{}{}:
			default:
			}
		}
	}()
	ctx, stop := context.WithCancel(context.Background())
	e.cancel = func() { cancel(); stop() }
	e.runDone = make(chan error, 1)
	go func() { e.runDone <- a.Run(ctx) }()
	e.t.Cleanup(e.stopAgent)
}

func (e *simEnv) stopAgent() {
	if e.a == nil {
		return
	}
	e.cancel()
	_ = e.a.Close()
	<-e.runDone
	e.a = nil
}

func (e *simEnv) admin() *admin.Client {
	tok, _ := e.sim.AdminToken()
	return &admin.Client{BaseURL: e.sim.APIURL(), Token: tok}
}

// status returns the status and records it for the canary check.
func (e *simEnv) status() ipcproto.Status {
	st := e.a.Status(context.Background())
	b, _ := json.Marshal(st)
	e.record(string(b))
	return st
}

func (e *simEnv) record(s string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.outputs = append(e.outputs, s)
}

// eventsOf returns the events of type typ seen so far.
func (e *simEnv) eventsOf(typ string) []ipcproto.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []ipcproto.Event
	for _, ev := range e.events {
		if ev.Type == typ {
			out = append(out, ev)
		}
	}
	return out
}

// waitEvents waits until n events of type typ have been seen.
func (e *simEnv) waitEvents(typ string, n int) []ipcproto.Event {
	e.t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		if evs := e.eventsOf(typ); len(evs) >= n {
			return evs
		}
		select {
		case <-e.notify:
		case <-deadline:
			st := e.status()
			e.t.Fatalf("fewer than %d %s events within 30s (state %s: %s)", n, typ, st.State, st.Message)
		}
	}
}

func (e *simEnv) waitState(s ipcproto.State) ipcproto.Status {
	e.t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		st := e.status()
		if st.State == s {
			return st
		}
		select {
		case <-e.notify:
		case <-time.After(100 * time.Millisecond): // a state may change without an event reaching us first
		case <-deadline:
			e.t.Fatalf("state %s (%s), want %s", st.State, st.Message, s)
		}
	}
}

// register enrolls through the agent as user: the agent's auth URL in the
// browser, the IdP's form, then the agent's loopback callback.
func (e *simEnv) register(uid int, user *scriptbrowser.Credentials) (code string, err error) {
	e.t.Helper()
	au, err := e.a.Register(e.t.Context(), ipc.Caller{UID: uid}, ipcproto.RegisterRequest{})
	if err != nil {
		return "", err
	}
	u, _ := url.Parse(au.AuthURL)
	redirect := u.Query().Get("redirect_uri")
	res, err := e.browser.Visit(e.t.Context(), au.AuthURL, scriptbrowser.VisitOptions{Login: user, StopAt: []string{redirect}})
	if err != nil || !res.Stopped {
		e.t.Fatalf("the enrollment did not reach the callback: %+v %v", res, err)
	}
	resp, err := http.Get(res.URL)
	if err != nil {
		e.t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	e.record(string(body))
	return res.Query().Get("code"), nil
}

// getThrough fetches rawURL through the agent's proxy.
func (e *simEnv) getThrough(rawURL string) int {
	e.t.Helper()
	st := e.status()
	if st.Tunnel == nil {
		e.t.Fatal("no tunnel")
	}
	proxy, _ := url.Parse("http://" + st.Tunnel.ProxyAddr)
	c := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxy), DisableKeepAlives: true}, Timeout: 20 * time.Second}
	resp, err := c.Get(rawURL)
	if err != nil {
		e.t.Fatalf("GET %s through the tunnel: %v", rawURL, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// checkCanaries fails if any secret appears in the agent's logs, events,
// statuses, errors or pages (SEC5).
func (e *simEnv) checkCanaries(secrets ...string) {
	e.t.Helper()
	e.mu.Lock()
	var all []string
	for _, ev := range e.events {
		b, _ := json.Marshal(ev)
		all = append(all, string(b))
	}
	all = append(all, e.outputs...)
	e.mu.Unlock()
	all = append(all, e.logs.String())
	for _, s := range secrets {
		if len(s) < 8 {
			e.t.Fatalf("canary %q is too short to mean anything", s)
		}
		for _, out := range all {
			if strings.Contains(out, s) {
				e.t.Fatalf("a secret leaked into the agent's output: %.200s", out)
			}
		}
	}
}

// The whole story with the real edge, tunnel and keyring store: register
// → connected; a flow blocked on expiry → session_expired and exactly one
// browse_to_url with the refresh-identity URL → the user re-authenticates
// there → session_refreshed → connected and the flow allowed; a second
// user is refused with the owner's name; revoke → keyring emptied and
// revoked. No secret shows in any output.
func TestIntegrationSessionLifecycle(t *testing.T) {
	e := newSimEnv(t)
	e.waitState(ipcproto.StateUnregistered)
	code, err := e.register(1000, alice)
	if err != nil {
		t.Fatal(err)
	}
	st := e.waitState(ipcproto.StateConnected)
	if st.Registration.User != "alice@example.com" || st.Tunnel.ProxyAddr == "" {
		t.Fatalf("status %+v", st)
	}
	reg, err := newRegStore(e.kr).Load(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if status := e.getThrough("http://git.acme.internal/repo"); status != 200 {
		t.Fatalf("git before expiry: %d", status)
	}

	if _, err := e.admin().AdvanceClock(t.Context(), 61*time.Minute); err != nil {
		t.Fatal(err)
	}
	if status := e.getThrough("http://git.acme.internal/repo"); status != http.StatusForbidden {
		t.Fatalf("git after 61m: %d, want 403", status)
	}
	e.getThrough("http://git.acme.internal/again")
	prompts := e.waitEvents(ipcproto.EventBrowseToURL, 2) // register's, then the expiry's
	var bu ipcproto.BrowseToURL
	if err := json.Unmarshal(prompts[1].Data, &bu); err != nil || bu.URL != reg.Team.RefreshIdentityURL || bu.Reason != "session_expired" {
		t.Fatalf("browse_to_url %s", prompts[1].Data)
	}
	st = e.waitState(ipcproto.StateReauthRequired)
	if st.ReauthURL != reg.Team.RefreshIdentityURL {
		t.Fatalf("reauth_url %q", st.ReauthURL)
	}
	// The wiki's own limit (1h30m) passes too: another session_expired,
	// but the same expiry, so no new prompt.
	if _, err := e.admin().AdvanceClock(t.Context(), 30*time.Minute); err != nil {
		t.Fatal(err)
	}
	e.getThrough("http://wiki.acme.internal/") // blocked at L4: an error page from the proxy
	e.waitEvents(ipcproto.EventSessionExpired, 2)
	if n := len(e.eventsOf(ipcproto.EventBrowseToURL)); n != 2 {
		t.Fatalf("%d browse_to_url events, want the registration's and exactly one for the expiry", n)
	}

	// The tray opens the URL; the user signs in again (prompt=login).
	res, err := e.browser.Visit(t.Context(), bu.URL, scriptbrowser.VisitOptions{Login: alice})
	if err != nil || res.Status != 200 {
		t.Fatalf("refresh-identity: %+v %v", res, err)
	}
	var sr ipcproto.SessionRefreshed
	if evs := e.waitEvents(ipcproto.EventSessionRefreshed, 1); json.Unmarshal(evs[0].Data, &sr) != nil || !sr.AuthTime.After(reg.AuthTime) {
		t.Fatalf("session_refreshed %s", evs[0].Data)
	}
	e.waitState(ipcproto.StateConnected)
	if status := e.getThrough("http://git.acme.internal/repo"); status != 200 {
		t.Fatalf("git after re-authentication: %d", status)
	}
	stored, err := newRegStore(e.kr).Load(t.Context())
	if err != nil || !stored.AuthTime.Equal(sr.AuthTime) {
		t.Fatalf("stored auth_time %v (%v), want %v", stored.AuthTime, err, sr.AuthTime)
	}
	sess, err := e.a.Session(t.Context())
	if err != nil || len(sess.Gateway) != 2 || sess.Gateway[0].Expired {
		t.Fatalf("session map after refresh: %+v %v", sess, err)
	}

	// S13: another user may not take the device.
	_, err = e.a.Register(t.Context(), ipc.Caller{UID: 1001}, ipcproto.RegisterRequest{})
	if !isIPCCode(err, ipcproto.CodeAlreadyRegistered) || !strings.Contains(err.Error(), "alice@example.com") {
		t.Fatalf("bob's register: %v", err)
	}
	e.record(err.Error())

	// S14: revocation.
	if _, err := e.admin().Revoke(t.Context(), reg.DeviceID); err != nil {
		t.Fatal(err)
	}
	e.waitEvents(ipcproto.EventDeviceRevoked, 1)
	st = e.waitState(ipcproto.StateRevoked)
	if st.Tunnel != nil || st.Registration != nil {
		t.Fatalf("status after revocation %+v", st)
	}
	if _, err := newRegStore(e.kr).Load(t.Context()); err != errNotRegistered {
		t.Fatalf("the keyring after revocation: %v", err)
	}
	e.checkCanaries(reg.DeviceToken.Reveal(), reg.WireGuardPrivateKey.Reveal(), code)
}

// REL3: with the edge stopped, and then hanging, Status answers while a
// request to the edge is held open and the agent says it is reconnecting; after the edge restarts on the same ports and
// state, the stream resumes after the last event: an event appended right
// after the restart arrives once.
func TestIntegrationEdgeOutage(t *testing.T) {
	e := newSimEnv(t)
	e.waitState(ipcproto.StateUnregistered)
	if _, err := e.register(1000, alice); err != nil {
		t.Fatal(err)
	}
	e.waitState(ipcproto.StateConnected)
	st := e.status()
	apiAddr := strings.TrimPrefix(e.sim.APIURL(), "http://")
	if err := e.sim.Close(); err != nil {
		t.Fatal(err)
	}
	e.waitState(ipcproto.StateConnecting)
	statusWhileEdgeHangs(t, e, apiAddr)
	e.startSim()
	if _, err := e.sim.Registry().Append(t.Context(), st.Registration.DeviceID, control.EventSessionExpired,
		control.SessionExpired{PolicyID: "p", PolicyName: "Git over HTTP", Filter: "http"}); err != nil {
		t.Fatal(err)
	}
	e.waitEvents(ipcproto.EventSessionExpired, 1)
	e.waitState(ipcproto.StateReauthRequired)
	if _, err := e.sim.Registry().Append(t.Context(), st.Registration.DeviceID, control.EventPolicyChanged, nil); err != nil {
		t.Fatal(err)
	}
	if err := waitCond(func() bool {
		e.a.mu.Lock()
		defer e.a.mu.Unlock()
		return e.a.snap.persisted.LastSeq > 0 && e.a.snap.streamUp && len(e.eventsOf(ipcproto.EventSessionExpired)) == 1
	}); err != nil {
		t.Fatal(err)
	}
	// A second run of the stream (a restart of the agent) does not replay it.
	e.stopAgent()
	before := len(e.eventsOf(ipcproto.EventSessionExpired))
	e.startAgent()
	e.waitState(ipcproto.StateConnected)
	if n := len(e.eventsOf(ipcproto.EventSessionExpired)); n != before {
		t.Fatalf("the restarted agent replayed %d session_expired events", n-before)
	}
}

// S13 at the edge: the device (same fingerprint, same state dir) lost its
// keyring and bob signs in: the edge refuses, and the agent reports
// alice as the owner.
func TestIntegrationSecondUserRefusedByEdge(t *testing.T) {
	e := newSimEnv(t)
	e.waitState(ipcproto.StateUnregistered)
	if _, err := e.register(1000, alice); err != nil {
		t.Fatal(err)
	}
	e.waitState(ipcproto.StateConnected)
	e.stopAgent()
	e.kr = keyring.NewMemory()
	e.browser.Close()
	b, err := scriptbrowser.New(scriptbrowser.Options{})
	if err != nil {
		t.Fatal(err)
	}
	e.browser = b
	e.startAgent()
	e.waitState(ipcproto.StateUnregistered)
	if _, err := e.register(1001, bob); err != nil {
		t.Fatal(err)
	}
	evs := e.waitEvents(ipcproto.EventError, 1)
	var ee ipcproto.ErrorEvent
	if json.Unmarshal(evs[0].Data, &ee) != nil || ee.Code != ipcproto.CodeOtherUser || !strings.Contains(ee.Message, "alice@example.com") {
		t.Fatalf("error event %s", evs[0].Data)
	}
	if st := e.waitState(ipcproto.StateUnregistered); !strings.Contains(st.Message, "alice@example.com") {
		t.Fatalf("status message %q", st.Message)
	}
}

// statusWhileEdgeHangs stands in for the edge at addr with a listener
// that accepts and never answers, and proves that Status answers while
// the agent's request to it is still held open: seen open before and
// after the Status calls. A request may give up between the two on a busy
// machine, so it tries again with the next one.
func statusWhileEdgeHangs(t *testing.T, e *simEnv, addr string) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("stand in for the edge at %s: %v", addr, err)
	}
	conns := make(chan net.Conn, 64)
	go func() {
		defer close(conns)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns <- c
		}
	}()
	var held []net.Conn
	defer func() {
		ln.Close()
		for c := range conns {
			held = append(held, c)
		}
		for _, c := range held {
			c.Close()
		}
	}()
	open := func(c net.Conn) bool {
		// A deadline already passed makes Read return at once: a timeout
		// while the agent keeps the connection, EOF once it closed it.
		_ = c.SetReadDeadline(time.Now())
		var b [1]byte
		_, err := c.Read(b[:])
		var ne net.Error
		return errors.As(err, &ne) && ne.Timeout()
	}
	deadline := time.After(time.Minute)
	for {
		var c net.Conn
		select {
		case c = <-conns:
			held = append(held, c)
		case <-deadline:
			t.Fatal("the agent never reached the hanging edge, or never kept a request open across a Status")
		}
		if !open(c) {
			continue
		}
		for range 20 {
			if got := e.status(); got.State != ipcproto.StateConnecting {
				t.Fatalf("state %s (%s) while the edge hangs, want connecting", got.State, got.Message)
			}
		}
		if open(c) {
			return
		}
	}
}

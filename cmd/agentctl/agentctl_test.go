package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ztagent/ztagent/pkg/ipc"
	"github.com/ztagent/ztagent/pkg/ipc/ipcproto"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeAgent is a Backend whose state tests drive.
type fakeAgent struct {
	mu         sync.Mutex
	status     ipcproto.Status
	subs       []chan ipcproto.Event
	authURL    string
	regErr     error // Register fails with it, when set
	onRegister func()
	subscribed chan struct{}              // gets a value per Subscribe, when not nil
	session    *ipcproto.Session          // Session answers it, when set
	explained  []string                   // the destinations Explain was asked about
	registered []ipcproto.RegisterRequest // every Register call's request
}

func (f *fakeAgent) Status(context.Context) ipcproto.Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.status
}
func (f *fakeAgent) Session(context.Context) (ipcproto.Session, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.session != nil {
		return *f.session, nil
	}
	now := time.Now()
	return ipcproto.Session{AuthTime: now.Add(-time.Hour), ServerTime: now, Gateway: []ipcproto.PolicyExpiry{
		{Name: "Git over HTTP", Filter: "http", Duration: "1h0m0s", ExpiresAt: now, Expired: true},
		{Name: "Company Wiki Network policy", Filter: "l4", Duration: "1h30m0s", ExpiresAt: now.Add(30 * time.Minute)},
	}}, nil
}
func (f *fakeAgent) Explain(_ context.Context, dst, _ string) (json.RawMessage, error) {
	f.mu.Lock()
	f.explained = append(f.explained, dst)
	f.mu.Unlock()
	return json.RawMessage(`{"dst":"wiki.acme.internal:80","user":"alice@example.com","session_age":"1h0m0s","action":"allow","stages":[{"filter":"l4","flow":"net.dst.ip=10.0.0.10","action":"allow","policy_name":"Company Wiki Network policy","trace":[{"name":"Risky categories","outcome":"not_matched","unsimulated":["net.sni.domains"]},{"name":"Company Wiki Network policy","outcome":"allowed"}]}]}`), nil
}
func (f *fakeAgent) Register(_ context.Context, _ ipc.Caller, req ipcproto.RegisterRequest) (ipcproto.AuthURL, error) {
	f.mu.Lock()
	f.registered = append(f.registered, req)
	f.mu.Unlock()
	if f.regErr != nil {
		return ipcproto.AuthURL{}, f.regErr
	}
	if f.onRegister != nil {
		go f.onRegister()
	}
	return ipcproto.AuthURL{AuthURL: f.authURL}, nil
}
func (f *fakeAgent) Leave(context.Context) error                  { return nil }
func (f *fakeAgent) Connect(context.Context) error                { return nil }
func (f *fakeAgent) Disconnect(context.Context, ipc.Caller) error { return nil }
func (f *fakeAgent) Reauth(context.Context, ipcproto.ReauthRequest) (ipcproto.AuthURL, error) {
	return ipcproto.AuthURL{AuthURL: f.authURL}, nil
}
func (f *fakeAgent) Settings(context.Context) ipcproto.Settings {
	return ipcproto.Settings{Mode: "proxy", ProxyAddr: "127.0.0.1:40000"}
}
func (f *fakeAgent) SetSettings(context.Context, ipcproto.Settings) error { return nil }
func (f *fakeAgent) Subscribe(ipc.Caller) (ipcproto.Status, <-chan ipcproto.Event, func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ch := make(chan ipcproto.Event, 16)
	f.subs = append(f.subs, ch)
	if f.subscribed != nil {
		f.subscribed <- struct{}{}
	}
	var once sync.Once
	return f.status, ch, func() {
		once.Do(func() {
			f.mu.Lock()
			defer f.mu.Unlock()
			for i, c := range f.subs {
				if c == ch {
					f.subs = append(f.subs[:i], f.subs[i+1:]...)
					close(ch)
				}
			}
		})
	}
}
func (f *fakeAgent) Operator() (int, bool) { return os.Getuid(), true }

// emit sends an event to every subscriber.
func (f *fakeAgent) emit(typ string, data any) {
	raw, _ := json.Marshal(data)
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.subs {
		c <- ipcproto.Event{Type: typ, Time: time.Now(), Data: raw}
	}
}

func (f *fakeAgent) setState(s ipcproto.State) {
	f.mu.Lock()
	f.status.State = s
	f.mu.Unlock()
}

func startDaemon(t *testing.T, f *fakeAgent) string {
	t.Helper()
	sock := socketPath(t)
	serveOn(t, sock, f)
	return sock
}

// socketPath returns a socket path in a new directory (short: under the
// system's temporary directory, not t.TempDir, as sun_path is bounded).
func socketPath(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "agentctl")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, "agentd.sock")
}

func agentctl(t *testing.T, sock string, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	code := run(ctx, append(args, "--socket", sock), &out, &errb)
	return out.String(), errb.String(), code
}

func TestStatusSessionWhy(t *testing.T) {
	f := &fakeAgent{status: ipcproto.Status{State: ipcproto.StateConnected, Registration: &ipcproto.Registration{User: "alice@example.com", Team: "acme", IdP: "azureAD", DeviceID: "dev-1"}}}
	sock := startDaemon(t, f)
	out, _, code := agentctl(t, sock, "status")
	if code != 0 || !strings.Contains(out, "connected") || !strings.Contains(out, "alice@example.com") {
		t.Fatalf("status: %d\n%s", code, out)
	}
	out, _, code = agentctl(t, sock, "status", "--json")
	var st ipcproto.Status
	if code != 0 || json.Unmarshal([]byte(out), &st) != nil || st.State != ipcproto.StateConnected {
		t.Fatalf("status --json: %d %q", code, out)
	}
	out, _, code = agentctl(t, sock, "session")
	if code != 0 || !strings.Contains(out, "Git over HTTP") || !strings.Contains(out, "expired just now: run 'agentctl reauth'") {
		t.Fatalf("session: %d\n%s", code, out)
	}
	out, _, code = agentctl(t, sock, "why", "wiki.acme.internal:80")
	if code != 0 || !strings.Contains(out, "Decision: allow") || !strings.Contains(out, "Risky categories: not_matched (not simulated, so never matched: net.sni.domains)") {
		t.Fatalf("why: %d\n%s", code, out)
	}
	if _, _, code := agentctl(t, sock, "why", "no-port"); code != exitUsage {
		t.Fatalf("why without a port: exit %d", code)
	}
	out, _, code = agentctl(t, sock, "settings", "get", "mode")
	if code != 0 || strings.TrimSpace(out) != "proxy" {
		t.Fatalf("settings get mode: %d %q", code, out)
	}
	if _, _, code := agentctl(t, sock, "settings", "set", "mode", "bogus"); code != exitUsage {
		t.Fatalf("settings set mode bogus: exit %d", code)
	}
}

func TestExitCodes(t *testing.T) {
	_, errOut, code := agentctl(t, filepath.Join(t.TempDir(), "none.sock"), "status")
	if code != exitUnreachable || !strings.Contains(errOut, "agentd") {
		t.Fatalf("no daemon: exit %d %q", code, errOut)
	}
	if _, _, code := agentctl(t, "x", "no-such-command"); code != exitUsage {
		t.Fatalf("unknown command: exit %d", code)
	}
	if _, _, code := agentctl(t, "x", "status", "extra"); code != exitUsage {
		t.Fatalf("extra argument: exit %d", code)
	}
}

// register prints the URL on a line of its own and waits until the agent
// is connected.
func TestRegisterWaits(t *testing.T) {
	const u = "http://acme.localhost:8781/warp?state=x"
	f := &fakeAgent{status: ipcproto.Status{State: ipcproto.StateUnregistered}, authURL: u}
	// register subscribes before it asks, so the subscriber exists here.
	f.onRegister = func() {
		f.setState(ipcproto.StateConnected)
		f.emit(ipcproto.EventStateChanged, ipcproto.StateChanged{From: ipcproto.StateRegistering, To: ipcproto.StateConnected})
	}
	sock := startDaemon(t, f)
	out, errOut, code := agentctl(t, sock, "register", "--no-browser", "--wait", "20s")
	if code != 0 {
		t.Fatalf("register: exit %d\n%s\n%s", code, out, errOut)
	}
	lines := strings.Split(out, "\n")
	if len(lines) < 2 || lines[1] != u || !strings.Contains(out, "Done: connected") {
		t.Fatalf("register output:\n%s", out)
	}
}

// watch --open-browser opens each browse_to_url event, and refuses invalid
// URLs.
func TestWatchOpensEachURLOnce(t *testing.T) {
	f := &fakeAgent{status: ipcproto.Status{State: ipcproto.StateConnected, TeamDomain: "http://acme.localhost:8781"},
		subscribed: make(chan struct{}, 1)}
	sock := startDaemon(t, f)
	opened := make(chan string, 8)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	var out, errb lockedBuffer
	// Only the desktop launcher is the test's: every URL passes agentctl's
	// own checks first, so removing them fails this test.
	a := &app{stdout: &out, stderr: &errb, launch: func(u string) error {
		opened <- u
		return nil
	}}
	go func() { done <- runApp(ctx, a, []string{"watch", "--open-browser", "--socket", sock}) }()
	select {
	case <-f.subscribed:
	case <-time.After(30 * time.Second):
		t.Fatal("watch did not subscribe")
	}
	// The same refresh-identity URL comes back at each expiry (the agent
	// publishes one event per expiry): each event is opened. A URL that
	// is malformed, or well formed but off the team domain agentd names,
	// is refused.
	const u = "http://acme.localhost:8781/cdn-cgi/access/refresh-identity"
	f.emit(ipcproto.EventBrowseToURL, ipcproto.BrowseToURL{URL: u, Reason: "session_expired"})
	f.emit(ipcproto.EventBrowseToURL, ipcproto.BrowseToURL{URL: "-evil", Reason: "session_expired"})
	f.emit(ipcproto.EventBrowseToURL, ipcproto.BrowseToURL{URL: "http://evil.example/cdn-cgi/access/refresh-identity", Reason: "session_expired"})
	f.emit(ipcproto.EventBrowseToURL, ipcproto.BrowseToURL{URL: u, Reason: "session_expired"})
	const marker = "http://acme.localhost:8781/last"
	f.emit(ipcproto.EventBrowseToURL, ipcproto.BrowseToURL{URL: marker, Reason: "reauth"})
	var got []string
	for len(got) < 3 {
		select {
		case x := <-opened:
			got = append(got, x)
		case <-time.After(30 * time.Second):
			t.Fatalf("opened %v so far", got)
		}
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("watch: exit %d %s", code, errb.String())
	}
	if got[0] != u || got[1] != u || got[2] != marker {
		t.Fatalf("opened %v; want %s twice (two expiries), then %s", got, u, marker)
	}
	if e := errb.String(); !strings.Contains(e, "could not open -evil") || !strings.Contains(e, "could not open http://evil.example/") {
		t.Fatalf("an invalid or foreign URL was not refused: %s", e)
	}
}

// From revoked (or keyring_unavailable), register waits for the new
// registration as from unregistered: the state agentd starts in is not the
// registration's failure. A move into revoked while it waits still is.
func TestRegisterFromRevokedWaits(t *testing.T) {
	const u = "http://acme.localhost:8781/warp?state=x"
	for _, from := range []ipcproto.State{ipcproto.StateRevoked, ipcproto.StateKeyringUnavailable} {
		f := &fakeAgent{status: ipcproto.Status{State: from, Message: "the device was revoked"}, authURL: u}
		f.onRegister = func() {
			f.emit(ipcproto.EventSessionRefreshed, ipcproto.SessionRefreshed{}) // an unrelated event first
			f.setState(ipcproto.StateConnected)
			f.emit(ipcproto.EventStateChanged, ipcproto.StateChanged{From: from, To: ipcproto.StateConnected})
		}
		sock := startDaemon(t, f)
		out, errOut, code := agentctl(t, sock, "register", "--no-browser", "--wait", "20s")
		if code != 0 || !strings.Contains(out, "Done: connected") {
			t.Fatalf("register from %s: exit %d\n%s\n%s", from, code, out, errOut)
		}
	}
	f := &fakeAgent{status: ipcproto.Status{State: ipcproto.StateUnregistered}, authURL: u}
	f.onRegister = func() {
		f.setState(ipcproto.StateRevoked)
		f.emit(ipcproto.EventStateChanged, ipcproto.StateChanged{From: ipcproto.StateRegistering, To: ipcproto.StateRevoked})
	}
	sock := startDaemon(t, f)
	if _, errOut, code := agentctl(t, sock, "register", "--no-browser", "--wait", "20s"); code == 0 || !strings.Contains(errOut, "register stopped: agentd is revoked") {
		t.Fatalf("register revoked while it waits: exit %d\n%s", code, errOut)
	}
}

// Over SSH without a display the person's browser is elsewhere, where the
// loopback callback is not this machine's: register uses a device code by
// itself and says so; with a display, or when told, it does not.
func TestRegisterChoosesDeviceCodeOverSSH(t *testing.T) {
	f := &fakeAgent{status: ipcproto.Status{State: ipcproto.StateUnregistered}, authURL: "http://acme.localhost:8781/cdn-cgi/access/device?user_code=BCDF-GHJK"}
	sock := startDaemon(t, f)
	t.Setenv("SSH_CONNECTION", "192.0.2.1 50000 192.0.2.2 22")
	t.Setenv("DISPLAY", "")
	t.Setenv("WAYLAND_DISPLAY", "")
	for _, tc := range []struct {
		args []string
		env  string
		want bool
	}{
		{[]string{"register", "--wait", "0"}, "", true},
		{[]string{"register", "--wait", "0", "--device-code=false"}, "", false},
		{[]string{"register", "--wait", "0", "--no-browser"}, "", false},
		{[]string{"register", "--wait", "0"}, ":0", false},
	} {
		t.Setenv("DISPLAY", tc.env)
		_, errOut, code := agentctl(t, sock, tc.args...)
		f.mu.Lock()
		last := f.registered[len(f.registered)-1]
		f.mu.Unlock()
		if code != 0 || last.DeviceCode != tc.want || strings.Contains(errOut, "using a device code") != tc.want {
			t.Errorf("%v with DISPLAY=%q: exit %d, device code %v, want %v\n%s", tc.args, tc.env, code, last.DeviceCode, tc.want, errOut)
		}
	}
}

// watch prints every event agentd sends as a readable line, never the raw
// JSON of its data.
func TestWatchDescribesEveryEvent(t *testing.T) {
	data := map[string]any{
		ipcproto.EventSnapshot:         ipcproto.Status{State: ipcproto.StateConnected},
		ipcproto.EventStateChanged:     ipcproto.StateChanged{From: ipcproto.StateConnecting, To: ipcproto.StateConnected},
		ipcproto.EventBrowseToURL:      ipcproto.BrowseToURL{URL: "http://acme.localhost:8781/x", Reason: "reauth"},
		ipcproto.EventSessionExpired:   ipcproto.SessionExpired{PolicyName: "Git", Filter: "http"},
		ipcproto.EventSessionRefreshed: ipcproto.SessionRefreshed{},
		ipcproto.EventExpiryWarning:    ipcproto.ExpiryWarning{PolicyName: "Git"},
		ipcproto.EventDeviceRevoked:    ipcproto.DeviceRevoked{DeviceID: "dev-1", Message: "an administrator revoked this device"},
		ipcproto.EventTunnelUp:         ipcproto.Tunnel{Mode: "proxy", ProxyAddr: "127.0.0.1:40000", Endpoint: "127.0.0.1:2408", Addresses: []string{"100.96.0.2/32"}},
		ipcproto.EventTunnelDown:       ipcproto.Tunnel{Mode: "proxy", Endpoint: "127.0.0.1:2408"},
		ipcproto.EventError:            ipcproto.ErrorEvent{Code: "reauth_failed", Message: "someone else signed in"},
	}
	for typ, d := range data {
		b, _ := json.Marshal(d)
		line := describe(ipcproto.Event{Type: typ, Data: b})
		if strings.Contains(line, "{") || strings.Contains(line, `"`+"device_id") || line == "" {
			t.Errorf("%s: %q", typ, line)
		}
	}
	b, _ := json.Marshal(data[ipcproto.EventDeviceRevoked])
	if got := describe(ipcproto.Event{Type: ipcproto.EventDeviceRevoked, Data: b}); got != "device dev-1 revoked: an administrator revoked this device" {
		t.Errorf("device_revoked: %q", got)
	}
}

// serveOn serves f's IPC on sock until the returned stop is called.
func serveOn(t *testing.T, sock string, f *fakeAgent) (stop func()) {
	t.Helper()
	srv, err := ipc.NewServer(ipc.ServerOptions{SocketPath: sock, Backend: f, DaemonVersion: "test"})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve() }()
	var once sync.Once
	stop = func() { once.Do(func() { srv.Close(); <-done }) }
	t.Cleanup(stop)
	return stop
}

// waitFor checks cond after each write watch makes (wrote), failing after
// 30 s without it.
func waitFor(t *testing.T, what string, wrote <-chan struct{}, cond func() bool) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for !cond() {
		select {
		case <-wrote:
		case <-deadline:
			t.Fatalf("no %s within 30 s", what)
		}
	}
}

// watch follows agentd across a restart: it says the stream was lost,
// subscribes again when agentd is back (on the same socket), and prints
// the new agentd's events.
func TestWatchResubscribesAcrossRestarts(t *testing.T) {
	first := &fakeAgent{status: ipcproto.Status{State: ipcproto.StateConnected}, subscribed: make(chan struct{}, 1)}
	sock := socketPath(t)
	stopFirst := serveOn(t, sock, first)
	wrote := make(chan struct{}, 1)
	out, errb := &lockedBuffer{wrote: wrote}, &lockedBuffer{wrote: wrote}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() { done <- runApp(ctx, &app{stdout: out, stderr: errb}, []string{"watch", "--socket", sock}) }()
	<-first.subscribed
	stopFirst()
	waitFor(t, "notice of the lost stream", wrote, func() bool { return strings.Contains(errb.String(), "lost agentd's event stream") })

	second := &fakeAgent{status: ipcproto.Status{State: ipcproto.StateRevoked}, subscribed: make(chan struct{}, 1)}
	serveOn(t, sock, second)
	select {
	case <-second.subscribed:
	case <-time.After(30 * time.Second):
		t.Fatal("watch did not subscribe to the restarted agentd")
	}
	second.emit(ipcproto.EventDeviceRevoked, ipcproto.DeviceRevoked{DeviceID: "dev-2", Message: "revoked"})
	waitFor(t, "the restarted agentd's event", wrote, func() bool { return strings.Contains(out.String(), "device dev-2 revoked") })
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("watch: exit %d\n%s", code, errb.String())
	}
	if !strings.Contains(errb.String(), "agentd is back") || !strings.Contains(out.String(), "state revoked") {
		t.Fatalf("stdout:\n%s\nstderr:\n%s", out.String(), errb.String())
	}
}

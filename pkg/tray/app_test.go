package tray

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ztagent/ztagent/pkg/apierror"
	"github.com/ztagent/ztagent/pkg/ipc/browseprompt"
	"github.com/ztagent/ztagent/pkg/ipc/ipcproto"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const waitTimeout = 10 * time.Second

// fakeDaemon is agentd: a status, a session, permissions and an event
// stream the test feeds; down makes it unreachable.
type fakeDaemon struct {
	mu      sync.Mutex
	status  ipcproto.Status
	session ipcproto.Session
	perms   ipcproto.Permissions
	down    bool
	stream  *fakeStream
	calls   []string
	failOn  string
	dialed  chan struct{}
	// onCall, when set, sees every call, under mu.
	onCall func(name string)
}

func newFakeDaemon() *fakeDaemon {
	return &fakeDaemon{status: registered(ipcproto.StateConnected), perms: allowAll(), dialed: make(chan struct{}, 16),
		session: ipcproto.Session{AuthTime: t0, ServerTime: t0, Gateway: []ipcproto.PolicyExpiry{{Name: "Company wiki", ExpiresAt: t0.Add(42 * time.Minute)}}}}
}

var errDown = errors.New("agentd is not running")

func (d *fakeDaemon) call(name string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls = append(d.calls, name)
	if d.onCall != nil {
		d.onCall(name)
	}
	if d.down {
		return errDown
	}
	if d.failOn == name {
		return &apierror.Error{Code: ipcproto.CodeSwitchLocked, Message: "the switch is locked", Hint: "ask your administrator"}
	}
	return nil
}

func (d *fakeDaemon) Status(context.Context) (ipcproto.Status, error) {
	err := d.call("status")
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.status, err
}

func (d *fakeDaemon) Session(context.Context) (ipcproto.Session, error) {
	err := d.call("session")
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.session, err
}

func (d *fakeDaemon) Permissions(context.Context) (ipcproto.Permissions, error) {
	err := d.call("permissions")
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.perms, err
}

func (d *fakeDaemon) Events(context.Context) (browseprompt.Stream, error) {
	if err := d.call("events"); err != nil {
		return nil, err
	}
	d.mu.Lock()
	s := &fakeStream{ch: make(chan ipcproto.Event, 16), closed: make(chan struct{})}
	s.ch <- event(ipcproto.EventSnapshot, d.status)
	d.stream = s
	d.mu.Unlock()
	d.dialed <- struct{}{}
	return s, nil
}

func (d *fakeDaemon) setState(state ipcproto.State) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.status.State = state
}

func (d *fakeDaemon) Connect(context.Context) (ipcproto.Status, error) {
	err := d.call("connect")
	if err == nil {
		d.setState(ipcproto.StateConnected)
	}
	return d.status, err
}

func (d *fakeDaemon) Disconnect(context.Context) (ipcproto.Status, error) {
	err := d.call("disconnect")
	if err == nil {
		d.setState(ipcproto.StateDisconnected)
	}
	return d.status, err
}

func (d *fakeDaemon) Leave(context.Context) (ipcproto.Status, error) {
	return d.status, d.call("leave")
}

func (d *fakeDaemon) Reauth(context.Context, ipcproto.ReauthRequest) (ipcproto.AuthURL, error) {
	return ipcproto.AuthURL{AuthURL: refreshURL + "&manual"}, d.call("reauth")
}

func (d *fakeDaemon) Register(context.Context, ipcproto.RegisterRequest) (ipcproto.AuthURL, error) {
	return ipcproto.AuthURL{AuthURL: "https://acme.example/warp?x"}, d.call("register")
}

// publish sends ev on the current stream.
func (d *fakeDaemon) publish(ev ipcproto.Event) {
	d.mu.Lock()
	s := d.stream
	d.mu.Unlock()
	s.ch <- ev
}

// stop makes agentd unreachable and ends its stream.
func (d *fakeDaemon) stop() {
	d.mu.Lock()
	d.down = true
	s := d.stream
	d.mu.Unlock()
	s.end()
}

func (d *fakeDaemon) start() {
	d.mu.Lock()
	d.down = false
	d.mu.Unlock()
}

func (d *fakeDaemon) called(name string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, c := range d.calls {
		if c == name {
			return true
		}
	}
	return false
}

type fakeStream struct {
	ch     chan ipcproto.Event
	closed chan struct{}
	once   sync.Once
}

func (s *fakeStream) Next() (ipcproto.Event, error) {
	select {
	case ev := <-s.ch:
		return ev, nil
	case <-s.closed:
		return ipcproto.Event{}, io.EOF
	}
}

func (s *fakeStream) end()         { s.once.Do(func() { close(s.closed) }) }
func (s *fakeStream) Close() error { s.end(); return nil }

// recordingPanel keeps every view shown.
type recordingPanel struct{ views chan View }

func (p *recordingPanel) Show(v View) { p.views <- v }

// waitView waits for a view cond accepts.
func (p *recordingPanel) waitView(t *testing.T, what string, cond func(View) bool) View {
	t.Helper()
	deadline := time.After(waitTimeout)
	for {
		select {
		case v := <-p.views:
			if cond(v) {
				return v
			}
		case <-deadline:
			t.Fatalf("the tray never showed %s", what)
		}
	}
}

type fakeNotifier struct {
	mu     sync.Mutex
	shown  []Notice
	closed []uint32
	fail   bool
	notes  chan Notice
}

func (n *fakeNotifier) Notify(_ context.Context, no Notice, _ uint32) (uint32, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.fail {
		return 0, errors.New("no notification service")
	}
	n.shown = append(n.shown, no)
	n.notes <- no
	return uint32(len(n.shown)), nil
}

func (n *fakeNotifier) Close(_ context.Context, id uint32) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.closed = append(n.closed, id)
	return nil
}

func (n *fakeNotifier) count(kind Kind) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	c := 0
	for _, s := range n.shown {
		if s.Kind == kind {
			c++
		}
	}
	return c
}

type recordingOpener struct{ urls chan string }

func (o *recordingOpener) Open(_ context.Context, u string) error { o.urls <- u; return nil }

type harness struct {
	d      *fakeDaemon
	panel  *recordingPanel
	notes  *fakeNotifier
	opener *recordingOpener
	app    *App
	done   chan error
}

func startApp(t *testing.T, prepare func(*harness)) *harness {
	t.Helper()
	h := &harness{d: newFakeDaemon(), panel: &recordingPanel{views: make(chan View, 64)},
		notes: &fakeNotifier{notes: make(chan Notice, 16)}, opener: &recordingOpener{urls: make(chan string, 4)}, done: make(chan error, 1)}
	if prepare != nil {
		prepare(h)
	}
	var n Notifier = h.notes
	if h.notes == nil {
		n = nil
	}
	h.app = NewApp(Options{Daemon: h.d, Panel: h.panel, Notifier: n, Opener: h.opener,
		MinRetry: time.Millisecond, MaxRetry: 5 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	go func() { h.done <- h.app.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-h.done:
		case <-time.After(waitTimeout):
			t.Error("Run did not return after its context ended")
		}
	})
	return h
}

func condition(c Condition) func(View) bool { return func(v View) bool { return v.Condition == c } }

func TestAppFollowsAgentdAcrossRestartsAndPromptsOnce(t *testing.T) {
	h := startApp(t, func(h *harness) { h.d.down = true })
	h.panel.waitView(t, "agentd not running", condition(DaemonDown))
	h.d.start()
	v := h.panel.waitView(t, "connected", condition(Connected))
	if len(v.Sessions) != 1 || v.Sessions[0] != "Company wiki: expires in 42 min" {
		t.Errorf("sessions %q", v.Sessions)
	}

	h.d.mu.Lock()
	h.d.status.State, h.d.status.ReauthURL = ipcproto.StateReauthRequired, refreshURL
	h.d.session.Gateway = append(h.d.session.Gateway, ipcproto.PolicyExpiry{Name: "Git over HTTP", ExpiresAt: t0, Expired: true})
	h.d.session.Gateway[0].Expired = true
	h.d.mu.Unlock()
	h.d.publish(event(ipcproto.EventBrowseToURL, ipcproto.BrowseToURL{URL: refreshURL, Reason: "session_expired"}))
	h.panel.waitView(t, "re-authentication required", condition(ReauthRequired))
	n := <-h.notes.notes
	if n.Kind != KindReauth || !strings.Contains(n.Body, "Company wiki and Git over HTTP") {
		t.Fatalf("the prompt %+v", n)
	}
	// The prompt's button opens the URL agentd published.
	h.app.Invoked(1)
	select {
	case u := <-h.opener.urls:
		if u != refreshURL {
			t.Errorf("opened %s", u)
		}
	case <-time.After(waitTimeout):
		t.Fatal("the prompt's action opened nothing")
	}

	// agentd restarts: the icon says so, then the same expiry is not
	// asked again.
	<-h.d.dialed
	h.d.stop()
	h.panel.waitView(t, "agentd not running after its stop", condition(DaemonDown))
	h.d.start()
	h.panel.waitView(t, "back after the restart", condition(ReauthRequired))
	h.d.publish(event(ipcproto.EventBrowseToURL, ipcproto.BrowseToURL{URL: refreshURL, Reason: "session_expired"}))
	// Events are handled in order: once the next one shows, the repeated
	// prompt has been handled.
	h.d.setState(ipcproto.StateDisconnected)
	h.d.publish(event(ipcproto.EventStateChanged, ipcproto.StateChanged{From: ipcproto.StateReauthRequired, To: ipcproto.StateDisconnected}))
	h.panel.waitView(t, "disconnected", condition(Disconnected))
	if c := h.notes.count(KindReauth); c != 1 {
		t.Errorf("%d re-authentication prompts for one expiry", c)
	}
}

func TestAppMenuActionsReachAgentd(t *testing.T) {
	h := startApp(t, nil)
	h.panel.waitView(t, "connected", condition(Connected))
	h.app.Click(ActionConnect) // not offered while connected: ignored
	h.app.Click(ActionReauth)
	select {
	case u := <-h.opener.urls:
		if u != refreshURL+"&manual" {
			t.Errorf("reauth opened %s", u)
		}
	case <-time.After(waitTimeout):
		t.Fatal("Re-authenticate opened nothing")
	}
	if h.d.called("connect") || !h.d.called("reauth") {
		t.Errorf("calls %v", h.d.calls)
	}

	h.d.mu.Lock()
	h.d.failOn = "disconnect"
	h.d.mu.Unlock()
	h.app.Click(ActionDisconnect)
	n := <-h.notes.notes
	if n.Summary != "Disconnect failed" || n.Body != "the switch is locked. ask your administrator" {
		t.Errorf("a refused action says %+v", n)
	}

	h.app.Click(ActionQuit)
	select {
	case err := <-h.done:
		h.done <- err // for the cleanup
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("Quit did not end Run")
	}
}

// Without a notification service the menu item carries the prompt.
func TestAppWithoutNotificationsPutsThePromptInTheMenu(t *testing.T) {
	h := startApp(t, func(h *harness) { h.notes = nil })
	h.panel.waitView(t, "connected", condition(Connected))
	h.d.mu.Lock()
	h.d.status.State, h.d.status.ReauthURL = ipcproto.StateReauthRequired, refreshURL
	h.d.mu.Unlock()
	h.d.publish(event(ipcproto.EventBrowseToURL, ipcproto.BrowseToURL{URL: refreshURL, Reason: "session_expired"}))
	v := h.panel.waitView(t, "the loud menu item", func(v View) bool { return strings.HasPrefix(v.ReauthLabel, "⚠") })
	if !v.Offers(ActionReauth) {
		t.Errorf("%+v", v)
	}
	h.d.mu.Lock()
	h.d.status.State = ipcproto.StateConnected
	h.d.mu.Unlock()
	h.d.publish(event(ipcproto.EventSessionRefreshed, ipcproto.SessionRefreshed{AuthTime: t0.Add(time.Hour)}))
	h.panel.waitView(t, "the quiet item again", func(v View) bool { return v.Condition == Connected && v.ReauthLabel == "Re-authenticate" })
}

func (d *fakeDaemon) count(name string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for _, c := range d.calls {
		if c == name {
			n++
		}
	}
	return n
}

// What the user may do changes with the registration, not with every
// event: a tunnel event costs no permissions round trip, a state change
// does.
func TestAppAsksPermissionsOnlyWhenTheyCanChange(t *testing.T) {
	h := startApp(t, nil)
	h.panel.waitView(t, "connected", condition(Connected))
	refreshed := make(chan struct{}, 4)
	h.d.mu.Lock()
	before := 0
	for _, c := range h.d.calls {
		if c == "permissions" {
			before++
		}
	}
	h.d.onCall = func(name string) {
		if name == "session" {
			refreshed <- struct{}{} // the last call of each event's refresh
		}
	}
	h.d.mu.Unlock()
	h.d.publish(event(ipcproto.EventTunnelUp, struct{}{}))
	h.d.publish(event(ipcproto.EventStateChanged, ipcproto.StateChanged{From: ipcproto.StateConnected, To: ipcproto.StateConnecting}))
	for range 2 {
		select {
		case <-refreshed:
		case <-time.After(waitTimeout):
			t.Fatal("the tray did not handle both events")
		}
	}
	if n := h.d.count("permissions") - before; n != 1 {
		t.Errorf("%d permissions calls for a tunnel event and a state change, want 1", n)
	}
}

package tray

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"time"

	"go.uber.org/zap"

	"github.com/ztagent/ztagent/internal/clock"
	"github.com/ztagent/ztagent/pkg/apierror"
	"github.com/ztagent/ztagent/pkg/ipc/browseprompt"
	"github.com/ztagent/ztagent/pkg/ipc/ipcproto"
)

// Daemon is the part of agentd's IPC the tray uses; DaemonClient adapts
// *ipc.Client.
type Daemon interface {
	Status(ctx context.Context) (ipcproto.Status, error)
	Session(ctx context.Context) (ipcproto.Session, error)
	Permissions(ctx context.Context) (ipcproto.Permissions, error)
	Events(ctx context.Context) (browseprompt.Stream, error)
	Connect(ctx context.Context) (ipcproto.Status, error)
	Disconnect(ctx context.Context) (ipcproto.Status, error)
	Leave(ctx context.Context) (ipcproto.Status, error)
	Reauth(ctx context.Context, req ipcproto.ReauthRequest) (ipcproto.AuthURL, error)
	Register(ctx context.Context, req ipcproto.RegisterRequest) (ipcproto.AuthURL, error)
}

// Panel shows a view: the tray icon, its tooltip and menu.
type Panel interface {
	Show(v View)
}

// Notifier shows desktop notifications. Notify replaces the notification
// replaces (0 for none) and returns the new one's id; an error means the
// notice was not shown (no notification service).
type Notifier interface {
	Notify(ctx context.Context, n Notice, replaces uint32) (uint32, error)
	Close(ctx context.Context, id uint32) error
}

// Opener opens a validated URL in the user's browser (SEC4).
type Opener interface {
	Open(ctx context.Context, rawURL string) error
}

// Options configures an App.
type Options struct {
	Daemon Daemon
	Panel  Panel
	// Notifier is nil when the session has no notification service (the
	// caller says so in its log): the menu then carries every prompt.
	Notifier Notifier
	Opener   Opener
	Clock    clock.Clock
	Log      *zap.Logger
	// Refresh is how often the session lines are fetched again so that
	// "expires in" stays true; 30 s when zero.
	Refresh time.Duration
	// Retry bounds the wait between attempts to reach agentd (250 ms to
	// 5 s when zero).
	MinRetry, MaxRetry time.Duration
	// CallTimeout bounds each IPC call; 15 s when zero.
	CallTimeout time.Duration
}

// App is the tray's loop: it follows agentd's event stream (across
// restarts), keeps the view current and carries out menu clicks and
// notification actions. Click and Invoked may be called from any
// goroutine; everything else runs on Run's.
type App struct {
	o        Options
	clicks   chan Action
	invoked  chan uint32
	prompter *Prompter

	up        bool
	status    ipcproto.Status
	session   *ipcproto.Session
	fetchedAt time.Time
	perms     ipcproto.Permissions
	last      *View
	// shown maps each kind to its notification's id, and ids to the
	// notice, so that an action knows what to open.
	shown        map[Kind]uint32
	byID         map[uint32]Notice
	promptMissed bool
	warnedNoSvc  bool
}

// NewApp returns an App; Run starts it.
func NewApp(o Options) *App {
	if o.Clock == nil {
		o.Clock = clock.Real()
	}
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	if o.Refresh <= 0 {
		o.Refresh = 30 * time.Second
	}
	if o.CallTimeout <= 0 {
		o.CallTimeout = 15 * time.Second
	}
	return &App{
		o: o, clicks: make(chan Action, 8), invoked: make(chan uint32, 8), prompter: NewPrompter(),
		shown: map[Kind]uint32{}, byID: map[uint32]Notice{},
	}
}

// Click queues a menu click; it never blocks (a click beyond eight
// queued ones is dropped, as a click on a frozen menu would be).
func (a *App) Click(act Action) {
	select {
	case a.clicks <- act:
	default:
	}
}

// Invoked queues the action of notification id, as the notification
// service reported it.
func (a *App) Invoked(id uint32) {
	select {
	case a.invoked <- id:
	default:
	}
}

// streamMsg is one thing the reader saw: an event, or the stream lost.
type streamMsg struct {
	ev   ipcproto.Event
	down error
}

// Run shows the view and follows agentd until ctx ends or Quit is
// clicked.
func (a *App) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	msgs := make(chan streamMsg)
	readerDone := make(chan struct{})
	go a.read(ctx, msgs, readerDone)
	defer func() { cancel(); <-readerDone }()

	a.render()
	tick := a.o.Clock.NewTimer(a.o.Refresh)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case m := <-msgs:
			if m.down != nil {
				a.lost(m.down)
				continue
			}
			a.onEvent(ctx, m.ev)
		case act := <-a.clicks:
			if act == ActionQuit {
				return nil
			}
			a.do(ctx, act)
		case id := <-a.invoked:
			a.onInvoked(ctx, id)
		case <-tick.C():
			tick.Reset(a.o.Refresh)
			if a.up {
				a.refresh(ctx, false, true)
				a.render()
			}
		}
	}
}

// read follows the event stream, redialing across agentd's restarts.
func (a *App) read(ctx context.Context, msgs chan<- streamMsg, done chan<- struct{}) {
	defer close(done)
	send := func(m streamMsg) bool {
		select {
		case msgs <- m:
			return true
		case <-ctx.Done():
			return false
		}
	}
	r := &browseprompt.Reconnecting{
		Dial:     a.o.Daemon.Events,
		OnDown:   func(err error) { send(streamMsg{down: err}) },
		MinRetry: a.o.MinRetry, MaxRetry: a.o.MaxRetry,
	}
	defer r.Close()
	for {
		ev, err := r.Next(ctx)
		if err != nil {
			return // only ctx's end stops Reconnecting
		}
		if !send(streamMsg{ev: ev}) {
			return
		}
	}
}

// lost marks agentd unreachable until its next snapshot.
func (a *App) lost(err error) {
	if a.up {
		a.o.Log.Info("agentd's event stream was lost; waiting for agentd", zap.Error(err))
	}
	a.up = false
	a.render()
}

func (a *App) onEvent(ctx context.Context, ev ipcproto.Event) {
	if ev.Type == ipcproto.EventSnapshot {
		var st ipcproto.Status
		if err := json.Unmarshal(ev.Data, &st); err != nil {
			a.o.Log.Warn("agentd sent a snapshot that is not a status", zap.Error(err))
			return
		}
		a.status, a.up = st, true
		a.refresh(ctx, false, true)
	} else {
		// What the caller may do changes with the registration; the
		// periodic refresh catches an MDM file reread, which has no event.
		perms := ev.Type == ipcproto.EventStateChanged || ev.Type == ipcproto.EventDeviceRevoked
		a.refresh(ctx, true, perms)
	}
	a.apply(ctx, a.prompter.Observe(ev, a.status, a.session))
	a.render()
}

// refresh fetches the session map, and the status and the permissions
// when asked, keeping what it had when a call fails.
func (a *App) refresh(ctx context.Context, withStatus, withPerms bool) {
	ctx, cancel := context.WithTimeout(ctx, a.o.CallTimeout)
	defer cancel()
	if withStatus {
		if st, err := a.o.Daemon.Status(ctx); err == nil {
			a.status = st
		}
	}
	if withPerms {
		if p, err := a.o.Daemon.Permissions(ctx); err == nil {
			a.perms = p
		}
	}
	if a.status.Registration == nil {
		a.session = nil
		return
	}
	if s, err := a.o.Daemon.Session(ctx); err == nil {
		a.session, a.fetchedAt = &s, a.o.Clock.Now()
	}
}

// render shows the current view when it changed.
func (a *App) render() {
	in := Input{Up: a.up, Status: a.status, Session: a.session, Permissions: a.perms, PromptMissed: a.promptMissed}
	if a.session != nil {
		in.EdgeNow = a.session.ServerTime.Add(a.o.Clock.Now().Sub(a.fetchedAt))
	}
	v := Render(in)
	if a.last != nil && reflect.DeepEqual(*a.last, v) {
		return
	}
	a.last = &v
	a.o.Panel.Show(v)
}

// apply shows and closes the decision's notifications.
func (a *App) apply(ctx context.Context, d Decision) {
	for _, k := range d.Close {
		if k == KindReauth {
			a.promptMissed = false
		}
		id, ok := a.shown[k]
		if !ok {
			continue
		}
		delete(a.shown, k)
		delete(a.byID, id)
		if a.o.Notifier != nil {
			_ = a.o.Notifier.Close(ctx, id)
		}
	}
	for _, n := range d.Show {
		a.show(ctx, n)
	}
}

// show shows n, replacing the notification of its kind; without a
// notification service a prompt is left to the menu.
func (a *App) show(ctx context.Context, n Notice) {
	if a.o.Notifier == nil {
		// The caller said at start that there is no service.
		if n.Kind == KindReauth {
			a.promptMissed = true
		}
		return
	}
	old := a.shown[n.Kind]
	id, err := a.o.Notifier.Notify(ctx, n, old)
	if err == nil {
		delete(a.byID, old)
		a.shown[n.Kind], a.byID[id] = id, n
	}
	if err != nil {
		if !a.warnedNoSvc {
			a.warnedNoSvc = true
			a.o.Log.Warn("cannot show desktop notifications; prompts are in the tray menu only", zap.Error(err))
		}
		if n.Kind == KindReauth {
			a.promptMissed = true
		}
		return
	}
	if n.Kind == KindReauth {
		a.promptMissed = false
	}
}

func (a *App) onInvoked(ctx context.Context, id uint32) {
	n, ok := a.byID[id]
	if !ok || n.Action == "" {
		return
	}
	if n.URL != "" {
		a.open(ctx, n.URL)
		return
	}
	a.do(ctx, ActionReauth)
}

// do carries out a menu action and shows the result.
func (a *App) do(ctx context.Context, act Action) {
	if a.last == nil || !a.last.Offers(act) {
		return // a click on an item the menu no longer offers
	}
	cctx, cancel := context.WithTimeout(ctx, a.o.CallTimeout)
	defer cancel()
	var err error
	var url string
	switch act {
	case ActionConnect:
		_, err = a.o.Daemon.Connect(cctx)
	case ActionDisconnect:
		_, err = a.o.Daemon.Disconnect(cctx)
	case ActionLogout:
		_, err = a.o.Daemon.Leave(cctx)
	case ActionReauth:
		var u ipcproto.AuthURL
		if u, err = a.o.Daemon.Reauth(cctx, ipcproto.ReauthRequest{}); err == nil {
			url = u.AuthURL
		}
	case ActionRegister:
		var u ipcproto.AuthURL
		if u, err = a.o.Daemon.Register(cctx, ipcproto.RegisterRequest{}); err == nil && !u.Enrolled {
			url = u.AuthURL
		}
	}
	if err != nil {
		a.failed(ctx, act, err)
	} else if url != "" {
		a.open(ctx, url)
	}
	a.refresh(ctx, true, true)
	a.render()
}

// open opens url, and says so when it cannot.
func (a *App) open(ctx context.Context, url string) {
	if err := a.o.Opener.Open(ctx, url); err != nil {
		a.o.Log.Warn("could not open the browser", zap.Error(err))
		a.show(ctx, Notice{Kind: "open_failed", Key: "open", Summary: "Could not open your browser",
			Body: err.Error() + ". Run `agentctl reauth` in a terminal for the address to open."})
	}
}

// failed says why an action was refused, with agentd's hint.
func (a *App) failed(ctx context.Context, act Action, err error) {
	msg := err.Error()
	var e *apierror.Error
	if errors.As(err, &e) {
		msg = e.Message
		if e.Hint != "" {
			msg += ". " + e.Hint
		}
	}
	a.o.Log.Warn("a tray action failed", zap.String("action", string(act)), zap.Error(err))
	a.show(ctx, Notice{Kind: "action_failed", Key: string(act), Summary: Labels[act] + " failed", Body: msg})
}

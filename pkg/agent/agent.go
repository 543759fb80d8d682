// Package agent is agentd's state machine (DESIGN §4): it enrolls the device
// through a loopback callback (SEC6), keeps the registration and the IdP
// auth_time in the keyring through pkg/session, runs the WireGuard tunnel,
// follows the edge's control stream (REL3), turns session expiries into one
// browser prompt each (S16) and warnings before them, handles revocation
// (S14), and reports keyring_unavailable when the keyring does not answer
// (REL2). It implements ipc.Backend; Status and Subscribe answer from a
// snapshot and never wait for the keyring, the edge or the tunnel.
//
// Concurrency: mu guards the snapshot and is never held across I/O;
// opMu serialises the operations that change the registration or the
// tunnel (enrollment, connect, disconnect, leave, revocation). Every
// goroutine is started through spawn, owned by the Agent, and ended by
// Close.
package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/ztagent/ztagent/internal/clock"
	"github.com/ztagent/ztagent/pkg/control"
	"github.com/ztagent/ztagent/pkg/ipc"
	"github.com/ztagent/ztagent/pkg/ipc/ipcproto"
	"github.com/ztagent/ztagent/pkg/mdm"
	"github.com/ztagent/ztagent/pkg/session"
	"github.com/ztagent/ztagent/pkg/tunnel"
	"github.com/ztagent/ztagent/platform/keyring"
	"github.com/ztagent/ztagent/platform/peercred"
)

// Defaults of Options; each applies when its field is left zero.
const (
	DefaultKeyringTimeout    = 5 * time.Second
	DefaultKeyringRetry      = 30 * time.Second
	DefaultEdgeTimeout       = 15 * time.Second
	DefaultEnrollmentTimeout = 10 * time.Minute
	DefaultEnrollmentHold    = 2 * time.Minute
	DefaultJumpCheckInterval = 30 * time.Second
	DefaultJumpThreshold     = 10 * time.Second
	DefaultSubscriberBuffer  = 64
)

// Options configures New. StateDir, Keyring and EdgeAPI are required.
type Options struct {
	// StateDir holds agent.json (settings, operator, device fingerprint,
	// stream position), created 0700 with the file 0600.
	StateDir string
	// Keyring stores the registration and its secrets.
	Keyring keyring.Store
	// EdgeAPI is the edge's control API, e.g. http://127.0.0.1:8780.
	EdgeAPI string
	// Team is the team name Register uses when the request names none.
	Team string
	// Mode and ProxyAddr are the tunnel settings used until the user
	// changes them (then the state dir's copy wins): proxy and
	// tunnel.DefaultProxyAddr when empty.
	Mode      tunnel.Mode
	ProxyAddr string
	// TunnelOptions are the remaining tunnel options (logger, timeouts);
	// Mode, ProxyAddr and Clock are set by the agent.
	TunnelOptions tunnel.Options
	// StartTunnel brings the tunnel up; tunnel.New when nil. Tests pass a
	// fake.
	StartTunnel TunnelStarter
	// DeviceName is the name the device registers with; the host name when
	// empty.
	DeviceName string
	// MDM is the MDM file's settings (nil without one): with a service
	// token in them agentd enrolls unattended (SetMDM replaces them).
	MDM *mdm.Settings
	// Clock is the wall clock; the real one when nil.
	Clock clock.Clock
	// Monotonic returns the time elapsed on a clock that never jumps; it is
	// compared with Clock to notice wall-clock jumps and suspends (REL4).
	// When nil it is derived from Clock, whose real readings carry Go's
	// monotonic clock (a fake one never jumps then).
	Monotonic func() time.Duration
	// HTTPClient talks to the edge; a default client when nil.
	HTTPClient *http.Client
	// Logger receives the agent's logs; nil discards them.
	Logger *zap.Logger
	// KeyringTimeout bounds each keyring call (DefaultKeyringTimeout);
	// KeyringRetry is how often an unavailable keyring is tried again
	// (DefaultKeyringRetry).
	KeyringTimeout, KeyringRetry time.Duration
	// EdgeTimeout bounds each plain control API call (DefaultEdgeTimeout).
	EdgeTimeout time.Duration
	// EnrollmentTimeout is how long an enrollment's callback stays open
	// (DefaultEnrollmentTimeout, SEC6).
	// EnrollmentHold is how long one user's pending enrollment keeps
	// another user from starting one; restarting your own does not
	// extend it (DefaultEnrollmentHold).
	EnrollmentHold    time.Duration
	EnrollmentTimeout time.Duration
	// StreamMinBackoff and StreamMaxBackoff bound the control stream's
	// reconnection backoff (control's defaults: 0.5 s, 30 s).
	StreamMinBackoff, StreamMaxBackoff time.Duration
	// StreamIdleTimeout drops a control stream silent for that long
	// (control.DefaultFollowIdleTimeout; the edge sends a heartbeat line
	// every 20 s).
	StreamIdleTimeout time.Duration
	// JumpCheckInterval is how often wall and monotonic clocks are compared
	// (DefaultJumpCheckInterval); a difference over JumpThreshold
	// (DefaultJumpThreshold) is a jump.
	JumpCheckInterval, JumpThreshold time.Duration
	// WarningLead is how long before an expiry the user is warned
	// (session.DefaultWarningLead); RepromptInterval is the least time
	// between two prompts for one expiry (session.DefaultRepromptInterval).
	WarningLead, RepromptInterval time.Duration
	// CallbackOwner returns the uid of the process at the other end of a
	// connection to the enrollment callback, so that only the browser of
	// the user who started the enrollment (or root's) can end it;
	// peercred.LoopbackTCPOwner when nil. Tests give fakes.
	CallbackOwner func(net.Conn) (int, error)
	// SubscriberBuffer is each subscriber's queue; a subscriber whose queue
	// is full is dropped (DefaultSubscriberBuffer).
	SubscriberBuffer int
}

// Agent is the daemon's state machine. It implements ipc.Backend.
type Agent struct {
	opts      Options
	log       *zap.Logger
	clk       clock.Clock
	monotonic func() time.Duration
	store     *regStore
	files     *stateFile
	closeOnce sync.Once

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	wake   chan struct{}
	// loaded is closed once the first keyring read has answered;
	// loadWaiters counts the requests waiting for it.
	loaded      chan struct{}
	loadWaiters atomic.Int32
	ran         atomic.Bool
	// saveQueued is set while a saveSoon write is waiting to start.
	saveQueued atomic.Bool
	// spawnMu and closing keep spawn from adding to wg once Close waits.
	spawnMu sync.Mutex
	closing bool

	// allowed holds the origins prompts may open (the team domain); the
	// broker reads it under its own lock, so it must not need mu.
	allowed atomic.Pointer[[]string]

	opMu sync.Mutex

	mu   sync.Mutex
	snap snapshot
	subs map[*subscriber]struct{}
}

var _ ipc.Backend = (*Agent)(nil)

// New returns an agent that is not running yet: call Run. It reads the
// state directory (creating it and the device fingerprint when missing)
// but not the keyring, which Run reads so that a hung keyring cannot hold
// up the daemon's start.
func New(opts Options) (*Agent, error) {
	if opts.StateDir == "" || opts.Keyring == nil || opts.EdgeAPI == "" {
		return nil, errors.New("agent: Options.StateDir, Keyring and EdgeAPI are required")
	}
	if err := checkEdgeAPI(opts.EdgeAPI); err != nil {
		return nil, err
	}
	setDefault(&opts.KeyringTimeout, DefaultKeyringTimeout)
	setDefault(&opts.KeyringRetry, DefaultKeyringRetry)
	setDefault(&opts.EdgeTimeout, DefaultEdgeTimeout)
	setDefault(&opts.EnrollmentTimeout, DefaultEnrollmentTimeout)
	setDefault(&opts.EnrollmentHold, DefaultEnrollmentHold)
	setDefault(&opts.JumpCheckInterval, DefaultJumpCheckInterval)
	setDefault(&opts.JumpThreshold, DefaultJumpThreshold)
	if opts.SubscriberBuffer <= 0 {
		opts.SubscriberBuffer = DefaultSubscriberBuffer
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real()
	}
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	if opts.CallbackOwner == nil {
		opts.CallbackOwner = peercred.LoopbackTCPOwner
	}
	if opts.StartTunnel == nil {
		opts.StartTunnel = startRealTunnel
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{}
	}
	if opts.DeviceName == "" {
		opts.DeviceName, _ = os.Hostname()
	}
	if opts.Mode == "" {
		opts.Mode = tunnel.ModeProxy
	}
	if opts.ProxyAddr == "" {
		opts.ProxyAddr = tunnel.DefaultProxyAddr
	}
	files, err := openStateFile(opts.StateDir)
	if err != nil {
		return nil, err
	}
	a := &Agent{
		opts:   opts,
		log:    opts.Logger,
		clk:    opts.Clock,
		store:  newRegStore(opts.Keyring),
		files:  files,
		wake:   make(chan struct{}, 1),
		loaded: make(chan struct{}),
		subs:   make(map[*subscriber]struct{}),
	}
	a.monotonic = opts.Monotonic
	if a.monotonic == nil {
		start := a.clk.Now()
		a.monotonic = func() time.Duration { return a.clk.Now().Sub(start) }
	}
	a.ctx, a.cancel = context.WithCancel(context.Background())
	a.snap = snapshot{
		state:     ipcproto.StateUnregistered,
		persisted: files.load(),
		broker:    a.newBroker(),
		warner:    session.NewExpiryWarner(opts.WarningLead),
		starting:  true,
		mdm:       unattended{settings: opts.MDM},
	}
	a.allowed.Store(&[]string{})
	a.mu.Lock()
	a.updateLocked()
	a.mu.Unlock()
	return a, nil
}

func setDefault(d *time.Duration, v time.Duration) {
	if *d <= 0 {
		*d = v
	}
}

// Run loads the registration, connects if the user wants it, and keeps
// the timers (keyring retry, expiry warnings, wall-clock jumps) until ctx
// ends or Close is called. It returns nil after a clean stop; call it once.
func (a *Agent) Run(ctx context.Context) error {
	if !a.ran.CompareAndSwap(false, true) {
		return errors.New("agent: Run called twice")
	}
	stop := context.AfterFunc(ctx, a.cancel)
	defer stop()
	done := make(chan struct{})
	if !a.spawn(func() {
		defer close(done)
		a.load()
		a.loop()
		a.shutdown()
	}) {
		return nil
	}
	<-done
	return nil
}

// checkEdgeAPI refuses a control API that a man in the middle could
// rewrite: the team domain, and so every URL agentd opens, comes from its
// answers. Plain HTTP is for an edge on this host (the simulator) only.
func checkEdgeAPI(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return fmt.Errorf("the edge API %q is not a URL like https://edge.example.com", raw)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		host := u.Hostname()
		if ip, err := netip.ParseAddr(host); (err == nil && ip.IsLoopback()) || host == "localhost" {
			return nil
		}
		return fmt.Errorf("the edge API %s uses plain http to another host, where anyone on the path could rewrite the team domain agentd opens; use https:// (plain http is only for an edge on this host, such as edged)", raw)
	}
	return fmt.Errorf("the edge API %q must be an https:// URL", raw)
}

// Close stops the agent: the control stream, the tunnel, a pending
// enrollment, every subscriber and every goroutine, and returns once they
// have all ended.
func (a *Agent) Close() error {
	a.cancel()
	a.spawnMu.Lock()
	a.closing = true
	a.spawnMu.Unlock()
	a.wg.Wait()
	if !a.ran.Load() {
		a.shutdown()
	}
	a.closeOnce.Do(a.files.close)
	return nil
}

// shutdown stops what the agent runs once its context has ended.
func (a *Agent) shutdown() {
	a.opMu.Lock()
	a.disconnect()
	a.opMu.Unlock()
	a.mu.Lock()
	for s := range a.subs {
		a.dropLocked(s)
	}
	a.mu.Unlock()
}

// spawn runs f in a goroutine the Agent owns; Close waits for it. It
// reports false, running nothing, once Close has begun.
func (a *Agent) spawn(f func()) bool {
	a.spawnMu.Lock()
	defer a.spawnMu.Unlock()
	if a.closing {
		return false
	}
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		f()
	}()
	return true
}

// kick asks the run loop to recompute its timers.
func (a *Agent) kick() {
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// loop owns the agent's timers until the agent's context ends.
func (a *Agent) loop() {
	jump := newJumpDetector(a.clk.Now(), a.monotonic(), a.opts.JumpThreshold)
	jumpTimer := a.clk.NewTimer(a.opts.JumpCheckInterval)
	defer jumpTimer.Stop()
	var retry, warn, expire clock.Timer
	var warnAt, expireAt time.Time
	stopTimer := func(t *clock.Timer) {
		if *t != nil {
			(*t).Stop()
			*t = nil
		}
	}
	defer stopTimer(&retry)
	defer stopTimer(&warn)
	defer stopTimer(&expire)
	for {
		// Timers persist across iterations: a wake-up for another reason
		// must not postpone a retry or a warning already counting down.
		if !a.needsKeyringRetry() {
			stopTimer(&retry)
		} else if retry == nil {
			retry = a.clk.NewTimer(a.opts.KeyringRetry)
		}
		at, ok := a.nextWarning()
		for i := 0; ok && !at.After(a.clk.Now()) && i < 3; i++ {
			a.checkWarnings() // due already (a jump, a late map)
			at, ok = a.nextWarning()
		}
		if !ok || !at.Equal(warnAt) {
			stopTimer(&warn)
			warnAt = time.Time{}
		}
		if ok && warn == nil {
			warn, warnAt = a.clk.NewTimer(max(clock.Until(a.clk, at), 0)), at
		}
		// A deadline may have passed while the loop was busy or before
		// its timer was armed; the map then no longer offers it, so look
		// on every wake-up rather than only when the timer ticks.
		a.checkExpiry()
		if at, ok := a.nextDeadline(); !ok || !at.Equal(expireAt) {
			stopTimer(&expire)
			expireAt = time.Time{}
			if ok {
				expire, expireAt = a.clk.NewTimer(max(clock.Until(a.clk, at), 0)), at
			}
		}
		select {
		case <-a.ctx.Done():
			return
		case <-a.wake:
		case <-timerC(retry):
			retry = nil
			a.load()
		case <-timerC(warn):
			warn, warnAt = nil, time.Time{}
			a.checkWarnings()
		case <-timerC(expire):
			expire, expireAt = nil, time.Time{}
			// A deadline reached by a jump of the wall clock alone is
			// no expiry: measure the edge's clock again before saying so.
			if d, jumped := jump.check(a.clk.Now(), a.monotonic()); jumped {
				a.clockJumped(d)
			}
			a.checkExpiry()
		case <-jumpTimer.C():
			if d, jumped := jump.check(a.clk.Now(), a.monotonic()); jumped {
				a.clockJumped(d)
			}
			jumpTimer.Reset(a.opts.JumpCheckInterval)
		}
	}
}

func timerC(t clock.Timer) <-chan time.Time {
	if t == nil {
		return nil
	}
	return t.C()
}

// client returns a control API client, with the device token when reg is
// set.
func (a *Agent) client(reg *session.Registration) *control.Client {
	c := &control.Client{BaseURL: a.opts.EdgeAPI, HTTP: a.opts.HTTPClient}
	if reg != nil {
		c.Token = reg.DeviceToken
	}
	return c
}

func (a *Agent) edgeCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(a.ctx, a.opts.EdgeTimeout)
}

func (a *Agent) keyringCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(a.ctx, a.opts.KeyringTimeout)
}

// waitLoaded waits, at most as long as a keyring call may take, until the
// first keyring read has answered: a request that arrives while agentd is
// still reading its registration is decided on what the keyring holds,
// not refused because the answer is not in yet.
func (a *Agent) waitLoaded(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, a.opts.KeyringTimeout)
	defer cancel()
	a.loadWaiters.Add(1)
	defer a.loadWaiters.Add(-1)
	select {
	case <-a.loaded:
	case <-ctx.Done():
	case <-a.ctx.Done():
	}
}

// load reads the registration from the keyring and brings the agent to
// the state it implies: unregistered, disconnected, connecting, or
// keyring_unavailable (REL2) until a later retry succeeds.
func (a *Agent) load() {
	a.opMu.Lock()
	defer a.opMu.Unlock()
	ctx, cancel := a.keyringCtx()
	reg, err := a.store.Load(ctx)
	cancel()
	if a.ctx.Err() != nil {
		return
	}
	a.mu.Lock()
	if a.snap.starting {
		a.snap.starting = false
		close(a.loaded)
	}
	switch {
	case errors.Is(err, errNotRegistered):
		a.snap.keyringErr = ""
		a.snap.reg = nil
		if a.snap.persisted.OperatorUID != nil {
			a.snap.persisted.OperatorUID = nil
			a.snap.persisted.LastSeq, a.snap.persisted.DeviceID = 0, ""
		}
		if a.snap.revoked == "" {
			a.snap.revoked = a.snap.persisted.Revoked
		}
		a.updateLocked()
		a.mu.Unlock()
		a.savePersisted()
		a.maybeEnrollUnattended()
		return
	case err != nil && isKeyringUnavailable(err):
		a.keyringFailedLocked("read the registration", err)
		a.mu.Unlock()
		return
	case err != nil:
		// A damaged record: the error says what to do; nothing to connect.
		a.snap.keyringErr = ""
		a.snap.reg = nil
		a.snap.lastFailure = err.Error()
		a.log.Error("the stored registration is unusable", zap.Error(err))
		a.updateLocked()
		a.mu.Unlock()
		return
	}
	a.snap.keyringErr = ""
	if a.snap.reg != nil && a.snap.reg.DeviceID == reg.DeviceID {
		// A retry after keyring trouble at run time: the registration in
		// memory is as new as the stored one.
		a.updateLocked()
		a.mu.Unlock()
		return
	}
	a.adoptLocked(reg)
	wantConnected := !a.snap.persisted.Disconnected
	a.updateLocked()
	a.mu.Unlock()
	a.savePersisted()
	a.log.Info("loaded the registration", zap.String("device", reg.DeviceID), zap.String("user", reg.User.Email),
		zap.String("keyring", a.store.Backend()))
	if wantConnected {
		if err := a.connect(); err != nil {
			a.log.Error("connecting", zap.Error(err))
		}
	}
}

// adoptLocked makes reg the agent's registration: a fresh broker and
// warner for its session, the edge clock it measured. The caller saves
// the persisted state after unlocking.
func (a *Agent) adoptLocked(reg *session.Registration) {
	a.snap.reg = reg
	a.snap.revoked = ""
	a.snap.persisted.Revoked = ""
	a.snap.lastFailure = ""
	a.snap.edgeClock = reg.EdgeClock()
	a.snap.reqs = nil
	a.snap.access = nil
	a.snap.otherReqs = nil
	a.allowed.Store(&[]string{reg.Team.Domain})
	a.snap.broker = a.newBroker()
	a.snap.broker.SessionRefreshed(reg.AuthTime)
	a.snap.warner = session.NewExpiryWarner(a.opts.WarningLead)
	if a.snap.persisted.DeviceID != reg.DeviceID {
		a.snap.persisted.DeviceID, a.snap.persisted.LastSeq = reg.DeviceID, 0
	}
	if op := reg.OperatorUID; op != nil {
		// The keyring record is the one written with the registration:
		// agent.json may predate it after a crash.
		uid := *op
		a.snap.persisted.OperatorUID = &uid
	}
}

// AllowedOrigins returns the origins a URL agentd publishes may point at:
// the registration's team domain, none while unregistered. agentd's own
// browser opener checks every URL against it.
func (a *Agent) AllowedOrigins() []string { return append([]string(nil), *a.allowed.Load()...) }

func (a *Agent) newBroker() *session.ReauthBroker {
	return session.NewReauthBroker(session.BrokerOptions{
		Clock:            a.clk,
		RepromptInterval: a.opts.RepromptInterval,
		AllowedOrigins:   a.AllowedOrigins,
	})
}

func (a *Agent) needsKeyringRetry() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.snap.keyringErr != "" && a.snap.reg == nil
}

// keyringFailedLocked records a keyring failure: keyring_unavailable with
// a message that says what to do, and an error event.
func (a *Agent) keyringFailedLocked(what string, err error) {
	msg := fmt.Sprintf("the %s keyring did not answer when agentd tried to %s (%v); unlock the keyring or check that its service runs; agentd tries again by itself",
		a.store.Backend(), what, err)
	a.log.Warn("keyring unavailable", zap.String("backend", a.store.Backend()), zap.String("op", what), zap.Error(err))
	first := a.snap.keyringErr == ""
	a.snap.keyringErr = msg
	a.updateLocked()
	if first {
		a.publishLocked(ipcproto.EventError, ipcproto.ErrorEvent{Code: ipcproto.CodeKeyringUnavailable, Message: msg})
	}
}

// keyringRecoveredLocked clears a keyring failure after a call succeeded.
func (a *Agent) keyringRecoveredLocked() {
	if a.snap.keyringErr != "" {
		a.snap.keyringErr = ""
		a.updateLocked()
	}
}

func isKeyringUnavailable(err error) bool {
	return errors.Is(err, keyring.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded)
}

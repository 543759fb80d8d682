package agent

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"html"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/ztagent/ztagent/internal/clock"
	"github.com/ztagent/ztagent/internal/randtoken"
	"github.com/ztagent/ztagent/internal/secret"
	"github.com/ztagent/ztagent/pkg/apierror"
	"github.com/ztagent/ztagent/pkg/control"
	"github.com/ztagent/ztagent/pkg/ipc"
	"github.com/ztagent/ztagent/pkg/ipc/ipcproto"
	"github.com/ztagent/ztagent/pkg/session"
	"github.com/ztagent/ztagent/platform/peercred"
)

// CallbackPath is where the loopback listener receives the team domain's
// redirect at the end of an enrollment.
const CallbackPath = "/callback"

// enrollment is one registration in progress (SEC6): a loopback listener
// on an ephemeral port that accepts one callback carrying the right state,
// a PKCE verifier only the agent knows, and a deadline.
type enrollment struct {
	uid  int
	team control.Team
	// heldSince is when this uid's run of enrollments began: it bounds how
	// long it keeps other users out (Options.EnrollmentHold).
	heldSince time.Time
	state     string
	verifier  secret.Value
	authURL   string
	ln        net.Listener // nil for the device flow
	srv       *http.Server // nil for the device flow
	timer     clock.Timer
	// device is the device flow's code pair; nil for the loopback flow.
	device *control.DevicePair

	// claimed makes the enrollment one-shot: the first valid callback, or
	// the expiry, takes it.
	claimed atomic.Bool
	done    chan struct{}
	endOnce sync.Once
}

func (e *enrollment) end() { e.endOnce.Do(func() { close(e.done) }) }

// Register starts an enrollment for caller and returns the team domain's
// sign-in URL, which is also published as browse_to_url. The enrollment
// completes when the browser comes back to the loopback callback.
func (a *Agent) Register(ctx context.Context, caller ipc.Caller, req ipcproto.RegisterRequest) (ipcproto.AuthURL, error) {
	a.waitLoaded(ctx)
	a.opMu.Lock()
	defer a.opMu.Unlock()
	a.mu.Lock()
	reg, old, op := a.snap.reg, a.snap.enroll, a.snap.persisted.OperatorUID
	keyringDown := a.snap.keyringErr != "" || a.snap.starting
	a.mu.Unlock()
	if reg != nil {
		owner := describeOwner(reg.User.Name, reg.User.Email)
		if op != nil && *op == caller.UID {
			return ipcproto.AuthURL{}, errorf(ipcproto.CodeAlreadyRegistered,
				fmt.Sprintf("this device is already registered to %s", owner),
				"run `agentctl logout` first to register again")
		}
		return ipcproto.AuthURL{}, errorf(ipcproto.CodeAlreadyRegistered,
			fmt.Sprintf("this device is registered to %s; one user per device", owner),
			fmt.Sprintf("ask %s to run `agentctl logout` (if your organization allows leaving), or ask an administrator to revoke the device", owner))
	}
	if keyringDown {
		return ipcproto.AuthURL{}, errorf(ipcproto.CodeKeyringUnavailable,
			"agentd cannot use the keyring, where the registration would be stored", "unlock the keyring, then run `agentctl register` again")
	}
	if s := a.mdmSettings(); caller.IsRoot() && s.HasServiceToken() && !req.DeviceCode {
		// An administrator registering a device the MDM file enrolls:
		// with its service token, which also clears a revoke.
		a.mu.Lock()
		a.snap.persisted.Revoked, a.snap.mdm.failure = "", ""
		a.mu.Unlock()
		if err := a.registerWithServiceTokenOpLocked(s, caller.UID); err != nil {
			return ipcproto.AuthURL{}, err
		}
		return ipcproto.AuthURL{Enrolled: true}, nil
	}
	if old != nil && old.uid != caller.UID && !caller.IsRoot() {
		// Not until the pending one expires: that would let any user keep
		// everyone else out by starting again every ten minutes.
		if left := old.heldSince.Add(a.opts.EnrollmentHold).Sub(a.clk.Now()); left > 0 {
			return ipcproto.AuthURL{}, errorf(ipcproto.CodeConflict,
				fmt.Sprintf("another user (uid %d) started registering this device %v ago", old.uid, a.clk.Now().Sub(old.heldSince).Round(time.Second)),
				fmt.Sprintf("run `agentctl register` again in %v to take over, or run `sudo agentctl register`", left.Round(time.Second)))
		}
	}
	name := strings.TrimSpace(req.Team)
	if name == "" {
		name = a.opts.Team
	}
	if name == "" {
		return ipcproto.AuthURL{}, errorf(ipcproto.CodeBadRequest, "no team name given and none configured",
			"run `agentctl register --team NAME` with the team name your administrator gave you")
	}
	ectx, cancel := context.WithTimeout(ctx, a.opts.EdgeTimeout)
	team, err := a.client(nil).Team(ectx, name)
	cancel()
	if apierror.HasCode(err, control.CodeUnknownTeam) {
		return ipcproto.AuthURL{}, errorf(control.CodeUnknownTeam, fmt.Sprintf("the edge knows no team %q", name),
			"check the team name your administrator gave you")
	}
	if err != nil {
		return ipcproto.AuthURL{}, a.edgeError("look up the team", err)
	}
	var e *enrollment
	if req.DeviceCode {
		e, err = a.newDeviceEnrollment(ctx, caller.UID, team)
	} else {
		e, err = a.newEnrollment(caller.UID, team)
	}
	if err != nil {
		return ipcproto.AuthURL{}, err
	}
	if old != nil && old.uid == caller.UID {
		e.heldSince = old.heldSince
	}
	if old != nil {
		a.abandonEnrollment(old, caller.UID)
	}
	a.mu.Lock()
	a.snap.enroll = e
	a.snap.revoked, a.snap.lastFailure = "", ""
	a.updateLocked()
	// The URL carries the flow's state: whoever completes it in a browser
	// registers the device to themselves, so only the caller sees it.
	a.publishToLocked(onlyUID(caller.UID), ipcproto.EventBrowseToURL, ipcproto.BrowseToURL{URL: e.authURL, Reason: "register"})
	a.mu.Unlock()
	if e.device != nil {
		a.log.Info("enrollment started", zap.Int("uid", caller.UID), zap.String("team", team.Name), zap.String("flow", "device code"))
		if !a.spawn(func() { a.pollDevice(e) }) || !a.spawn(func() { a.watchEnrollment(e) }) {
			e.timer.Stop()
			return ipcproto.AuthURL{}, errorf(ipcproto.CodeShuttingDown, "agentd is shutting down", "")
		}
		return ipcproto.AuthURL{AuthURL: e.authURL, TeamDomain: team.Domain, UserCode: e.device.UserCode, VerificationURI: e.device.VerificationURI}, nil
	}
	a.log.Info("enrollment started", zap.Int("uid", caller.UID), zap.String("team", team.Name),
		zap.String("callback", e.ln.Addr().String()))
	serving := a.spawn(func() {
		if err := e.srv.Serve(e.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Warn("enrollment callback listener", zap.Error(err))
		}
	})
	if !serving || !a.spawn(func() { a.watchEnrollment(e) }) {
		// Close has begun: its shutdown may not see this enrollment.
		e.ln.Close()
		e.timer.Stop()
		return ipcproto.AuthURL{}, errorf(ipcproto.CodeShuttingDown, "agentd is shutting down", "")
	}
	return ipcproto.AuthURL{AuthURL: e.authURL, TeamDomain: team.Domain}, nil
}

// newEnrollment opens the loopback callback and builds the sign-in URL.
func (a *Agent) newEnrollment(uid int, team control.Team) (*enrollment, error) {
	// 48 bytes make a 64-character verifier, inside RFC 7636's 43…128.
	state, verifier := randtoken.New(32), randtoken.New(48)
	// An IP literal, not "localhost": nothing on the host can answer for
	// a name that resolves elsewhere (SEC6).
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, errorf(ipcproto.CodeInternal, fmt.Sprintf("could not open the enrollment callback on 127.0.0.1: %v", err), "")
	}
	e := &enrollment{uid: uid, team: team, heldSince: a.clk.Now(), state: state, verifier: secret.New(verifier), ln: ln, done: make(chan struct{})}
	q := url.Values{
		"redirect_uri":          {"http://" + ln.Addr().String() + CallbackPath},
		"state":                 {state},
		"code_challenge":        {pkceChallenge(verifier)},
		"code_challenge_method": {"S256"},
	}
	e.authURL = strings.TrimSuffix(team.Domain, "/") + "/warp?" + q.Encode()
	if _, err := session.ValidateBrowseURL(e.authURL, team.Domain); err != nil {
		ln.Close()
		return nil, errorf(ipcproto.CodeUnsafeURL, fmt.Sprintf("the edge gave team %q a domain agentd will not open (%v)", team.Name, err),
			"contact your administrator")
	}
	e.srv = &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { a.callback(e, w, r) }),
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, callbackConnKey{}, c)
		},
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          zap.NewStdLog(a.log.Named("callback")),
	}
	e.timer = a.clk.NewTimer(a.opts.EnrollmentTimeout)
	return e, nil
}

// watchEnrollment ends the enrollment at its deadline or with the agent,
// then closes its listener.
func (a *Agent) watchEnrollment(e *enrollment) {
	select {
	case <-e.done:
	case <-a.ctx.Done():
	case <-e.timer.C():
		if e.claimed.CompareAndSwap(false, true) {
			a.enrollmentFailed(e, "enrollment_expired", fmt.Sprintf(
				"the sign-in was not completed within %v; run `agentctl register` again", a.opts.EnrollmentTimeout))
		}
	}
	e.timer.Stop()
	if e.srv == nil {
		e.end() // the device flow's poller stops with it
		return
	}
	if a.ctx.Err() != nil {
		// The agent is stopping (REL5: within 5 s): no grace for a
		// half-sent request on the callback port.
		_ = e.srv.Close()
		return
	}
	// A callback being handled finishes first: Shutdown waits for it.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := e.srv.Shutdown(ctx); err != nil {
		_ = e.srv.Close()
	}
}

// abandonEnrollment ends an enrollment replaced by a newer one, started by
// uid by; a user whose enrollment another took over is told so.
func (a *Agent) abandonEnrollment(e *enrollment, by int) {
	e.claimed.Store(true)
	a.mu.Lock()
	if a.snap.enroll == e {
		a.snap.enroll = nil
	}
	if by != e.uid {
		a.publishToLocked(onlyUID(e.uid), ipcproto.EventError, ipcproto.ErrorEvent{Code: "enrollment_replaced",
			Message: fmt.Sprintf("another user (uid %d) started registering this device, which ended yours; run `agentctl register` to try again", by)})
	}
	a.mu.Unlock()
	e.end()
}

// enrollmentFailed ends e with a message for the user (an error event, and
// the status message while unregistered).
func (a *Agent) enrollmentFailed(e *enrollment, code, msg string) {
	msg = secret.Scrub(msg)
	a.mu.Lock()
	if a.snap.enroll == e {
		a.snap.enroll = nil
		a.snap.lastFailure = msg
		a.publishLocked(ipcproto.EventError, ipcproto.ErrorEvent{Code: code, Message: msg})
		a.updateLocked()
	}
	a.mu.Unlock()
	a.log.Warn("enrollment failed", zap.String("code", code), zap.String("reason", msg))
	e.end()
}

// callback serves the loopback listener: only GET /callback with the
// enrollment's state is accepted, once. A wrong state changes nothing, so
// a page that guesses at the port cannot store a registration of its own
// choosing.
func (a *Agent) callback(e *enrollment, w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	if r.URL.Path != CallbackPath {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if !a.callbackFromEnroller(e, r) {
		page(w, http.StatusForbidden, "This sign-in belongs to another user of this computer",
			"Nothing was stored. The user who ran `agentctl register` must finish it in their own browser.")
		return
	}
	q := r.URL.Query()
	if subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(e.state)) != 1 {
		a.log.Warn("enrollment callback with a wrong state; ignored")
		page(w, http.StatusBadRequest, "This sign-in does not match the registration agentd started",
			"Nothing was stored. Run `agentctl register` and use the link it prints.")
		return
	}
	if reason := q.Get("error"); reason != "" {
		if e.claimed.CompareAndSwap(false, true) {
			a.enrollmentFailed(e, "enrollment_refused", fmt.Sprintf("the team domain refused the sign-in (%s); run `agentctl register` to try again", reason))
		}
		page(w, http.StatusBadRequest, "The sign-in did not succeed", "Run `agentctl register` to try again.")
		return
	}
	code := q.Get("code")
	if code == "" {
		page(w, http.StatusBadRequest, "The sign-in link is incomplete", "Nothing was stored. Run `agentctl register` again.")
		return
	}
	if !e.claimed.CompareAndSwap(false, true) {
		page(w, http.StatusGone, "This sign-in link was already used or has expired", "Run `agentctl register` again if the device is not registered.")
		return
	}
	if err := a.completeEnrollment(e, secret.New(code)); err != nil {
		page(w, http.StatusOK, "Registration failed", err.Error())
		return
	}
	page(w, http.StatusOK, "This device is registered", "You can close this window; ztagent is connecting.")
}

type callbackConnKey struct{}

// callbackFromEnroller reports whether the callback request comes from a
// process of the user who started the enrollment (or from root, or for an
// enrollment root started). The state alone is not enough: it travels in
// URLs that other local users may see, and the loopback port is open to
// all of them. Where the host cannot name the peer, the state is all there
// is, as on any OAuth loopback redirect.
func (a *Agent) callbackFromEnroller(e *enrollment, r *http.Request) bool {
	c, _ := r.Context().Value(callbackConnKey{}).(net.Conn)
	if c == nil {
		return false
	}
	uid, err := a.opts.CallbackOwner(c)
	switch {
	case errors.Is(err, peercred.ErrUnsupported):
		return true
	case err != nil:
		a.log.Warn("enrollment callback from a process agentd cannot identify; refused", zap.Error(err))
		return false
	case uid == e.uid || uid == 0 || e.uid == 0:
		return true
	}
	a.log.Warn("enrollment callback from another user's process; refused",
		zap.Int("from_uid", uid), zap.Int("enrolling_uid", e.uid))
	return false
}

// completeEnrollment redeems the code at the edge with a new WireGuard key,
// stores the registration, records the operator and connects.
func (a *Agent) completeEnrollment(e *enrollment, code secret.Value) error {
	defer e.end()
	a.opMu.Lock()
	defer a.opMu.Unlock()
	a.mu.Lock()
	current := a.snap.enroll == e
	a.mu.Unlock()
	if !current {
		return errors.New("this enrollment was replaced by a newer one; use the link `agentctl register` printed last")
	}
	key, pub, err := newWireGuardKey()
	if err != nil {
		a.enrollmentFailed(e, ipcproto.CodeInternal, err.Error())
		return err
	}
	ctx, cancel := a.edgeCtx()
	creg, err := a.client(nil).Register(ctx, control.RegisterRequest{
		Code: code.Reveal(), CodeVerifier: e.verifier.Reveal(), WGPublicKey: pub,
		DeviceFingerprint: a.fingerprint(), Name: a.opts.DeviceName, OS: runtime.GOOS,
	})
	cancel()
	if err != nil {
		code, msg := registerFailure(err, a.opts.EdgeAPI)
		a.enrollmentFailed(e, code, msg)
		return errors.New(msg)
	}
	if err := pinnedTeam(e.team, creg.Team); err != nil {
		msg := fmt.Sprintf("the edge's registration answer does not match team %q as agentd looked it up (%v); nothing was stored. Someone may be tampering with the connection to %s: run `agentctl register` again, and tell your administrator if it repeats",
			e.team.Name, err, a.opts.EdgeAPI)
		a.enrollmentFailed(e, "team_domain_mismatch", msg)
		return errors.New(msg)
	}
	via := session.EnrolledViaBrowser
	if e.device != nil {
		via = session.EnrolledViaDeviceCode
	}
	if code, msg := a.adoptNewRegistration(creg, key, e.uid, via, func() { a.snap.enroll = nil }); code != "" {
		a.enrollmentFailed(e, code, msg)
		return errors.New(msg)
	}
	if err := a.connect(); err != nil {
		return fmt.Errorf("registered, but %w", err)
	}
	return nil
}

// adoptNewRegistration stores the edge's registration answer with the
// device's new WireGuard key in the keyring, records uid as the operator
// and makes it the agent's registration; onAdopt runs under the lock as it
// is adopted. On failure it returns an IPC error code and the message
// (the registration is not kept); the caller connects on success.
func (a *Agent) adoptNewRegistration(creg control.Registration, key secret.Value, uid int, via string, onAdopt func()) (code, msg string) {
	now := a.clk.Now()
	reg := &session.Registration{
		OperatorUID:         &uid,
		DeviceID:            creg.DeviceID,
		DeviceToken:         secret.New(creg.DeviceToken),
		WireGuardPrivateKey: key,
		User:                session.User{Email: creg.User.Email, Name: creg.User.Name, Groups: creg.User.Groups},
		IdP:                 session.IdP{Type: creg.IdP.Type, Prompt: creg.IdP.Prompt},
		AuthTime:            creg.AuthTime,
		ServerTime:          creg.ServerTime,
		ReceivedAt:          now,
		Team:                session.Team{Name: creg.Team.Name, Domain: creg.Team.Domain, RefreshIdentityURL: creg.Team.RefreshIdentityURL},
		Tunnel: session.Tunnel{Endpoint: creg.Tunnel.Endpoint, EdgePublicKey: creg.Tunnel.EdgePublicKey, Addresses: creg.Tunnel.Addresses,
			DNS: creg.Tunnel.DNS, AllowedIPs: creg.Tunnel.AllowedIPs, MTU: creg.Tunnel.MTU},
		RegisteredAt: now,
		EnrolledVia:  via,
	}
	if t := creg.ServiceToken; t != nil {
		reg.ServiceToken = t.Name
	}
	kctx, kcancel := a.keyringCtx()
	err := a.store.Save(kctx, reg)
	kcancel()
	if err != nil {
		msg := fmt.Sprintf("the edge registered the device, but the %s keyring did not store it (%v); unlock the keyring and run `agentctl register` again",
			a.store.Backend(), err)
		if isKeyringUnavailable(err) {
			a.mu.Lock()
			a.keyringFailedLocked("store the registration", err)
			a.mu.Unlock()
		}
		return ipcproto.CodeKeyringUnavailable, msg
	}
	a.mu.Lock()
	if onAdopt != nil {
		onAdopt()
	}
	a.keyringRecoveredLocked()
	a.adoptLocked(reg)
	a.snap.persisted.OperatorUID = &uid
	a.snap.persisted.Disconnected = false
	a.updateLocked()
	a.mu.Unlock()
	a.savePersisted()
	a.log.Info("registered", zap.String("device", reg.DeviceID), zap.String("user", reg.User.Email), zap.Int("operator_uid", uid), zap.String("via", via))
	return "", ""
}

// pinnedTeam reports why a registration answer's team is not the one the
// enrollment looked up: the team domain is pinned when the user names the
// team, and the refresh-identity URL (which agentd later opens) must be on
// it, so an answer rewritten on its way cannot point re-authentication at
// another site.
func pinnedTeam(looked control.Team, got control.TeamInfo) error {
	if got.Name != looked.Name {
		return fmt.Errorf("team %q", got.Name)
	}
	if strings.TrimSuffix(got.Domain, "/") != strings.TrimSuffix(looked.Domain, "/") {
		return fmt.Errorf("team domain %q instead of %q", got.Domain, looked.Domain)
	}
	if _, err := session.ValidateBrowseURL(got.RefreshIdentityURL, looked.Domain); err != nil {
		return fmt.Errorf("refresh-identity URL %q: %v", got.RefreshIdentityURL, err)
	}
	return nil
}

// registerFailure explains a refused registration: for S13, who owns the
// device and what to do.
func registerFailure(err error, edge string) (code, msg string) {
	var ae *apierror.Error
	if !errors.As(err, &ae) {
		return ipcproto.CodeEdgeUnreachable, fmt.Sprintf("the edge at %s did not answer the registration (%v); run `agentctl register` again", edge, err)
	}
	if ae.Code == ipcproto.CodeOtherUser {
		owner := ae.User
		if owner == "" {
			owner = "another user"
		}
		return ae.Code, fmt.Sprintf("this device is registered to %s; one user per device: ask %s to run `agentctl logout` (if your organization allows leaving) or ask an administrator to revoke the device, then run `agentctl register` again",
			owner, owner)
	}
	msg = fmt.Sprintf("the edge refused the registration: %s", ae.Message)
	if ae.Hint != "" {
		msg += "; " + ae.Hint
	}
	return ae.Code, msg
}

func (a *Agent) fingerprint() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.snap.persisted.Fingerprint
}

func page(w http.ResponseWriter, status int, title, body string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	fmt.Fprintf(w, "<!doctype html><title>ztagent: %s</title><h1>%s</h1><p>%s</p>\n",
		html.EscapeString(title), html.EscapeString(title), html.EscapeString(secret.Scrub(body)))
}

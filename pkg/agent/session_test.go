package agent

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ztagent/ztagent/pkg/control"
	"github.com/ztagent/ztagent/pkg/ipc"
	"github.com/ztagent/ztagent/pkg/ipc/ipcproto"
	"github.com/ztagent/ztagent/pkg/session"
)

func countType(evs []ipcproto.Event, typ string) int {
	n := 0
	for _, ev := range evs {
		if ev.Type == typ {
			n++
		}
	}
	return n
}

// waitFor collects events until one of type typ arrives and returns them all.
func (e *env) waitFor(typ string) []ipcproto.Event {
	e.t.Helper()
	var out []ipcproto.Event
	deadline := time.After(30 * time.Second)
	for {
		select {
		case ev := <-e.events:
			out = append(out, ev)
			if ev.Type == typ {
				return out
			}
		case <-deadline:
			e.t.Fatalf("no %s event within 30s; got %d others", typ, len(out))
		}
	}
}

// S16: session_expired from two policies and repeats give one
// browse_to_url with the refresh-identity URL and reauth_required; a
// signal after 5 minutes re-prompts once; the user's reauth always
// prompts; session_refreshed stores the new auth_time (Store.Refresh) and
// returns to connected.
func TestS16_OnePromptPerExpiry(t *testing.T) {
	e := newEnv(t)
	e.enroll(1000)
	e.drain()
	refresh := e.edge.srv.URL + session.RefreshIdentityPath

	e.edge.appendEvent(control.EventSessionExpired, control.SessionExpired{PolicyID: "p-git", PolicyName: "Git over HTTP", Filter: "http"})
	evs := e.waitFor(ipcproto.EventBrowseToURL)
	var bu ipcproto.BrowseToURL
	if err := json.Unmarshal(evs[len(evs)-1].Data, &bu); err != nil || bu.URL != refresh || bu.Reason != ipcproto.EventSessionExpired {
		t.Fatalf("browse_to_url %+v %v", bu, err)
	}
	if countType(evs, ipcproto.EventSessionExpired) != 1 {
		t.Fatalf("events before the prompt: %+v", evs)
	}
	st := e.waitState(ipcproto.StateReauthRequired)
	if st.ReauthURL != refresh || !strings.Contains(st.Message, "Git over HTTP") {
		t.Fatalf("status %+v", st)
	}
	// Another policy and a repeat: events, but no second prompt.
	e.edge.appendEvent(control.EventSessionExpired, control.SessionExpired{PolicyID: "p-wiki", PolicyName: "Wiki", Filter: "l4"})
	e.waitEvent(ipcproto.EventSessionExpired)
	e.edge.appendEvent(control.EventSessionExpired, control.SessionExpired{PolicyID: "p-git", PolicyName: "Git over HTTP", Filter: "http"})
	evs = e.waitFor(ipcproto.EventSessionExpired)
	e.edge.appendEvent(control.EventPolicyChanged, nil) // a marker: everything before it was handled
	if err := waitCond(func() bool { return e.lastSeq() == 4 }); err != nil {
		t.Fatal(err)
	}
	evs = append(evs, e.drain()...)
	if n := countType(evs, ipcproto.EventBrowseToURL); n != 0 {
		t.Fatalf("%d more prompts for the same expiry", n)
	}
	// Five minutes on, a new block re-prompts once.
	e.advance(session.DefaultRepromptInterval)
	e.edge.appendEvent(control.EventSessionExpired, control.SessionExpired{PolicyID: "p-git", PolicyName: "Git over HTTP", Filter: "http"})
	e.waitEvent(ipcproto.EventBrowseToURL)
	// The user asks: always a prompt.
	au, err := e.a.Reauth(t.Context(), ipcproto.ReauthRequest{})
	if err != nil || au.AuthURL != refresh {
		t.Fatalf("Reauth: %+v %v", au, err)
	}
	if ev := e.waitEvent(ipcproto.EventBrowseToURL); !strings.Contains(string(ev.Data), `"reauth"`) {
		t.Fatalf("manual prompt %s", ev.Data)
	}

	newAuth := t0.Add(10 * time.Minute)
	e.edge.appendEvent(control.EventSessionRefreshed, control.SessionRefreshed{AuthTime: newAuth, Groups: []string{"engineering", "admins"}})
	var sr ipcproto.SessionRefreshed
	if ev := e.waitEvent(ipcproto.EventSessionRefreshed); json.Unmarshal(ev.Data, &sr) != nil || !sr.AuthTime.Equal(newAuth) {
		t.Fatalf("session_refreshed %s", ev.Data)
	}
	st = e.waitState(ipcproto.StateConnected)
	if st.ReauthURL != "" || !st.Session.AuthTime.Equal(newAuth) {
		t.Fatalf("status after refresh %+v", st)
	}
	reg, err := newRegStore(e.kr).Load(t.Context())
	if err != nil || !reg.AuthTime.Equal(newAuth) || len(reg.User.Groups) != 2 {
		t.Fatalf("stored after refresh: %+v %v", reg, err)
	}
	// A late event about the old session changes nothing (no prompt).
	e.edge.mu.Lock()
	e.edge.edgeNow = t0.Add(-time.Hour)
	e.edge.mu.Unlock()
	e.edge.appendEvent(control.EventSessionExpired, control.SessionExpired{PolicyID: "p-git", PolicyName: "Git over HTTP", Filter: "http"})
	if err := waitCond(func() bool { return e.lastSeq() == 7 }); err != nil {
		t.Fatal(err)
	}
	if n := countType(e.drain(), ipcproto.EventBrowseToURL); n != 0 || e.a.Status(t.Context()).State != ipcproto.StateConnected {
		t.Fatalf("a stale session_expired prompted (%d) or changed the state", n)
	}
}

func (e *env) lastSeq() int64 {
	e.a.mu.Lock()
	defer e.a.mu.Unlock()
	return e.a.snap.persisted.LastSeq
}

// waitCond polls cond (cheap, in-memory) until it holds or 30 s pass.
func waitCond(cond func() bool) error {
	deadline := time.After(30 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline:
			return errors.New("condition not met within 30s")
		case <-tick.C:
		}
	}
	return nil
}

// S14: device_revoked stops the tunnel, empties the keyring, and leaves
// the agent revoked with a device_revoked event; a new enrollment is then
// possible.
func TestS14_Revocation(t *testing.T) {
	e := newEnv(t)
	e.enroll(1000)
	tun := e.tunnels.last()
	e.edge.appendEvent(control.EventDeviceRevoked, nil)
	e.waitEvent(ipcproto.EventDeviceRevoked)
	st := e.waitState(ipcproto.StateRevoked)
	if st.Tunnel != nil || st.Registration != nil || !strings.Contains(st.Message, "revoked") {
		t.Fatalf("status after revocation %+v", st)
	}
	if !tun.closed.Load() {
		t.Fatal("the tunnel is still up")
	}
	if _, err := newRegStore(e.kr).Load(t.Context()); !errors.Is(err, errNotRegistered) {
		t.Fatalf("the keyring still holds the registration: %v", err)
	}
	if _, registered := e.a.Operator(); registered {
		t.Fatal("still registered")
	}
	if err := e.a.Connect(t.Context()); !isIPCCode(err, ipcproto.CodeNotRegistered) {
		t.Fatalf("Connect after revocation: %v", err)
	}
	// A restart finds no registration and still says why it ended (so
	// that an MDM file's service token does not enroll the device again
	// by itself), until someone registers again.
	e.stop()
	e.start()
	if st := e.waitState(ipcproto.StateRevoked); st.Message != "an administrator revoked this device; run `agentctl register` to enroll it again" {
		t.Fatalf("after a restart: %+v", st)
	}
	au, err := e.a.Register(t.Context(), ipc.Caller{UID: 1000}, ipcproto.RegisterRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if status, body := get(t, e.callbackURL(au.AuthURL, "code-2", "")); status != 200 {
		t.Fatalf("callback: %d %s", status, body)
	}
	e.waitState(ipcproto.StateConnected)
	e.stop()
	e.start()
	e.waitState(ipcproto.StateConnected)
}

// A stream refused with 401 (the device was revoked while the agent was
// off) is a revocation too.
func TestS14_RevokedWhileAway(t *testing.T) {
	e := newEnv(t)
	e.enroll(1000)
	e.stop()
	e.edge.mu.Lock()
	e.edge.revoked = true
	e.edge.mu.Unlock()
	e.start()
	e.waitState(ipcproto.StateRevoked)
	if _, err := newRegStore(e.kr).Load(t.Context()); !errors.Is(err, errNotRegistered) {
		t.Fatalf("the keyring still holds the registration: %v", err)
	}
}

// REL2: a keyring that hangs gives keyring_unavailable with a clear
// message, Status keeps answering at once meanwhile, and the agent
// recovers by itself once the keyring answers.
func TestREL2_KeyringHang(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.KeyringTimeout = 300 * time.Millisecond })
	e.enroll(1000)
	e.stop()
	e.kr.hung.Store(true)
	e.start()
	// While the first read hangs, Status answers: proved by a Status
	// that returns between two sightings of the same hanging call. The
	// call ends at its deadline, so a busy machine may need a few tries.
	if err := waitCond(func() bool {
		if e.kr.waiting.Load() == 0 {
			return false
		}
		e.a.Status(t.Context())
		return e.kr.waiting.Load() > 0 && e.a.Status(t.Context()).State == ipcproto.StateConnecting
	}); err != nil {
		t.Fatalf("Status never answered while the keyring hung: %v", err)
	}
	st := e.waitState(ipcproto.StateKeyringUnavailable)
	if !strings.Contains(st.Message, "keyring") || !strings.Contains(st.Message, "unlock") {
		t.Fatalf("message %q", st.Message)
	}
	if uid, registered := e.a.Operator(); !registered || uid != 1000 {
		t.Fatalf("while the keyring is unreadable, Operator() = %d, %v; the last known registration must hold", uid, registered)
	}
	e.kr.hung.Store(false)
	if err := e.clk.WaitForTimers(t.Context(), 2); err != nil {
		t.Fatal(err)
	}
	e.advance(DefaultKeyringRetry)
	e.waitState(ipcproto.StateConnected)

	// At run time: a session_refreshed the keyring cannot store is retried
	// until it can, with keyring_unavailable meanwhile.
	e.kr.hung.Store(true)
	newAuth := t0.Add(time.Hour)
	e.edge.appendEvent(control.EventSessionRefreshed, control.SessionRefreshed{AuthTime: newAuth})
	e.waitState(ipcproto.StateKeyringUnavailable)
	e.kr.hung.Store(false)
	if err := waitCond(func() bool {
		e.clk.Advance(time.Second) // the stream's backoff
		return e.a.Status(context.Background()).State == ipcproto.StateConnected
	}); err != nil {
		t.Fatal(err)
	}
	if st := e.a.Status(t.Context()); !st.Session.AuthTime.Equal(newAuth) {
		t.Fatalf("auth_time %v after the retry", st.Session.AuthTime)
	}
}

// A subscriber that does not read is dropped (its channel closed); the
// agent and the other subscribers carry on.
func TestSlowSubscriberDropped(t *testing.T) {
	// 4 holds the largest burst one change publishes (3), so the env's own
	// reader, which keeps up, is never dropped.
	e := newEnv(t, func(o *Options) { o.SubscriberBuffer = 4 })
	e.waitState(ipcproto.StateUnregistered)
	_, slow, cancel := e.a.Subscribe(ipc.Caller{UID: 0})
	defer cancel()
	e.enroll(1000) // publishes more than 4 events while slow reads none
	n := 0
	deadline := time.After(10 * time.Second)
	for open := true; open; {
		select {
		case _, open = <-slow:
			if open {
				n++
			}
		case <-deadline:
			t.Fatal("the slow subscriber was never dropped")
		}
	}
	if n > 4 {
		t.Fatalf("the slow subscriber got %d events after its queue of 4 was full", n)
	}
	// The agent and the keeping-up subscriber carry on.
	if _, err := e.a.Reauth(t.Context(), ipcproto.ReauthRequest{}); err != nil {
		t.Fatal(err)
	}
	e.waitEvent(ipcproto.EventBrowseToURL)
}

// Warnings come lead before the earliest deadline, on the edge's clock:
// with the edge 10 minutes ahead, a 1h policy for a session authenticated
// at t0-1m warns at local t0+(1h-1m-10m-5m).
func TestExpiryWarningOnEdgeClock(t *testing.T) {
	e := newEnv(t)
	e.edge.setNow(t0.Add(10 * time.Minute))
	e.enroll(1000)
	if err := waitCond(func() bool { return e.edge.sessionRequests() > 0 }); err != nil {
		t.Fatal(err)
	}
	warnAt := t0.Add(time.Hour - time.Minute - 10*time.Minute - session.DefaultWarningLead)
	if err := waitCond(func() bool { at, ok := e.a.nextWarning(); return ok && at.Equal(warnAt) }); err != nil {
		at, ok := e.a.nextWarning()
		t.Fatalf("next warning at %v %v, want %v", at, ok, warnAt)
	}
	e.drain()
	e.advance(warnAt.Sub(e.clk.Now()) - time.Second)
	e.advance(time.Second)
	var w ipcproto.ExpiryWarning
	if ev := e.waitEvent(ipcproto.EventExpiryWarning); json.Unmarshal(ev.Data, &w) != nil || w.PolicyName != "Git over HTTP" ||
		!w.ExpiresAt.Equal(t0.Add(time.Hour-time.Minute)) {
		t.Fatalf("warning %s", ev.Data)
	}
	sess, err := e.a.Session(t.Context())
	if err != nil || len(sess.Gateway) != 1 || sess.Gateway[0].Duration != "1h0m0s" || sess.Access == nil {
		t.Fatalf("Session: %+v %v", sess, err)
	}
}

// REL4: a wall-clock jump (the wall clock moves, the monotonic one does
// not) makes the agent ask the edge its time again, so the status keeps
// the edge's time rather than the jumped local one.
func TestREL4_ClockJumpRemeasures(t *testing.T) {
	e := newEnv(t)
	e.enroll(1000)
	if err := waitCond(func() bool { return e.edge.sessionRequests() > 0 }); err != nil {
		t.Fatal(err)
	}
	before := e.edge.sessionRequests()
	e.mono.wallJump(t0.Add(3 * time.Hour)) // the wall clock alone jumps 3h
	if err := waitCond(func() bool { return e.edge.sessionRequests() > before }); err != nil {
		t.Fatal("no new measurement after a wall-clock jump")
	}
	if err := waitCond(func() bool {
		st := e.a.Status(context.Background())
		return st.Session != nil && st.Session.ServerTime.Sub(t0).Abs() < time.Minute
	}); err != nil {
		t.Fatalf("server_time %v after the jump, want the edge's %v", e.a.Status(t.Context()).Session.ServerTime, t0)
	}
	// Moving both clocks together is no jump.
	d, jumped := newJumpDetector(t0, 0, DefaultJumpThreshold).check(t0.Add(time.Hour), time.Hour)
	if jumped || d != 0 {
		t.Fatalf("a steady hour counted as a jump of %v", d)
	}
	if _, jumped := newJumpDetector(t0, 0, DefaultJumpThreshold).check(t0.Add(-time.Hour), time.Minute); !jumped {
		t.Fatal("a backward jump went unnoticed")
	}
}

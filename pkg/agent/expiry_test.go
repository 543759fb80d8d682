package agent

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/ztagent/ztagent/pkg/control"
	"github.com/ztagent/ztagent/pkg/ipc/ipcproto"
)

// The fake edge's registration signed in at t0-1m with a 1h "Git over
// HTTP" policy: the session expires after t0+59m on the edge's clock.
var gitDeadline = t0.Add(59 * time.Minute)

// waitSessionFetched waits until the agent has read the session limits
// and applied them (the fake edge counts a request when it starts).
func (e *env) waitSessionFetched(after int) {
	e.t.Helper()
	if err := waitCond(func() bool {
		e.a.mu.Lock()
		applied := e.a.snap.reqs != nil || e.a.snap.otherReqs != nil
		e.a.mu.Unlock()
		return applied && e.edge.sessionRequests() > after
	}); err != nil {
		e.t.Fatalf("the agent did not fetch the session view: %v", err)
	}
}

// moveEdgeClock moves the fake edge's time and announces it, as edged
// does after `edged clock advance`.
func (e *env) moveEdgeClock(now time.Time) int64 {
	e.edge.setNow(now)
	return e.edge.appendEvent(control.EventClockChanged, control.ClockChanged{Now: now, Offset: now.Sub(t0).String()})
}

// TestClockChangedExpiresWithoutABlockedFlow: after the edge's time moves
// past a deadline, the agent says the session expired (event, state,
// status) at once, without a blocked connection and without opening a
// browser; the edge's later signal prompts once and is not announced
// twice; a new sign-in restores connected.
func TestClockChangedExpiresWithoutABlockedFlow(t *testing.T) {
	e := newEnv(t)
	e.enroll(1000)
	e.waitSessionFetched(0)
	if st := e.a.Status(t.Context()); st.Session == nil || st.Session.NextExpiry == nil ||
		!st.Session.NextExpiry.ExpiresAt.Equal(gitDeadline) || st.Session.NextExpiry.Expired || st.Session.NextExpiry.PolicyName != "Git over HTTP" {
		t.Fatalf("status before the clock moved: %+v", st.Session)
	}
	e.drain()

	e.moveEdgeClock(t0.Add(2 * time.Hour))
	evs := e.waitFor(ipcproto.EventSessionExpired)
	var se ipcproto.SessionExpired
	if err := json.Unmarshal(evs[len(evs)-1].Data, &se); err != nil || se.PolicyID != "p-git" || se.PolicyName != "Git over HTTP" {
		t.Fatalf("session_expired %s %v", evs[len(evs)-1].Data, err)
	}
	st := e.waitState(ipcproto.StateReauthRequired)
	if !strings.Contains(st.Message, `"Git over HTTP"`) || !strings.Contains(st.Message, "agentctl reauth") ||
		st.Session.NextExpiry == nil || !st.Session.NextExpiry.Expired || st.Session.ServerTime.Before(t0.Add(2*time.Hour)) {
		t.Fatalf("status after the clock moved: %+v %+v", st, st.Session)
	}
	if st.ReauthURL == "" || st.TeamDomain != e.edge.srv.URL {
		t.Fatalf("reauth_required with reauth_url %q and team_domain %q, want the refresh-identity URL on %s", st.ReauthURL, st.TeamDomain, e.edge.srv.URL)
	}

	// The edge's own signal, when the user reaches the wiki: the prompt,
	// once, and the blocked flow's event.
	e.edge.appendEvent(control.EventSessionExpired, control.SessionExpired{PolicyID: "p-git", PolicyName: "Git over HTTP", Filter: "http"})
	evs = e.waitFor(ipcproto.EventBrowseToURL)
	if n := countType(evs, ipcproto.EventSessionExpired); n != 1 {
		t.Fatalf("%d session_expired for the edge's signal, want 1: %+v", n, evs)
	}

	e.edge.appendEvent(control.EventSessionRefreshed, control.SessionRefreshed{AuthTime: t0.Add(2 * time.Hour)})
	st = e.waitState(ipcproto.StateConnected)
	if st.Session.NextExpiry == nil || st.Session.NextExpiry.Expired || !st.Session.NextExpiry.ExpiresAt.Equal(t0.Add(3*time.Hour)) {
		t.Fatalf("next expiry after the new sign-in: %+v", st.Session.NextExpiry)
	}
	if au, err := e.a.Reauth(t.Context(), ipcproto.ReauthRequest{}); err != nil || au.TeamDomain != e.edge.srv.URL {
		t.Fatalf("Reauth: %+v %v; want the team domain named", au, err)
	}
}

// TestNoBrowserForAnExpiryTheAgentComputed: the agent's own expiry never
// opens a browser; the prompt waits for the edge to say a flow was
// blocked.
func TestNoBrowserForAnExpiryTheAgentComputed(t *testing.T) {
	e := newEnv(t)
	e.enroll(1000)
	e.waitSessionFetched(0)
	e.drain()
	seq := e.moveEdgeClock(t0.Add(2 * time.Hour))
	e.waitState(ipcproto.StateReauthRequired)
	marker := e.edge.appendEvent(control.EventPolicyChanged, nil) // ordered after the clock change
	if err := waitCond(func() bool { return e.lastSeq() >= marker }); err != nil || marker <= seq {
		t.Fatal(err)
	}
	if n := countType(e.drain(), ipcproto.EventBrowseToURL); n != 0 {
		t.Fatalf("%d browse_to_url for an expiry no flow ran into", n)
	}
}

// TestClockChangedFiresTheWarning: the edge's time moving to within the
// warning lead of a deadline warns at once.
func TestClockChangedFiresTheWarning(t *testing.T) {
	e := newEnv(t)
	e.enroll(1000)
	e.waitSessionFetched(0)
	e.drain()
	e.moveEdgeClock(gitDeadline.Add(-2 * time.Minute))
	var w ipcproto.ExpiryWarning
	if ev := e.waitEvent(ipcproto.EventExpiryWarning); json.Unmarshal(ev.Data, &w) != nil || w.PolicyName != "Git over HTTP" || !w.ExpiresAt.Equal(gitDeadline) {
		t.Fatalf("warning %s", ev.Data)
	}
	if st := e.a.Status(t.Context()); st.State != ipcproto.StateConnected {
		t.Fatalf("state %s before the deadline", st.State)
	}
}

// TestExpiryTimerFiresAtTheEdgesDeadline: with no event at all, the
// agent's timer moves the state at the deadline on the edge's clock (the
// edge 10 minutes ahead of the device), not before.
func TestExpiryTimerFiresAtTheEdgesDeadline(t *testing.T) {
	e := newEnv(t)
	e.edge.setNow(t0.Add(10 * time.Minute))
	e.enroll(1000)
	e.waitSessionFetched(0)
	localDeadline := gitDeadline.Add(-10 * time.Minute)
	if err := waitCond(func() bool { at, ok := e.a.nextDeadline(); return ok && at.Equal(localDeadline.Add(time.Nanosecond)) }); err != nil {
		at, ok := e.a.nextDeadline()
		t.Fatalf("next deadline %v %v, want just after %v", at, ok, localDeadline)
	}
	e.advance(localDeadline.Sub(e.clk.Now()))
	// Exactly as old as the duration still passes (S3): even a timer
	// firing right at the deadline changes nothing.
	e.a.checkExpiry()
	if st := e.a.Status(t.Context()); st.State != ipcproto.StateConnected {
		t.Fatalf("state %s (%s) at the deadline itself", st.State, st.Message)
	}
	e.advance(time.Second)
	e.waitEvent(ipcproto.EventSessionExpired)
	e.waitState(ipcproto.StateReauthRequired)
}

// TestClockChangedWithoutTheSessionView: the event's time alone moves the
// agent's reading of the edge's clock forward when the session view does
// not answer, and an old event, read again after a reconnection, cannot
// move it back.
func TestClockChangedWithoutTheSessionView(t *testing.T) {
	e := newEnv(t)
	e.edge.setNow(t0.Add(30 * time.Minute))
	e.enroll(1000)
	e.waitSessionFetched(0)
	before := e.a.Status(t.Context()).Session.ServerTime
	e.edge.mu.Lock()
	e.edge.sessionDown = true
	e.edge.mu.Unlock()

	seq := e.edge.appendEvent(control.EventClockChanged, control.ClockChanged{Now: t0.Add(-time.Hour), Offset: "0s"})
	if err := waitCond(func() bool { return e.lastSeq() >= seq }); err != nil {
		t.Fatal(err)
	}
	if got := e.a.Status(t.Context()).Session.ServerTime; got.Before(before) {
		t.Fatalf("server_time went back from %v to %v on an old clock_changed", before, got)
	}

	e.edge.appendEvent(control.EventClockChanged, control.ClockChanged{Now: t0.Add(3 * time.Hour), Offset: "3h0m0s"})
	st := e.waitState(ipcproto.StateReauthRequired)
	if st.Session.ServerTime.Before(t0.Add(3 * time.Hour)) {
		t.Fatalf("server_time %v, want at least the announced %v", st.Session.ServerTime, t0.Add(3*time.Hour))
	}
}

// TestPolicyThatDoesNotApplyNeverExpires: a policy the edge says cannot
// match the user is listed in the session map, marked, and never warns,
// expires or counts as the next expiry.
func TestPolicyThatDoesNotApplyNeverExpires(t *testing.T) {
	e := newEnv(t)
	e.edge.mu.Lock()
	e.edge.policies = []map[string]any{
		{"policy_id": "p-git", "name": "Git over HTTP", "filter": "http", "duration": "1h0m0s", "applies_to_user": true},
		{"policy_id": "p-hr", "name": "HR portal", "filter": "http", "duration": "10m0s", "applies_to_user": false},
	}
	e.edge.mu.Unlock()
	e.enroll(1000)
	e.waitSessionFetched(0)
	sess, err := e.a.Session(t.Context())
	if err != nil || len(sess.Gateway) != 2 {
		t.Fatalf("Session: %+v %v", sess, err)
	}
	for _, g := range sess.Gateway {
		if g.AppliesToUser == nil || *g.AppliesToUser != (g.PolicyID == "p-git") {
			t.Fatalf("policy %s applies_to_user %v", g.PolicyID, g.AppliesToUser)
		}
	}
	if st := e.a.Status(t.Context()); st.Session.NextExpiry == nil || st.Session.NextExpiry.PolicyName != "Git over HTTP" {
		t.Fatalf("next expiry %+v, want the policy that applies", st.Session.NextExpiry)
	}
	e.drain()
	e.moveEdgeClock(t0.Add(30 * time.Minute)) // HR's 10m passed, Git's 1h not
	marker := e.edge.appendEvent(control.EventPolicyChanged, nil)
	if err := waitCond(func() bool { return e.lastSeq() >= marker }); err != nil {
		t.Fatal(err)
	}
	evs := e.drain()
	if n := countType(evs, ipcproto.EventSessionExpired) + countType(evs, ipcproto.EventExpiryWarning); n != 0 {
		t.Fatalf("a policy that does not apply expired or warned: %+v", evs)
	}
	if st := e.a.Status(t.Context()); st.State != ipcproto.StateConnected {
		t.Fatalf("state %s (%s)", st.State, st.Message)
	}
}

package agent

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ztagent/ztagent/pkg/ipc"
	"github.com/ztagent/ztagent/pkg/ipc/ipcproto"
)

// advance moves the wall and monotonic clocks together (no jump).
func (e *env) advance(d time.Duration) {
	e.clk.Advance(d) // the monotonic clock follows
}

// SEC6: the auth URL is the team domain's /warp with a loopback callback,
// state and an S256 challenge; it is published as browse_to_url; a
// callback with a wrong state stores nothing; the right one registers,
// records the operator and connects; the callback is one-shot.
func TestEnrollmentSEC6(t *testing.T) {
	e := newEnv(t)
	e.waitState(ipcproto.StateUnregistered)
	au, err := e.a.Register(t.Context(), ipc.Caller{UID: 1000}, ipcproto.RegisterRequest{})
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(au.AuthURL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if got := u.Scheme + "://" + u.Host + u.Path; got != e.edge.srv.URL+"/warp" {
		t.Fatalf("auth URL %s, want the team domain's /warp", au.AuthURL)
	}
	cb, err := url.Parse(q.Get("redirect_uri"))
	if err != nil || cb.Scheme != "http" || cb.Hostname() != "127.0.0.1" || cb.Port() == "" || cb.Path != CallbackPath {
		t.Fatalf("redirect_uri %q is not http://127.0.0.1:<port>/callback", q.Get("redirect_uri"))
	}
	if q.Get("code_challenge_method") != "S256" || len(q.Get("code_challenge")) != 43 || len(q.Get("state")) < 32 {
		t.Fatalf("PKCE/state parameters: %v", q)
	}
	var bu ipcproto.BrowseToURL
	if ev := e.waitEvent(ipcproto.EventBrowseToURL); json.Unmarshal(ev.Data, &bu) != nil || bu.URL != au.AuthURL || bu.Reason != "register" {
		t.Fatalf("browse_to_url %s", ev.Data)
	}
	e.waitState(ipcproto.StateRegistering)

	// A wrong state: refused, nothing stored, still registering.
	if status, _ := get(t, e.callbackURL(au.AuthURL, "code-evil", "not-the-state")); status != http.StatusBadRequest {
		t.Fatalf("callback with a wrong state: %d", status)
	}
	if _, err := newRegStore(e.kr).Load(t.Context()); !errors.Is(err, errNotRegistered) {
		t.Fatalf("after a wrong state the keyring holds %v", err)
	}
	if st := e.a.Status(t.Context()); st.State != ipcproto.StateRegistering {
		t.Fatalf("after a wrong state: %s", st.State)
	}
	// Another path or method on the listener: nothing.
	if status, _ := get(t, strings.Replace(q.Get("redirect_uri"), CallbackPath, "/other", 1)); status != http.StatusNotFound {
		t.Fatalf("GET /other: %d", status)
	}

	good := e.callbackURL(au.AuthURL, "code-1", "")
	if status, body := get(t, good); status != 200 || !strings.Contains(body, "registered") {
		t.Fatalf("callback: %d %s", status, body)
	}
	st := e.waitState(ipcproto.StateConnected)
	if st.Registration == nil || st.Registration.User != "alice@example.com" || st.Tunnel == nil || st.Tunnel.ProxyAddr != "127.0.0.1:40001" {
		t.Fatalf("status after enrollment: %+v", st)
	}
	if uid, registered := e.a.Operator(); uid != 1000 || !registered {
		t.Fatalf("Operator() = %d, %v", uid, registered)
	}
	reg, err := newRegStore(e.kr).Load(t.Context())
	if err != nil || reg.DeviceToken.Reveal() != e.edge.token || reg.WireGuardPrivateKey.IsZero() {
		t.Fatalf("stored registration: %v", err)
	}
	// One shot: the listener is gone (or refuses) once used.
	if resp, err := http.Get(good); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Fatal("the callback accepted a second use")
		}
	}
	// The state file is private and names the device's fingerprint, which
	// the edge received.
	fi, err := os.Stat(filepath.Join(e.dir, stateFileName))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("state file: %v %v", fi, err)
	}
	if fp := e.a.fingerprint(); len(e.edge.fingerprint) != 1 || e.edge.fingerprint[0] != fp || len(fp) < 32 {
		t.Fatalf("fingerprint sent %v, have %q", e.edge.fingerprint, fp)
	}
}

// The fingerprint and the operator survive a restart, and the restarted
// agent loads the registration and connects without enrolling again.
func TestRestartKeepsFingerprintAndRegistration(t *testing.T) {
	e := newEnv(t)
	e.enroll(1000)
	fp := e.a.fingerprint()
	seq := e.edge.appendEvent("policy_changed", nil)
	if err := waitCond(func() bool { return e.lastSeq() == seq }); err != nil {
		t.Fatal(err)
	}
	e.stop()
	e.start()
	st := e.waitState(ipcproto.StateConnected)
	if afters := e.edge.streamAfters(); afters[len(afters)-1] != seq {
		t.Fatalf("the restarted agent asked for events after %v, want after %d (the last handled)", afters, seq)
	}
	if e.a.fingerprint() != fp {
		t.Fatal("the device fingerprint changed across a restart")
	}
	if uid, ok := e.a.Operator(); uid != 1000 || !ok || st.Registration == nil {
		t.Fatalf("after restart: operator %d %v, status %+v", uid, ok, st)
	}
}

// SEC6: an enrollment not completed within 10 minutes ends: an error
// event, unregistered, and the callback no longer answers.
func TestEnrollmentExpires(t *testing.T) {
	e := newEnv(t)
	e.waitState(ipcproto.StateUnregistered)
	au, err := e.a.Register(t.Context(), ipc.Caller{UID: 1000}, ipcproto.RegisterRequest{})
	if err != nil {
		t.Fatal(err)
	}
	cb := e.callbackURL(au.AuthURL, "code-1", "")
	e.advance(DefaultEnrollmentTimeout)
	var ee ipcproto.ErrorEvent
	if ev := e.waitEvent(ipcproto.EventError); json.Unmarshal(ev.Data, &ee) != nil || ee.Code != "enrollment_expired" {
		t.Fatalf("error event %s", ev.Data)
	}
	e.waitState(ipcproto.StateUnregistered)
	if resp, err := http.Get(cb); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Fatal("an expired enrollment accepted its callback")
		}
	}
	if _, err := newRegStore(e.kr).Load(t.Context()); !errors.Is(err, errNotRegistered) {
		t.Fatalf("after expiry the keyring holds %v", err)
	}
}

// S13: the edge's 409 names the owner; the agent reports it with what to
// do, and stays unregistered. While registered, Register is refused
// locally, naming the owner.
func TestSingleUser(t *testing.T) {
	e := newEnv(t)
	e.waitState(ipcproto.StateUnregistered)
	e.edge.setOtherUser("bob@example.com")
	au, err := e.a.Register(t.Context(), ipc.Caller{UID: 1001}, ipcproto.RegisterRequest{})
	if err != nil {
		t.Fatal(err)
	}
	get(t, e.callbackURL(au.AuthURL, "code-1", ""))
	var ee ipcproto.ErrorEvent
	if ev := e.waitEvent(ipcproto.EventError); json.Unmarshal(ev.Data, &ee) != nil || ee.Code != ipcproto.CodeOtherUser ||
		!strings.Contains(ee.Message, "bob@example.com") || !strings.Contains(ee.Message, "agentctl logout") {
		t.Fatalf("error event %s", ev.Data)
	}
	st := e.waitState(ipcproto.StateUnregistered)
	if !strings.Contains(st.Message, "bob@example.com") {
		t.Fatalf("status message %q does not name the owner", st.Message)
	}
	if _, registered := e.a.Operator(); registered {
		t.Fatal("a refused registration left the device registered")
	}

	e.edge.setOtherUser("")
	e.enroll(1000)
	_, err = e.a.Register(t.Context(), ipc.Caller{UID: 0}, ipcproto.RegisterRequest{})
	if !isIPCCode(err, ipcproto.CodeAlreadyRegistered) || !strings.Contains(err.Error(), "alice@example.com") {
		t.Fatalf("Register while registered to alice: %v", err)
	}
	// A second enrollment by another user while one is pending is refused.
	e2 := newEnv(t)
	e2.waitState(ipcproto.StateUnregistered)
	if _, err := e2.a.Register(t.Context(), ipc.Caller{UID: 1000}, ipcproto.RegisterRequest{}); err != nil {
		t.Fatal(err)
	}
	if _, err := e2.a.Register(t.Context(), ipc.Caller{UID: 1001}, ipcproto.RegisterRequest{}); !isIPCCode(err, ipcproto.CodeConflict) {
		t.Fatalf("a racing enrollment by another user: %v", err)
	}
	if _, err := e2.a.Register(t.Context(), ipc.Caller{UID: 1000}, ipcproto.RegisterRequest{Team: "nope"}); !isIPCCode(err, "unknown_team") {
		t.Fatalf("unknown team: %v", err)
	}
}

// Register with the edge down says so, with a code a front-end can act on.
func TestRegisterEdgeUnreachable(t *testing.T) {
	e := newEnv(t)
	e.waitState(ipcproto.StateUnregistered)
	e.edge.srv.Close()
	_, err := e.a.Register(context.Background(), ipc.Caller{UID: 1000}, ipcproto.RegisterRequest{})
	if !isIPCCode(err, ipcproto.CodeEdgeUnreachable) {
		t.Fatalf("Register with the edge down: %v", err)
	}
}

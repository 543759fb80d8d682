package agent

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ztagent/ztagent/internal/clock"
	"github.com/ztagent/ztagent/internal/secret"
	"github.com/ztagent/ztagent/pkg/control"
	"github.com/ztagent/ztagent/pkg/ipc"
	"github.com/ztagent/ztagent/pkg/ipc/ipcproto"
	"github.com/ztagent/ztagent/pkg/mdm"
)

func mdmWithToken(secretText string) *mdm.Settings {
	return &mdm.Settings{File: "/var/lib/ztagent/mdm.xml", Organization: "acme", AuthClientID: "servers.access",
		AuthClientSecret: secret.New(secretText), Onboarding: true}
}

func (e *env) tokenAttempts() int {
	e.edge.mu.Lock()
	defer e.edge.mu.Unlock()
	return e.edge.tokenAttempts
}

// backoffClock reports every timer of the unattended enrollment's backoff
// (5 s doubling to 5 min) as agentd arms it.
type backoffClock struct {
	*clock.Fake
	armed chan time.Duration
}

func (c *backoffClock) NewTimer(d time.Duration) clock.Timer {
	t := c.Fake.NewTimer(d)
	for b := unattendedFirstRetry; b <= unattendedMaxRetry; b *= 2 {
		if d == b {
			select {
			case c.armed <- d:
			default:
			}
		}
	}
	return t
}

// newTokenEnv is an env whose fake edge knows the service token's secret
// (and is down when down is set), with the MDM file's settings given to
// the running agent as a SIGHUP would, and kept for restarts.
func newTokenEnv(t *testing.T, edgeSecret, mdmSecret string, down bool, edit ...func(*Options)) *env {
	e := newEnv(t, edit...)
	e.waitState(ipcproto.StateUnregistered)
	e.edge.mu.Lock()
	e.edge.tokenSecret, e.edge.tokenDown = edgeSecret, down
	e.edge.mu.Unlock()
	e.opts.MDM = mdmWithToken(mdmSecret)
	e.a.SetMDM(e.opts.MDM)
	return e
}

// waitStatus waits until the agent's status satisfies ok.
func (e *env) waitStatus(ok func(ipcproto.Status) bool) ipcproto.Status {
	e.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		st := e.a.Status(context.Background())
		if ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("status never as wanted: %+v", st)
		}
		select {
		case <-e.events:
		case <-time.After(50 * time.Millisecond):
		}
	}
}

const tokenSecret = "0123456789abcdef0123456789abcdef0123456789abcdef"

// With a service token in the MDM file agentd enrolls unattended, as a
// non-identity device that never re-authenticates. After a revoke it stays
// revoked, across a minute of simulated time and a restart, with no new
// attempt; a user's disconnect is refused while the switch is locked, and
// root's `agentctl register` enrolls it again with the token.
func TestUnattendedEnrollment(t *testing.T) {
	e := newTokenEnv(t, tokenSecret, tokenSecret, false)
	st := e.waitState(ipcproto.StateConnected)
	if r := st.Registration; r == nil || r.EnrolledVia != "service_token" || r.ServiceToken != "Servers" ||
		r.User != "non_identity@acme.cloudflareaccess.com" || r.IdP != "" {
		t.Fatalf("registration: %+v", st.Registration)
	}
	if st.State != ipcproto.StateConnected {
		t.Fatalf("a service-token device with expired-looking sessions: %+v", st)
	}

	locked := *e.opts.MDM
	locked.SwitchLocked = true
	e.a.SetMDM(&locked)
	if err := e.a.Disconnect(t.Context(), ipc.Caller{UID: 1000}); !isIPCCode(err, ipcproto.CodeSwitchLocked) {
		t.Fatalf("a user's disconnect with switch_locked: %v", err)
	}
	// GET /v1/permissions tells a tray the same, before it offers the item.
	if err := e.a.Refusal(ipc.Caller{UID: 1000}, "POST", "/v1/disconnect"); !isIPCCode(err, ipcproto.CodeSwitchLocked) {
		t.Fatalf("Refusal of a user's disconnect with switch_locked: %v", err)
	}
	if err := e.a.Refusal(ipc.Caller{UID: 0}, "POST", "/v1/disconnect"); err != nil {
		t.Fatalf("Refusal of root's disconnect: %v", err)
	}
	e.a.SetMDM(e.opts.MDM)
	if err := e.a.Refusal(ipc.Caller{UID: 1000}, "POST", "/v1/disconnect"); err != nil {
		t.Fatalf("Refusal with the switch unlocked: %v", err)
	}

	before := e.tokenAttempts()
	e.edge.appendEvent(control.EventDeviceRevoked, nil)
	e.waitState(ipcproto.StateRevoked)
	for range 12 {
		e.advance(5 * time.Second)
	}
	e.stop()
	e.start()
	e.waitState(ipcproto.StateRevoked)
	if n := e.tokenAttempts(); n != before {
		t.Fatalf("%d service token registrations after the revoke, want none", n-before)
	}
	au, err := e.a.Register(t.Context(), ipc.Caller{UID: 0}, ipcproto.RegisterRequest{})
	if err != nil || !au.Enrolled || au.AuthURL != "" {
		t.Fatalf("root's register: %+v, %v", au, err)
	}
	e.waitState(ipcproto.StateConnected)
}

// A wrong secret is one attempt and a clear error in status, however long
// agentd then runs.
func TestUnattendedEnrollmentWrongSecret(t *testing.T) {
	e := newTokenEnv(t, tokenSecret, "wrong-secret-wrong-secret-wrong-secret", false)
	st := e.waitStatus(func(st ipcproto.Status) bool { return strings.Contains(st.Message, "unattended enrollment") })
	for range 12 {
		e.advance(5 * time.Second)
	}
	if n := e.tokenAttempts(); n != 1 {
		t.Fatalf("%d attempts with a wrong secret over 60 s, want 1", n)
	}
	if st.State != ipcproto.StateUnregistered || !strings.Contains(st.Message, "/var/lib/ztagent/mdm.xml") ||
		!strings.Contains(st.Message, "client ID or secret is wrong") || strings.Contains(st.Message, "wrong-secret-wrong") {
		t.Fatalf("status: %+v", st)
	}
}

// An edge that does not answer is retried with a doubling backoff: 5 s,
// 10 s, 20 s, then 40 s, so four attempts in the first 60 s.
func TestUnattendedEnrollmentBacksOff(t *testing.T) {
	var bc *backoffClock
	e := newTokenEnv(t, tokenSecret, tokenSecret, true, func(o *Options) {
		bc = &backoffClock{Fake: o.Clock.(*clock.Fake), armed: make(chan time.Duration, 16)}
		o.Clock = bc
	})
	var waits []time.Duration
	var total time.Duration
	for total < 60*time.Second {
		select {
		case d := <-bc.armed:
			waits = append(waits, d)
			total += d
			if total < 60*time.Second {
				e.advance(d)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("agentd did not wait again after %v", waits)
		}
	}
	if want := []time.Duration{5 * time.Second, 10 * time.Second, 20 * time.Second, 40 * time.Second}; !slices.Equal(waits, want) {
		t.Fatalf("backoff %v, want %v", waits, want)
	}
	if n := e.tokenAttempts(); n != 4 {
		t.Fatalf("%d attempts in 60 s, want 4", n)
	}
	e.edge.mu.Lock()
	e.edge.tokenDown = false
	e.edge.mu.Unlock()
	e.advance(40 * time.Second)
	e.waitState(ipcproto.StateConnected)
}

// auto_connect turns the tunnel back on that many minutes after a user
// turned it off, and not before.
func TestAutoConnect(t *testing.T) {
	e := newTokenEnv(t, tokenSecret, tokenSecret, false)
	e.waitState(ipcproto.StateConnected)
	auto := *e.opts.MDM
	auto.AutoConnect = 15 * time.Minute
	e.a.SetMDM(&auto)
	if err := e.a.Disconnect(t.Context(), ipc.Caller{UID: 1000}); err != nil {
		t.Fatal(err)
	}
	e.waitState(ipcproto.StateDisconnected)
	e.advance(14 * time.Minute)
	if st := e.a.Status(context.Background()); st.State != ipcproto.StateDisconnected {
		t.Fatalf("14 minutes after the disconnect: %s", st.State)
	}
	e.advance(time.Minute)
	e.waitState(ipcproto.StateConnected)
}

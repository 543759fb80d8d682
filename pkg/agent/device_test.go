package agent

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ztagent/ztagent/internal/clock"
	"github.com/ztagent/ztagent/pkg/apierror"
	"github.com/ztagent/ztagent/pkg/control"
	"github.com/ztagent/ztagent/pkg/ipc"
	"github.com/ztagent/ztagent/pkg/ipc/ipcproto"
)

// fakeDevices is the control API's device flow on the fake edge: one code
// pair, and poll answers from a script.
type fakeDevices struct {
	e   *fakeEdge
	clk clock.Clock

	mu        sync.Mutex
	challenge string
	reauthFor string   // the device ID of a re-authentication's code pair
	answers   []string // per poll: an RFC 8628 code, "ok" or "reauthenticated"
	polls     []time.Time
}

func (f *fakeDevices) install(mux *http.ServeMux) {
	mux.HandleFunc("POST /v1/device/code", func(w http.ResponseWriter, r *http.Request) {
		var req control.DeviceCodeRequest
		_ = json.NewDecoder(r.Body).Decode(&req)
		f.mu.Lock()
		f.challenge = req.CodeChallenge
		f.mu.Unlock()
		_ = json.NewEncoder(w).Encode(control.DevicePair{DeviceCode: "dc-1", UserCode: "BCDF-GHJK",
			VerificationURI: f.e.srv.URL + "/cdn-cgi/access/device", VerificationURIComplete: f.e.srv.URL + "/cdn-cgi/access/device?user_code=BCDF-GHJK",
			ExpiresIn: 600, Interval: 5})
	})
	mux.HandleFunc("POST /v1/registrations/{id}/device/code", f.e.authed(func(w http.ResponseWriter, r *http.Request) {
		var req control.DeviceCodeRequest
		_ = json.NewDecoder(r.Body).Decode(&req)
		f.mu.Lock()
		f.challenge, f.reauthFor = req.CodeChallenge, r.PathValue("id")
		f.mu.Unlock()
		_ = json.NewEncoder(w).Encode(control.DevicePair{DeviceCode: "dc-reauth", UserCode: "MNPQ-RSTV",
			VerificationURI: f.e.srv.URL + "/cdn-cgi/access/device", VerificationURIComplete: f.e.srv.URL + "/cdn-cgi/access/device?user_code=MNPQ-RSTV",
			ExpiresIn: 600, Interval: 5})
	}))
	mux.HandleFunc("POST /v1/device/token", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.polls = append(f.polls, f.clk.Now())
		answer := control.CodeAuthorizationPending
		if len(f.answers) > 0 {
			answer, f.answers = f.answers[0], f.answers[1:]
		}
		challenge := f.challenge
		f.mu.Unlock()
		if answer == "reauthenticated" {
			_ = json.NewEncoder(w).Encode(control.DeviceToken{Reauthenticated: true, AuthTime: f.clk.Now()})
			return
		}
		if answer != "ok" {
			f.e.fail(w, 400, apierror.Error{Code: answer, Message: answer})
			return
		}
		f.e.expectCode("code-from-device-flow", challenge)
		_ = json.NewEncoder(w).Encode(control.DeviceToken{Code: "code-from-device-flow"})
	})
}

func (f *fakeDevices) pollTimes() []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Time(nil), f.polls...)
}

// pollClock is the env's fake clock that reports every timer of a poll
// interval's length (5 to 30 seconds, whole multiples of 5) as agentd's
// poller arms it, so that the test advances the clock exactly then.
type pollClock struct {
	*clock.Fake
	armed chan time.Duration
}

func (c *pollClock) NewTimer(d time.Duration) clock.Timer {
	t := c.Fake.NewTimer(d)
	if d >= 5*time.Second && d <= 30*time.Second && d%(5*time.Second) == 0 {
		select {
		case c.armed <- d:
		default: // never block the agent; a test that misses one fails on its wait
		}
	}
	return t
}

func newDeviceEnv(t *testing.T, answers ...string) (*env, *fakeDevices, *pollClock) {
	t.Helper()
	var pc *pollClock
	e := newEnv(t, func(o *Options) {
		pc = &pollClock{Fake: o.Clock.(*clock.Fake), armed: make(chan time.Duration, 64)}
		o.Clock = pc
	})
	f := &fakeDevices{e: e.edge, clk: e.clk, answers: answers}
	f.install(e.edge.mux)
	e.waitState(ipcproto.StateUnregistered)
	return e, f, pc
}

// nextArm waits for the poller to arm its timer and returns its length.
func nextArm(t *testing.T, pc *pollClock) time.Duration {
	t.Helper()
	select {
	case d := <-pc.armed:
		return d
	case <-time.After(30 * time.Second):
		t.Fatal("agentd's poller did not wait on the clock again")
		return 0
	}
}

// The device flow in agentd: the registration answers with the user code
// and the verification URL; agentd polls every interval, 5 seconds more
// after slow_down, and registers with the code the edge then hands out;
// status says it enrolled with a device code.
func TestDeviceCodeRegistration(t *testing.T) {
	e, f, pc := newDeviceEnv(t, control.CodeAuthorizationPending, control.CodeSlowDown, control.CodeAuthorizationPending, "ok")
	au, err := e.a.Register(t.Context(), ipc.Caller{UID: 1000}, ipcproto.RegisterRequest{DeviceCode: true})
	if err != nil {
		t.Fatal(err)
	}
	if au.UserCode != "BCDF-GHJK" || au.VerificationURI != e.edge.srv.URL+"/cdn-cgi/access/device" || au.AuthURL != au.VerificationURI+"?user_code=BCDF-GHJK" {
		t.Fatalf("register answer: %+v", au)
	}
	var intervals []time.Duration
	for range 4 {
		d := nextArm(t, pc)
		intervals = append(intervals, d)
		e.advance(d)
	}
	st := e.waitState(ipcproto.StateConnected)
	if st.Registration == nil || st.Registration.EnrolledVia != "device_code" {
		t.Fatalf("registration after the device flow: %+v", st.Registration)
	}
	want := []time.Duration{5 * time.Second, 5 * time.Second, 10 * time.Second, 10 * time.Second}
	for i := range want {
		if intervals[i] != want[i] {
			t.Fatalf("poll intervals %v, want %v (5 s more after slow_down)", intervals, want)
		}
	}
	if n := len(f.pollTimes()); n != 4 {
		t.Fatalf("%d polls, want 4", n)
	}
}

// A code nobody completes ends with expired_token: agentd says so and is
// unregistered again, and polls no more.
func TestDeviceCodeExpires(t *testing.T) {
	e, f, pc := newDeviceEnv(t, control.CodeAuthorizationPending, control.CodeExpiredToken)
	events := e.subscribeAs(1000)
	if _, err := e.a.Register(t.Context(), ipc.Caller{UID: 1000}, ipcproto.RegisterRequest{DeviceCode: true}); err != nil {
		t.Fatal(err)
	}
	e.advance(nextArm(t, pc))
	e.advance(nextArm(t, pc))
	for ev := range events {
		if ev.Type != ipcproto.EventError {
			continue
		}
		var ee ipcproto.ErrorEvent
		_ = json.Unmarshal(ev.Data, &ee)
		if ee.Code != "enrollment_expired" {
			t.Fatalf("error event %+v, want enrollment_expired", ee)
		}
		break
	}
	if st := e.a.Status(t.Context()); st.State != ipcproto.StateUnregistered || len(f.pollTimes()) != 2 {
		t.Fatalf("after the expiry: %s with %d polls, want unregistered after 2", st.State, len(f.pollTimes()))
	}
	select {
	case d := <-pc.armed:
		t.Fatalf("the poller armed a %v timer after expired_token", d)
	default:
	}
}

// agentctl reauth --device-code: agentd asks the edge for a code pair for
// its own device (with its device token), answers with the code and the
// URL, and polls; when the person signed in, the edge's session_refreshed
// restores the session. A refusal ends the wait with an error event that
// names the device's user.
func TestDeviceCodeReauth(t *testing.T) {
	e, f, pc := newDeviceEnv(t)
	e.enroll(1000)
	f.mu.Lock()
	f.answers = []string{control.CodeAuthorizationPending, "reauthenticated"}
	f.mu.Unlock()
	au, err := e.a.Reauth(t.Context(), ipcproto.ReauthRequest{DeviceCode: true})
	if err != nil {
		t.Fatal(err)
	}
	if au.UserCode != "MNPQ-RSTV" || au.VerificationURI != e.edge.srv.URL+"/cdn-cgi/access/device" || f.reauthFor != e.edge.deviceID {
		t.Fatalf("reauth answer: %+v (code pair for %q)", au, f.reauthFor)
	}
	for range 2 {
		e.advance(nextArm(t, pc))
	}
	deadline := time.After(30 * time.Second)
	for len(f.pollTimes()) < 2 {
		select {
		case <-e.events:
		case <-time.After(20 * time.Millisecond):
		case <-deadline:
			t.Fatalf("%d polls, want 2", len(f.pollTimes()))
		}
	}

	f.mu.Lock()
	f.answers = []string{control.CodeAccessDenied}
	f.mu.Unlock()
	if _, err := e.a.Reauth(t.Context(), ipcproto.ReauthRequest{DeviceCode: true}); err != nil {
		t.Fatal(err)
	}
	e.advance(nextArm(t, pc))
	ev := e.waitEvent(ipcproto.EventError)
	var ee ipcproto.ErrorEvent
	if err := json.Unmarshal(ev.Data, &ee); err != nil || ee.Code != "reauth_failed" || !strings.Contains(ee.Message, "someone other than alice@example.com") {
		t.Fatalf("error event: %+v, %v", ee, err)
	}
}

package control_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ztagent/ztagent/internal/clock"
	"github.com/ztagent/ztagent/internal/secret"
	"github.com/ztagent/ztagent/internal/testenv/fakecontrol"
	"github.com/ztagent/ztagent/pkg/apierror"
	"github.com/ztagent/ztagent/pkg/control"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// followRun runs Follow in the background and records what it reports.
type followRun struct {
	events chan control.Event
	states chan control.FollowState
	done   chan error
	last   int64
	cancel context.CancelFunc
}

func startFollow(t *testing.T, opts control.FollowOptions) *followRun {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	fr := &followRun{events: make(chan control.Event, 100), states: make(chan control.FollowState, 100), done: make(chan error, 1), cancel: cancel}
	onEvent := opts.OnEvent
	opts.OnEvent = func(ev control.Event) error {
		if onEvent != nil {
			if err := onEvent(ev); err != nil {
				return err
			}
		}
		fr.events <- ev
		return nil
	}
	opts.OnState = func(st control.FollowState) { fr.states <- st }
	go func() {
		last, err := control.Follow(ctx, opts)
		fr.last = last
		fr.done <- err
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-fr.done:
		case <-time.After(10 * time.Second):
			t.Error("Follow did not return after its context ended")
		}
	})
	return fr
}

func (fr *followRun) nextEvent(t *testing.T) control.Event {
	t.Helper()
	select {
	case ev := <-fr.events:
		return ev
	case <-time.After(20 * time.Second):
		t.Fatal("no event within 20s")
		return control.Event{}
	}
}

func (fr *followRun) nextState(t *testing.T) control.FollowState {
	t.Helper()
	select {
	case st := <-fr.states:
		return st
	case <-time.After(20 * time.Second):
		t.Fatal("no connection state within 20s")
		return control.FollowState{}
	}
}

func (fr *followRun) noEvent(t *testing.T) {
	t.Helper()
	select {
	case ev := <-fr.events:
		t.Fatalf("unexpected event %+v", ev)
	default:
	}
}

// startServer serves h until the test ends; its cleanup runs after
// those registered later (the followers), so no stream holds it open.
func startServer(t *testing.T, h http.Handler) *httptest.Server {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func fakeClient(srv *httptest.Server) *control.Client {
	return &control.Client{BaseURL: srv.URL, Token: secret.Wrap("test-token-not-secret")}
}

// The backoff doubles from MinBackoff per failed attempt, never exceeds the
// 30 s cap whatever the jitter, keeps at least half of each step, and
// starts again from the bottom after a successful connection.
func TestFollowBackoffCapsAndResets(t *testing.T) {
	fs := fakecontrol.NewEvents()
	fs.Fail(http.StatusServiceUnavailable, "registry_closed")
	srv := startServer(t, fs)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	var jitter struct {
		sync.Mutex
		v float64
	}
	jitter.v = 0.999
	fr := startFollow(t, control.FollowOptions{
		Client: fakeClient(srv), DeviceID: "dev-1", Clock: clk,
		Jitter: func() float64 { jitter.Lock(); defer jitter.Unlock(); return jitter.v },
	})
	var delays []time.Duration
	for range 10 {
		st := fr.nextState(t)
		if st.Connected || st.Err == nil {
			t.Fatalf("state %+v while the edge answers 503", st)
		}
		delays = append(delays, st.Retry)
		if err := clk.WaitForTimers(t.Context(), 1); err != nil {
			t.Fatal(err)
		}
		clk.Advance(st.Retry)
	}
	step := control.DefaultFollowMinBackoff
	for i, d := range delays {
		if d > control.DefaultFollowMaxBackoff {
			t.Fatalf("delay %d is %v, over the 30s cap", i, d)
		}
		if d < step/2 || d > step {
			t.Fatalf("delay %d is %v, want within [%v, %v]; all: %v", i, d, step/2, step, delays)
		}
		step = min(step*2, control.DefaultFollowMaxBackoff)
	}
	if last := delays[len(delays)-1]; last < 29*time.Second {
		t.Fatalf("after 10 failures the delay is %v, want close to the 30s cap", last)
	}

	// A successful connection resets the backoff.
	fs.Fail(0, "")
	if st := fr.nextState(t); !st.Connected {
		t.Fatalf("state %+v, want connected", st)
	}
	fs.Cut()
	st := fr.nextState(t)
	if st.Connected || st.Retry > control.DefaultFollowMinBackoff {
		t.Fatalf("after a drop: %+v, want a retry within %v", st, control.DefaultFollowMinBackoff)
	}
}

// Resuming: after a cut, Follow asks for the events after the last one it
// handled, and an event the handler failed on is delivered again (and
// only then counted), so nothing is lost or repeated.
func TestFollowResumesAfterLastHandled(t *testing.T) {
	fs := fakecontrol.NewEvents()
	srv := startServer(t, fs)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	var failOnce sync.Once
	fr := startFollow(t, control.FollowOptions{
		Client: fakeClient(srv), DeviceID: "dev-1", Clock: clk, After: 1,
		OnEvent: func(ev control.Event) error {
			var err error
			if ev.Seq == 3 {
				failOnce.Do(func() { err = errors.New("keyring busy") })
			}
			return err
		},
	})
	fs.Append("policy_changed", time.Unix(0, 0).UTC(), nil) // 1: already handled before Follow started
	fs.Append("policy_changed", time.Unix(0, 0).UTC(), nil) // 2
	if st := fr.nextState(t); !st.Connected {
		t.Fatalf("state %+v", st)
	}
	if ev := fr.nextEvent(t); ev.Seq != 2 {
		t.Fatalf("first event delivered: %d, want 2 (After was 1)", ev.Seq)
	}
	fs.Append("session_expired", time.Unix(0, 0).UTC(), nil)   // 3: the handler fails once
	fs.Append("session_refreshed", time.Unix(0, 0).UTC(), nil) // 4
	st := fr.nextState(t)
	if st.Connected || st.Err == nil {
		t.Fatalf("after a handler error: %+v", st)
	}
	if err := clk.WaitForTimers(t.Context(), 1); err != nil {
		t.Fatal(err)
	}
	clk.Advance(st.Retry)
	if st := fr.nextState(t); !st.Connected {
		t.Fatalf("state %+v", st)
	}
	for _, want := range []int64{3, 4} {
		if ev := fr.nextEvent(t); ev.Seq != want {
			t.Fatalf("got event %d, want %d", ev.Seq, want)
		}
	}
	fs.Cut()
	st = fr.nextState(t)
	if err := clk.WaitForTimers(t.Context(), 1); err != nil {
		t.Fatal(err)
	}
	fs.Append("policy_changed", time.Unix(0, 0).UTC(), nil) // 5, while disconnected
	clk.Advance(st.Retry)
	if ev := fr.nextEvent(t); ev.Seq != 5 {
		t.Fatalf("after reconnecting: event %d, want 5", ev.Seq)
	}
	fr.noEvent(t)
	got := fs.Afters()
	want := []int64{1, 2, 4}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("requests asked for after=%v, want %v", got, want)
	}
}

// A stream on which nothing arrives (not even the edge's heartbeat) for
// IdleTimeout is dropped and reopened: a half-open connection must not
// hold the agent forever.
func TestFollowIdleTimeoutReconnects(t *testing.T) {
	fs := fakecontrol.NewEvents()
	srv := startServer(t, fs)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	fr := startFollow(t, control.FollowOptions{Client: fakeClient(srv), DeviceID: "dev-1", Clock: clk, IdleTimeout: time.Minute})
	if st := fr.nextState(t); !st.Connected {
		t.Fatalf("state %+v", st)
	}
	if err := clk.WaitForTimers(t.Context(), 1); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Minute)
	if st := fr.nextState(t); st.Connected || st.Err == nil {
		t.Fatalf("after a silent minute: %+v, want disconnected", st)
	}
}

// A 401 that says the registration ended stops Follow at once, with an
// error IsRevocation recognises; other refusals are retried.
func TestFollowStopsOnRevocationCodes(t *testing.T) {
	for _, code := range []string{control.CodeDeviceRevoked, control.CodeDeviceLeft, control.CodeInvalidToken} {
		t.Run(code, func(t *testing.T) {
			fs := fakecontrol.NewEvents()
			fs.Fail(http.StatusUnauthorized, code)
			srv := startServer(t, fs)
			fr := startFollow(t, control.FollowOptions{Client: fakeClient(srv), DeviceID: "dev-1", Clock: clock.NewFake(time.Unix(0, 0))})
			select {
			case err := <-fr.done:
				if !control.IsRevocation(err) || !apierror.HasCode(err, code) {
					t.Fatalf("Follow returned %v, want a revocation with code %s", err, code)
				}
				fr.done <- err // for the cleanup
			case <-time.After(10 * time.Second):
				t.Fatal("Follow did not stop on a revocation")
			}
		})
	}
	if control.IsRevocation(apierror.WithStatus(http.StatusForbidden, control.CodeDeviceRevoked, "revoked", "")) {
		t.Fatal("a 403 counted as a revocation")
	}
	if control.IsRevocation(errors.New("device_revoked")) {
		t.Fatal("a plain error counted as a revocation")
	}
}

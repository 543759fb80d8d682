package control_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ztagent/ztagent/internal/clock"
	"github.com/ztagent/ztagent/internal/secret"
	"github.com/ztagent/ztagent/pkg/apierror"
	"github.com/ztagent/ztagent/pkg/control"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// fakeStream is an edge that serves one device's events by sequence
// number, then holds the stream open (silent) until cut or the client
// leaves. fail makes every request answer with that status and code.
type fakeStream struct {
	mu       sync.Mutex
	events   []control.Event
	failCode string
	failWith int
	requests []int64 // the after= of each request
	wake     chan struct{}
	cut      chan struct{}
}

func newFakeStream() *fakeStream {
	return &fakeStream{wake: make(chan struct{}), cut: make(chan struct{})}
}

func (f *fakeStream) append(typ string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.events = append(f.events, control.Event{Seq: int64(len(f.events) + 1), Type: typ, Time: time.Unix(0, 0).UTC()})
	close(f.wake)
	f.wake = make(chan struct{})
}

// cutStreams ends every open stream, as an edge restart does.
func (f *fakeStream) cutStreams() {
	f.mu.Lock()
	defer f.mu.Unlock()
	close(f.cut)
	f.cut = make(chan struct{})
}

func (f *fakeStream) fail(status int, code string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failWith, f.failCode = status, code
}

func (f *fakeStream) afters() []int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]int64(nil), f.requests...)
}

func (f *fakeStream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	after, _ := strconv.ParseInt(r.URL.Query().Get("after"), 10, 64)
	f.mu.Lock()
	f.requests = append(f.requests, after)
	status, code, cut := f.failWith, f.failCode, f.cut
	f.mu.Unlock()
	if status != 0 {
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(apierror.Body{Error: apierror.Error{Code: code, Message: "refused"}})
		return
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	w.(http.Flusher).Flush()
	enc := json.NewEncoder(w)
	for {
		f.mu.Lock()
		evs, wake := append([]control.Event(nil), f.events...), f.wake
		f.mu.Unlock()
		for _, ev := range evs {
			if ev.Seq > after {
				_ = enc.Encode(ev)
				after = ev.Seq
			}
		}
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
			return
		case <-cut:
			return
		case <-wake:
		}
	}
}

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
	ctx, cancel := context.WithCancel(ctxT(t))
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
	fs := newFakeStream()
	fs.fail(http.StatusServiceUnavailable, "registry_closed")
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
		if err := clk.WaitForTimers(ctxT(t), 1); err != nil {
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
	fs.fail(0, "")
	if st := fr.nextState(t); !st.Connected {
		t.Fatalf("state %+v, want connected", st)
	}
	fs.cutStreams()
	st := fr.nextState(t)
	if st.Connected || st.Retry > control.DefaultFollowMinBackoff {
		t.Fatalf("after a drop: %+v, want a retry within %v", st, control.DefaultFollowMinBackoff)
	}
}

// Resuming: after a cut, Follow asks for the events after the last one it
// handled, and an event the handler failed on is delivered again (and
// only then counted), so nothing is lost or repeated.
func TestFollowResumesAfterLastHandled(t *testing.T) {
	fs := newFakeStream()
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
	fs.append("policy_changed") // 1: already handled before Follow started
	fs.append("policy_changed") // 2
	if st := fr.nextState(t); !st.Connected {
		t.Fatalf("state %+v", st)
	}
	if ev := fr.nextEvent(t); ev.Seq != 2 {
		t.Fatalf("first event delivered: %d, want 2 (After was 1)", ev.Seq)
	}
	fs.append("session_expired")   // 3: the handler fails once
	fs.append("session_refreshed") // 4
	st := fr.nextState(t)
	if st.Connected || st.Err == nil {
		t.Fatalf("after a handler error: %+v", st)
	}
	if err := clk.WaitForTimers(ctxT(t), 1); err != nil {
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
	fs.cutStreams()
	st = fr.nextState(t)
	if err := clk.WaitForTimers(ctxT(t), 1); err != nil {
		t.Fatal(err)
	}
	fs.append("policy_changed") // 5, while disconnected
	clk.Advance(st.Retry)
	if ev := fr.nextEvent(t); ev.Seq != 5 {
		t.Fatalf("after reconnecting: event %d, want 5", ev.Seq)
	}
	fr.noEvent(t)
	got := fs.afters()
	want := []int64{1, 2, 4}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("requests asked for after=%v, want %v", got, want)
	}
}

// A stream on which nothing arrives (not even the edge's heartbeat) for
// IdleTimeout is dropped and reopened: a half-open connection must not
// hold the agent forever.
func TestFollowIdleTimeoutReconnects(t *testing.T) {
	fs := newFakeStream()
	srv := startServer(t, fs)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	fr := startFollow(t, control.FollowOptions{Client: fakeClient(srv), DeviceID: "dev-1", Clock: clk, IdleTimeout: time.Minute})
	if st := fr.nextState(t); !st.Connected {
		t.Fatalf("state %+v", st)
	}
	if err := clk.WaitForTimers(ctxT(t), 1); err != nil {
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
			fs := newFakeStream()
			fs.fail(http.StatusUnauthorized, code)
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

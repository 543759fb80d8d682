package ipc

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ztagent/ztagent/pkg/apierror"
	"github.com/ztagent/ztagent/pkg/ipc/ipcproto"
)

func event(typ string, data any) ipcproto.Event {
	b, _ := json.Marshal(data)
	return ipcproto.Event{Type: typ, Time: fakeTime, Data: b}
}

// nextWithin returns the stream's next event, failing the test if none
// arrives in time: a blocked subscriber must show as a failure, not a hang.
func nextWithin(t *testing.T, s *EventStream) (ipcproto.Event, error) {
	t.Helper()
	type result struct {
		ev  ipcproto.Event
		err error
	}
	ch := make(chan result, 1)
	go func() {
		ev, err := s.Next()
		ch <- result{ev, err}
	}()
	select {
	case r := <-ch:
		return r.ev, r.err
	case <-time.After(waitTimeout):
		s.Close()
		<-ch
		t.Fatal("no event within the deadline")
		return ipcproto.Event{}, nil
	}
}

func TestEventsStartWithSnapshotThenFollowTheBackend(t *testing.T) {
	ts := startServer(t, nil, nil)
	s, err := ts.client.Events(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	first, err := nextWithin(t, s)
	if err != nil || first.Type != ipcproto.EventSnapshot || first.Time.IsZero() {
		t.Fatalf("first line = %+v, %v; want a snapshot", first, err)
	}
	var st ipcproto.Status
	if err := json.Unmarshal(first.Data, &st); err != nil || st.State != ipcproto.StateConnected || st.Registration.DeviceID != "dev-1" {
		t.Fatalf("snapshot data = %s, %v", first.Data, err)
	}

	sent := []ipcproto.Event{
		event(ipcproto.EventStateChanged, ipcproto.StateChanged{From: ipcproto.StateConnected, To: ipcproto.StateReauthRequired}),
		event(ipcproto.EventBrowseToURL, ipcproto.BrowseToURL{URL: "http://acme.localhost:8781/cdn-cgi/access/refresh-identity", Reason: "reauth"}),
		event(ipcproto.EventTunnelDown, nil),
	}
	for _, ev := range sent {
		ts.fake.Publish(ev)
		got, err := nextWithin(t, s)
		if err != nil || got.Type != ev.Type || string(got.Data) != string(ev.Data) || !got.Time.Equal(ev.Time) {
			t.Fatalf("event = %+v, %v; want %+v", got, err, ev)
		}
	}

	// The backend dropping the subscription ends the stream.
	ts.fake.mu.Lock()
	for sub := range ts.fake.subs {
		delete(ts.fake.subs, sub)
		sub.close()
	}
	ts.fake.mu.Unlock()
	if _, err := nextWithin(t, s); !errors.Is(err, io.EOF) {
		t.Fatalf("after the backend dropped the stream: %v, want io.EOF", err)
	}
}

func TestEventsEndWhenTheServerCloses(t *testing.T) {
	ts := startServer(t, nil, nil)
	s, err := ts.client.Events(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := nextWithin(t, s); err != nil {
		t.Fatal(err)
	}
	if err := ts.srv.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := nextWithin(t, s); err == nil {
		t.Fatal("stream still open after Close")
	}
	if n := ts.fake.Subscribers(); n != 0 {
		t.Fatalf("%d subscriptions left after Close", n)
	}
}

func TestEventsEndWhenTheClientLeaves(t *testing.T) {
	done := make(chan struct{}, 1)
	ts := startServer(t, nil, func(s *Server) { s.testHookStreamDone = signal(done) })
	s, err := ts.client.Events(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := nextWithin(t, s); err != nil {
		t.Fatal(err)
	}
	s.Close()
	waitUntil(t, done, "the stream to end", func() bool { return ts.fake.Subscribers() == 0 })
}

// slowSubscriber opens an event stream on a raw connection and never reads
// from it.
func slowSubscriber(t *testing.T, sock string) net.Conn {
	t.Helper()
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := io.WriteString(c, "GET /v1/events HTTP/1.1\r\nHost: agentd\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	return c
}

// bigEvent is large enough that a few fill a socket buffer.
func bigEvent(i int) ipcproto.Event {
	return event(ipcproto.EventError, ipcproto.ErrorEvent{Code: fmt.Sprint(i), Message: strings.Repeat("x", 32<<10)})
}

// bigEventRoundTrip is the longest a big event took from Publish to a
// reading subscriber, over a few, on this machine as it is now.
func bigEventRoundTrip(t *testing.T) time.Duration {
	t.Helper()
	ts := startServer(t, nil, nil)
	s, err := ts.client.Events(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := nextWithin(t, s); err != nil {
		t.Fatal(err)
	}
	var longest time.Duration
	for i := range 20 {
		began := time.Now()
		ts.fake.Publish(bigEvent(i))
		if _, err := nextWithin(t, s); err != nil {
			t.Fatal(err)
		}
		longest = max(longest, time.Since(began))
	}
	return longest
}

func TestSlowSubscriberIsDroppedWithoutBlockingAnother(t *testing.T) {
	for _, tc := range []struct {
		name string
		// backendDrops: the backend's buffer is small and it drops the
		// subscriber; otherwise only the server's write deadline can.
		backendDrops bool
	}{{"backend drops", true}, {"write deadline drops", false}} {
		t.Run(tc.name, func(t *testing.T) {
			// The write deadline ends the slow stream's blocked write; it
			// must never drop the fast subscriber, which reads each event
			// before the next, so it is well above the round trips
			// measured here rather than a guess a stalled writer or reader
			// on a busy machine could exceed.
			rtt := bigEventRoundTrip(t)
			writeTimeout := max(200*time.Millisecond, 20*rtt)
			t.Logf("a big event's round trip took up to %v; the write deadline is %v", rtt, writeTimeout)
			done := make(chan struct{}, 1)
			ts := startServer(t, func(o *ServerOptions, f *fakeBackend) {
				o.EventWriteTimeout = writeTimeout
				if tc.backendDrops {
					f.subBuf = 4
				} else {
					f.subBuf = 10000
				}
			}, func(s *Server) { s.testHookStreamDone = signal(done) })

			slowSubscriber(t, ts.sock)
			waitUntil(t, ts.fake.subscribed, "the slow subscriber", func() bool { return ts.fake.Subscribers() == 1 })
			fast, err := ts.client.Events(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			defer fast.Close()
			if ev, err := nextWithin(t, fast); err != nil || ev.Type != ipcproto.EventSnapshot {
				t.Fatalf("fast snapshot: %+v, %v", ev, err)
			}
			// 100 events of 32 KiB: far more than a unix socket buffers, so
			// the slow stream's writes block while the fast one reads each.
			for i := 0; i < 100; i++ {
				ts.fake.Publish(bigEvent(i))
				ev, err := nextWithin(t, fast)
				if err != nil {
					t.Fatalf("fast subscriber, event %d: %v", i, err)
				}
				var e ipcproto.ErrorEvent
				if json.Unmarshal(ev.Data, &e) != nil || e.Code != fmt.Sprint(i) {
					t.Fatalf("fast subscriber got event %q, want %d", e.Code, i)
				}
			}
			waitUntil(t, done, "the slow stream to be dropped", func() bool { return ts.fake.Subscribers() == 1 && ts.srv.subSlots.total() == 1 })
			if tc.backendDrops && len(ts.fake.dropped) == 0 {
				t.Fatal("the backend never dropped the slow subscriber")
			}
			// The fast one still follows.
			ts.fake.Publish(event(ipcproto.EventTunnelUp, nil))
			if ev, err := nextWithin(t, fast); err != nil || ev.Type != ipcproto.EventTunnelUp {
				t.Fatalf("fast after the drop: %+v, %v", ev, err)
			}
		})
	}
}

func TestTooManySubscribers(t *testing.T) {
	done := make(chan struct{}, 1)
	ts := startServer(t, func(o *ServerOptions, _ *fakeBackend) { o.MaxSubscribersPerUser = 1 },
		func(s *Server) { s.testHookStreamDone = signal(done) })
	ctx := t.Context()
	first, err := ts.client.Events(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := nextWithin(t, first); err != nil {
		t.Fatal(err)
	}
	_, err = ts.client.Events(ctx)
	var apiErr *apierror.Error
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusServiceUnavailable || apiErr.Code != ipcproto.CodeTooManyClients {
		t.Fatalf("second subscriber: %v, want 503 too_many_clients", err)
	}
	// Other routes still answer.
	if _, err := ts.client.Status(ctx); err != nil {
		t.Fatal(err)
	}
	first.Close()
	waitUntil(t, done, "the first stream to end", func() bool { return ts.srv.subSlots.total() == 0 })
	again, err := ts.client.Events(ctx)
	if err != nil {
		t.Fatalf("subscriber after one left: %v", err)
	}
	again.Close()
}

func TestTooManyConnections(t *testing.T) {
	closed := make(chan struct{}, 1)
	ts := startServer(t, func(o *ServerOptions, _ *fakeBackend) { o.MaxConnsPerUser = 2 },
		func(s *Server) { s.testHookConnClosed = signal(closed) })
	var held []net.Conn
	for i := 0; i < 2; i++ {
		c, err := net.Dial("unix", ts.sock)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		// A full round trip proves the server accepted it; keep-alive then
		// keeps it open and counted.
		if _, err := io.WriteString(c, "GET /v1/status HTTP/1.1\r\nHost: agentd\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("held connection %d: %d", i, resp.StatusCode)
		}
		held = append(held, c)
	}
	_, err := ts.client.Status(t.Context())
	var apiErr *apierror.Error
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusServiceUnavailable || apiErr.Code != ipcproto.CodeTooManyClients {
		t.Fatalf("third connection: %v, want 503 too_many_clients", err)
	}
	held[0].Close()
	waitUntil(t, closed, "a connection to close", func() bool { return ts.srv.connSlots.total() <= 1 })
	if _, err := ts.client.Status(t.Context()); err != nil {
		t.Fatalf("after a connection left: %v", err)
	}
}

// The request deadlines bound ordinary requests, not the stream: a stream
// outlives ReadHeaderTimeout, ReadTimeout, WriteTimeout and IdleTimeout and
// still delivers.
func TestEventStreamOutlivesRequestDeadlines(t *testing.T) {
	const deadline = 50 * time.Millisecond
	ts := startServer(t, func(o *ServerOptions, _ *fakeBackend) {
		o.ReadHeaderTimeout, o.ReadTimeout, o.WriteTimeout, o.IdleTimeout = deadline, deadline, deadline, deadline
	}, nil)
	s, err := ts.client.Events(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := nextWithin(t, s); err != nil {
		t.Fatal(err)
	}
	// The deadlines have passed once the server has closed a connection
	// that was opened after the stream and sent nothing: its own
	// ReadHeaderTimeout started later than any of the stream's.
	probe, err := net.Dial("unix", ts.sock)
	if err != nil {
		t.Fatal(err)
	}
	defer probe.Close()
	_ = probe.SetReadDeadline(time.Now().Add(waitTimeout))
	if _, err := io.Copy(io.Discard, probe); err != nil {
		t.Fatalf("waiting for the server to close a silent connection after its %v ReadHeaderTimeout: %v", deadline, err)
	}
	ts.fake.Publish(event(ipcproto.EventTunnelUp, nil))
	if ev, err := nextWithin(t, s); err != nil || ev.Type != ipcproto.EventTunnelUp {
		t.Fatalf("after the request deadlines: %+v, %v", ev, err)
	}
}

package ipc

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ztagent/ztagent/pkg/apierror"
	"github.com/ztagent/ztagent/pkg/ipc/ipcproto"
)

const (
	holdChildEnv = "ZTAGENT_IPC_HOLD_CHILD_SOCKET"
	holdNEnv     = "ZTAGENT_IPC_HOLD_N"
	holdPathEnv  = "ZTAGENT_IPC_HOLD_PATH"
	holdPrefix   = "HOLD "
	holdReady    = "HELD"
)

// holdResult is what a holding child reports for one connection.
type holdResult struct {
	UID     int
	Status  int
	Code    string
	Message string
	Hint    string
}

// holdChild runs in a child process with another uid: it opens N
// connections, makes one request on each (GET of the path), keeps every
// connection the server kept open without reading any further, reports,
// and holds them until its stdin closes. This is the attacker of items 5
// and 6 of issue 12: idle keep-alive connections, and event streams that
// are never read.
func holdChild(sock string) int {
	n, _ := strconv.Atoi(os.Getenv(holdNEnv))
	path := os.Getenv(holdPathEnv)
	var held []net.Conn
	for i := 0; i < n; i++ {
		c, err := net.Dial("unix", sock)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		held = append(held, c)
		_ = c.SetDeadline(time.Now().Add(30 * time.Second))
		if _, err := io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: agentd\r\n\r\n"); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		res := holdResult{UID: os.Getuid(), Status: resp.StatusCode}
		if resp.StatusCode != http.StatusOK || path != "/v1/events" {
			var eb apierror.Body
			b, _ := io.ReadAll(resp.Body)
			if json.Unmarshal(b, &eb) == nil {
				res.Code, res.Message, res.Hint = eb.Error.Code, eb.Error.Message, eb.Error.Hint
			}
		}
		_ = c.SetDeadline(time.Time{})
		b, _ := json.Marshal(res)
		fmt.Printf("%s%s\n", holdPrefix, b)
	}
	fmt.Println(holdReady)
	_, _ = io.Copy(io.Discard, os.Stdin)
	for _, c := range held {
		_ = c.Close()
	}
	return 0
}

func TestSlotTableKeepsRoomForThePrivileged(t *testing.T) {
	st := newSlotTable(2, 3)
	var got []refusal
	for _, uid := range []int{1001, 1001, 1001, 1002, 1002, 1003} {
		_, r := st.acquire(uid, false)
		got = append(got, r)
	}
	want := []refusal{granted, granted, ownLimit, granted, poolFull, poolFull}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("ordinary users got %v, want %v", got, want)
	}
	// The pool is full, yet root and the operator each have their own.
	for _, uid := range []int{0, 0, 1000, 1000} {
		if _, r := st.acquire(uid, true); r != granted {
			t.Fatalf("privileged uid %d refused (%v) while ordinary users fill the pool", uid, r)
		}
	}
	if _, r := st.acquire(0, true); r != ownLimit {
		t.Fatalf("root beyond its own limit: %v, want ownLimit", r)
	}
	if st.total() != 7 || st.held(1001) != 2 {
		t.Fatalf("total %d, uid 1001 holds %d", st.total(), st.held(1001))
	}
}

// Item 5 of issue 12, the part that needs no other uid: a connection that
// sends nothing, or its header slowly, loses its slot after
// ReadHeaderTimeout rather than holding it for a minute.
func TestSilentConnectionLosesItsSlot(t *testing.T) {
	closed := make(chan struct{}, 1)
	ts := startServer(t, func(o *ServerOptions, _ *fakeBackend) {
		o.ReadHeaderTimeout = 100 * time.Millisecond
		o.IdleTimeout = time.Minute
		o.MaxConnsPerUser = 2
	}, func(s *Server) { s.testHookConnClosed = signal(closed) })
	silent, err := net.Dial("unix", ts.sock)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	slow, err := net.Dial("unix", ts.sock)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	if _, err := io.WriteString(slow, "GET /v1/status HTTP/1.1\r\nHost: a"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, closed, "the server to close both connections", func() bool { return ts.srv.connSlots.total() == 0 })
	for _, c := range []net.Conn{silent, slow} {
		_ = c.SetReadDeadline(time.Now().Add(waitTimeout))
		if _, err := io.Copy(io.Discard, c); err != nil {
			t.Fatalf("reading a connection the server closed: %v", err)
		}
	}
	if _, err := ts.client.Status(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// A uid over its own limit is told that the connections are its own.
func TestConnectionsOverTheirOwnLimitAreNamedAsTheirs(t *testing.T) {
	ts := startServer(t, func(o *ServerOptions, _ *fakeBackend) { o.MaxConnsPerUser = 1; o.IdleTimeout = time.Minute }, nil)
	c, err := net.Dial("unix", ts.sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "GET /v1/status HTTP/1.1\r\nHost: agentd\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	got := raw(t, ts.sock, http.MethodGet, "/v1/status", nil, "")
	e := errorBody(t, got.Body)
	if got.Status != http.StatusServiceUnavailable || e.Code != ipcproto.CodeTooManyClients ||
		!strings.Contains(e.Message, fmt.Sprintf("you (uid %d) already have 1", os.Getuid())) || !strings.Contains(e.Hint, "your own") {
		t.Fatalf("over its own limit: %d %+v", got.Status, e)
	}
}

// Item 6 of issue 12: a subscriber that never reads is dropped even when
// nothing happens, by heartbeats that fill its socket; one that reads
// stays, and never sees a heartbeat.
func TestSubscriberThatNeverReadsIsDroppedOnAQuietDaemon(t *testing.T) {
	done := make(chan struct{}, 1)
	ts := startServer(t, func(o *ServerOptions, _ *fakeBackend) {
		o.HeartbeatInterval = 5 * time.Millisecond
		// Long enough that the reader below is never dropped on a busy
		// machine, short enough to keep the test quick.
		o.EventWriteTimeout = time.Second
	}, func(s *Server) { s.testHookStreamDone = signal(done) })

	reader, err := ts.client.Events(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	if ev, err := nextWithin(t, reader); err != nil || ev.Type != ipcproto.EventSnapshot {
		t.Fatalf("reader's snapshot: %+v, %v", ev, err)
	}
	type result struct {
		ev  ipcproto.Event
		err error
	}
	next := make(chan result, 1)
	go func() {
		ev, err := reader.Next()
		next <- result{ev, err}
	}()

	slowSubscriber(t, ts.sock)
	waitUntil(t, ts.fake.subscribed, "the silent subscriber", func() bool { return ts.fake.Subscribers() == 2 })
	waitUntil(t, done, "the silent subscriber to be dropped", func() bool {
		return ts.fake.Subscribers() == 1 && ts.srv.subSlots.total() == 1
	})

	ts.fake.Publish(event(ipcproto.EventTunnelUp, nil))
	select {
	case r := <-next:
		if r.err != nil || r.ev.Type != ipcproto.EventTunnelUp {
			t.Fatalf("the reader after many heartbeats: %+v, %v (heartbeats must be skipped)", r.ev, r.err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("the reader got nothing")
	}
}

// Heartbeats are on the wire, as the documented event type.
func TestHeartbeatsAreOnTheWire(t *testing.T) {
	ts := startServer(t, func(o *ServerOptions, _ *fakeBackend) { o.HeartbeatInterval = 5 * time.Millisecond }, nil)
	c := slowSubscriber(t, ts.sock)
	_ = c.SetReadDeadline(time.Now().Add(waitTimeout))
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		var ev ipcproto.Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("undecodable line %q: %v", sc.Bytes(), err)
		}
		if ev.Type == ipcproto.EventHeartbeat {
			return
		}
	}
	t.Fatalf("no heartbeat line: %v", sc.Err())
}

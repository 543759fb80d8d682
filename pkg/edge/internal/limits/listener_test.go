package limits

import (
	"errors"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// serve runs an HTTP server on a bounded loopback listener until the end
// of the test; its timeouts are an hour, so only the bound acts.
func serve(t *testing.T, max int, h http.Handler) *Listener {
	t.Helper()
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := NewListener(inner, max)
	srv := &http.Server{Handler: h, ConnState: l.ConnState, ReadHeaderTimeout: time.Hour, ReadTimeout: time.Hour}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close(); <-done })
	return l
}

func dial(t *testing.T, l *Listener, send string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if _, err := io.WriteString(c, send); err != nil {
		t.Fatal(err)
	}
	return c
}

func get(t *testing.T, l *Listener) {
	t.Helper()
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 30 * time.Second}).Get("http://" + l.Addr().String() + "/")
	if err != nil {
		t.Fatalf("fresh request: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("fresh request: %d", resp.StatusCode)
	}
}

// TestListenerClosesTheOldestWaitingForANewOne: at the bound, a new
// connection displaces the one that has waited longest without a request,
// never one whose handler runs.
func TestListenerClosesTheOldestWaitingForANewOne(t *testing.T) {
	busy := make(chan struct{})
	release := make(chan struct{})
	l := serve(t, 3, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/busy" {
			busy <- struct{}{}
			<-release
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer close(release)
	dial(t, l, "GET /busy HTTP/1.1\r\nHost: x\r\n\r\n")
	<-busy
	slow := make([]net.Conn, 0, 10)
	for range 10 {
		slow = append(slow, dial(t, l, "GET / HTTP/1.1\r\nHost: x\r\n"))
	}
	get(t, l)
	if n := l.Open(); n > 3 {
		t.Fatalf("%d connections open, over the bound of 3", n)
	}
	// The first slow one was closed by the listener; the busy handler
	// still runs (it would not return without release).
	_ = slow[0].SetReadDeadline(time.Now().Add(30 * time.Second))
	var ne net.Error
	if _, err := io.ReadAll(slow[0]); errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("the oldest waiting connection was not closed")
	}
}

// TestListenerCloseEndsAWaitingAccept: with every slot running a handler,
// Accept waits, and Close ends the wait.
func TestListenerCloseEndsAWaitingAccept(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := NewListener(inner, 1)
	waiting := make(chan struct{}, 1)
	l.testHookWaiting = func() { waiting <- struct{}{} }
	dial(t, l, "")
	c, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	l.ConnState(c, http.StateActive)
	dial(t, l, "")
	accepted := make(chan error, 1)
	go func() {
		_, err := l.Accept()
		accepted <- err
	}()
	// Close while Accept waits for room, not before it got there.
	select {
	case <-waiting:
	case err := <-accepted:
		t.Fatalf("Accept returned (%v) without waiting for room", err)
	}
	_ = l.Close()
	if err := <-accepted; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept after Close: %v", err)
	}
	_ = c.Close()
	_ = c.Close() // a second Close gives nothing back twice
	if n := l.Open(); n != 0 {
		t.Fatalf("%d open after Close", n)
	}
}

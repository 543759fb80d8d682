package ipc

import (
	"context"
	"errors"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ztagent/ztagent/pkg/apierror"
	"github.com/ztagent/ztagent/pkg/ipc/ipcproto"
)

func TestClientTellsAnUnreachableDaemon(t *testing.T) {
	dir := shortDir(t)
	stale := filepath.Join(dir, "stale.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: stale, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
	for _, sock := range []string{filepath.Join(dir, "missing.sock"), stale} {
		c := NewClient(sock)
		_, err := c.Status(t.Context())
		c.Close()
		var ue *UnreachableError
		if !errors.Is(err, ErrDaemonUnreachable) || !errors.As(err, &ue) || ue.Socket != sock {
			t.Errorf("%s: %v, want an UnreachableError", sock, err)
		}
		if errors.Is(err, ErrPermissionDenied) {
			t.Errorf("%s: unreachable matched ErrPermissionDenied", sock)
		}
		if err != nil && !strings.Contains(err.Error(), sock) {
			t.Errorf("message %q does not name the socket", err)
		}
	}
}

// otherDaemon serves h on a fresh socket, standing in for an agentd of
// another version.
func otherDaemon(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	sock := filepath.Join(shortDir(t), "other.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: h}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = hs.Serve(ln)
	}()
	t.Cleanup(func() {
		hs.Shutdown(context.Background())
		<-done
	})
	return sock
}

func TestClientWarnsOnceOnAnotherAPIVersion(t *testing.T) {
	sock := otherDaemon(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set(ipcproto.APIVersionHeader, "2")
		w.Header().Set(ipcproto.DaemonVersionHeader, "9.9.9")
		w.Write([]byte(`{"state":"connected"}`))
	})
	c := NewClient(sock)
	defer c.Close()
	var (
		mu    sync.Mutex
		warns []Versions
	)
	c.OnVersionMismatch(func(v Versions) {
		mu.Lock()
		defer mu.Unlock()
		warns = append(warns, v)
	})
	for i := 0; i < 3; i++ {
		if st, err := c.Status(t.Context()); err != nil || st.State != ipcproto.StateConnected {
			t.Fatalf("Status = %+v, %v", st, err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(warns) != 1 || warns[0] != (Versions{API: "2", Daemon: "9.9.9"}) {
		t.Fatalf("warnings = %+v, want one for API 2", warns)
	}
	if !c.Versions().Mismatch() {
		t.Fatal("Versions().Mismatch() = false")
	}
}

func TestClientErrors(t *testing.T) {
	sock := otherDaemon(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/connect":
			w.WriteHeader(http.StatusForbidden)
			w.Write([]byte(`{"error":{"code":"permission_denied","message":"only root or the operator","hint":"run ` + "`sudo agentctl connect`" + `"}}`))
		default:
			// Not an IPC error body: a proxy or a broken daemon.
			w.WriteHeader(http.StatusBadGateway)
			w.Write([]byte("<html>bad gateway</html>"))
		}
	})
	c := NewClient(sock)
	defer c.Close()

	_, err := c.Connect(t.Context())
	var apiErr *apierror.Error
	if !errors.Is(err, ErrPermissionDenied) || !errors.As(err, &apiErr) || apiErr.Status != 403 {
		t.Fatalf("Connect = %v, want a permission_denied refusal", err)
	}
	if !strings.Contains(err.Error(), "sudo agentctl connect") {
		t.Fatalf("error %q lost the hint", err)
	}
	if errors.Is(err, ErrDaemonUnreachable) {
		t.Fatal("a refusal matched ErrDaemonUnreachable")
	}

	_, err = c.Status(t.Context())
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusBadGateway || apiErr.Code != "http_502" {
		t.Fatalf("Status on a non-JSON error = %v", err)
	}
}

func TestAuthorizeHints(t *testing.T) {
	f := newFakeBackend()
	f.operator = 1000
	route := func(key string) *Route {
		for i := range routes {
			if routeKey(routes[i]) == key {
				return &routes[i]
			}
		}
		t.Fatalf("no route %s", key)
		return nil
	}
	ctx := context.Background()
	other := Caller{UID: uidOther}
	console := func(uid int) bool { return uid == uidConsole }

	e := authorize(ctx, f, console, route("POST /v1/disconnect"), other)
	if e == nil || StatusOf(e.Code) != 403 || e.Code != ipcproto.CodePermissionDenied {
		t.Fatalf("other user disconnecting: %+v", e)
	}
	for _, want := range []string{"run `sudo agentctl disconnect`, or run it as ", "(uid 1000), who registered this device"} {
		if !strings.Contains(e.Hint, want) {
			t.Errorf("hint %q does not say %q", e.Hint, want)
		}
	}

	e = authorize(ctx, f, console, route("POST /v1/registration"), other)
	if e == nil || !strings.Contains(e.Message, "alice@acme.test") || !strings.Contains(e.Hint, "sudo agentctl register") {
		t.Fatalf("other user registering a registered device: %+v", e)
	}
	if e := authorize(ctx, f, console, route("POST /v1/registration"), Caller{UID: 1000}); e == nil || !strings.Contains(e.Hint, "agentctl logout") {
		t.Fatalf("operator registering again: %+v", e)
	}
	if e := authorize(ctx, f, console, route("POST /v1/connect"), Caller{UID: 1000}); e != nil {
		t.Fatalf("operator connecting: %+v", e)
	}
	if e := authorize(ctx, f, console, route("POST /v1/connect"), Caller{UID: 0}); e != nil {
		t.Fatalf("root connecting: %+v", e)
	}

	f.registered = false
	if e := authorize(ctx, f, console, route("POST /v1/registration"), Caller{UID: uidConsole}); e != nil {
		t.Fatalf("a console user registering an unregistered device: %+v", e)
	}
	e = authorize(ctx, f, console, route("POST /v1/registration"), other)
	if e == nil || StatusOf(e.Code) != 403 || !strings.Contains(e.Message, "not logged in here") || !strings.Contains(e.Hint, "sudo agentctl register") {
		t.Fatalf("nobody registering an unregistered device: %+v", e)
	}
	e = authorize(ctx, f, console, route("POST /v1/connect"), other)
	if e == nil || !strings.Contains(e.Hint, "agentctl register") || !strings.Contains(e.Hint, "sudo agentctl connect") {
		t.Fatalf("connecting an unregistered device: %+v", e)
	}

	// A route whose class is unknown admits nobody but root.
	odd := &Route{Method: "POST", Path: "/v1/odd", Who: Who(99), Command: "agentctl odd"}
	if e := authorize(ctx, f, console, odd, Caller{UID: 1000}); e == nil {
		t.Fatal("an unknown class admitted a user")
	}
}

// A kept-alive connection the server closed while idle is replaced without
// the caller seeing an error.
func TestClientReplacesAConnectionTheServerClosed(t *testing.T) {
	closed := make(chan struct{}, 1)
	ts := startServer(t, func(o *ServerOptions, _ *fakeBackend) { o.IdleTimeout = 20 * time.Millisecond },
		func(s *Server) { s.testHookConnClosed = signal(closed) })
	ctx := t.Context()
	if _, err := ts.client.Status(ctx); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, closed, "the server to close the idle connection", func() bool { return ts.srv.connSlots.total() == 0 })
	for i := 0; i < 3; i++ {
		if _, err := ts.client.Connect(ctx); err != nil {
			t.Fatalf("request %d after the idle close: %v", i, err)
		}
	}
	if n := len(ts.fake.Calls()); n != 3 {
		t.Fatalf("backend saw %d connects, want 3 (a retry must not repeat a request)", n)
	}
}

func TestClientCallEndsWithItsContext(t *testing.T) {
	ts := startServer(t, nil, nil)
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() {
		_, err := ts.client.Explain(ctx, blockingDst, "tcp")
		errc <- err
	}()
	select {
	case <-ts.fake.blocked:
	case <-time.After(waitTimeout):
		t.Fatal("the request never reached the backend")
	}
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled call = %v, want context.Canceled", err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("the call did not end with its context")
	}
	// The client still works.
	if _, err := ts.client.Status(t.Context()); err != nil {
		t.Fatal(err)
	}
}

func TestEventStreamCloseUnblocksNext(t *testing.T) {
	ts := startServer(t, nil, nil)
	s, err := ts.client.Events(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Next(); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := s.Next()
		errc <- err
	}()
	s.Close()
	select {
	case err := <-errc:
		if err == nil {
			t.Fatal("Next after Close returned an event")
		}
	case <-time.After(waitTimeout):
		t.Fatal("Next stayed blocked after Close")
	}
}

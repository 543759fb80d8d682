package ipc

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// A child re-executed by the permission test makes its requests as
	// another uid and reports; it runs no tests.
	if sock := os.Getenv(permChildEnv); sock != "" {
		os.Exit(permChild(sock))
	}
	// A child that holds connections as another uid (slots_unix_test.go).
	if sock := os.Getenv(holdChildEnv); sock != "" {
		os.Exit(holdChild(sock))
	}
	// A fake daemon run as another uid (verify_unix_test.go).
	if sock := os.Getenv(fakeDaemonEnv); sock != "" {
		os.Exit(fakeDaemonChild(sock))
	}
	goleak.VerifyTestMain(m)
}

// waitTimeout bounds every wait on an event in these tests.
const waitTimeout = 10 * time.Second

// shortDir returns a fresh directory with a path short enough for a unix
// socket (108 bytes), removed at the end of the test.
func shortDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "ipc")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

type testServer struct {
	srv    *Server
	fake   *fakeBackend
	client *Client
	sock   string
}

// startServer serves a fake backend on a fresh socket; setup may change the
// options and the fake first, and hooks are set before Serve runs.
func startServer(t testing.TB, setup func(*ServerOptions, *fakeBackend), hooks func(*Server)) *testServer {
	t.Helper()
	fake := newFakeBackend()
	// Whoever runs the tests is the operator, so every route admits them;
	// the permission test checks the others.
	fake.operator = os.Getuid()
	opts := ServerOptions{
		SocketPath:    filepath.Join(shortDir(t), "agentd.sock"),
		Backend:       fake,
		DaemonVersion: "0.1.0-test",
	}
	if setup != nil {
		setup(&opts, fake)
	}
	srv, err := NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	if hooks != nil {
		hooks(srv)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve() }()
	client := NewClient(opts.SocketPath)
	t.Cleanup(func() {
		client.Close()
		if err := srv.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(waitTimeout):
			t.Error("Serve did not return after Close")
		}
	})
	return &testServer{srv: srv, fake: fake, client: client, sock: opts.SocketPath}
}

// whileUnregistered runs fn with the fake unregistered, so that a caller who
// is not root may reach POST /v1/registration (the table admits only root
// while registered) when the tests run unprivileged.
func (ts *testServer) whileUnregistered(fn func()) {
	ts.fake.mu.Lock()
	ts.fake.registered = false
	ts.fake.mu.Unlock()
	defer func() {
		ts.fake.mu.Lock()
		ts.fake.registered = true
		ts.fake.mu.Unlock()
	}()
	fn()
}

// rawResponse is an answer read without the typed client.
type rawResponse struct {
	Status int
	Header http.Header
	Body   string
}

// raw makes one request on its own connection, with the given headers.
func raw(t testing.TB, sock, method, path string, header http.Header, body string) rawResponse {
	t.Helper()
	tr := &http.Transport{
		DisableKeepAlives: true,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		},
	}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequest(method, "http://agentd"+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	resp, err := tr.RoundTrip(req.WithContext(ctx))
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return rawResponse{Status: resp.StatusCode, Header: resp.Header, Body: string(b)}
}

// signal returns a hook that reports on ch without ever blocking the server.
func signal(ch chan struct{}) func() {
	return func() {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// waitUntil waits on ch until cond holds, failing after waitTimeout.
func waitUntil(t testing.TB, ch <-chan struct{}, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(waitTimeout)
	defer deadline.Stop()
	for !cond() {
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

package simulator

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/ztagent/ztagent/pkg/control"
)

// slowConns opens n connections to addr that each send the start of
// request and then nothing, as a slowloris client does. They are closed at
// the end of the test.
func slowConns(t *testing.T, addr string, n int, request string) []net.Conn {
	t.Helper()
	conns := make([]net.Conn, 0, n)
	for range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("slow connection %d: %v", len(conns)+1, err)
		}
		t.Cleanup(func() { _ = c.Close() })
		if _, err := io.WriteString(c, request); err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	return conns
}

// getTeam is a fresh client's request to the API, on its own connection.
func getTeam(t *testing.T, s *Simulator) {
	t.Helper()
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	resp, err := c.Get(s.APIURL() + "/v1/teams/" + s.Team())
	if err != nil {
		t.Fatalf("a fresh request while slow connections hold the listener: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("a fresh request: %d", resp.StatusCode)
	}
}

func (s *Simulator) maxOpen() int {
	n := 0
	for _, l := range s.listeners {
		n = max(n, l.Open())
	}
	return n
}

// TestSlowHeadersCannotHoldTheListeners reproduces issue 12 item 14 with
// slowloris connections (headers that never end): more of them than a
// listener holds, on every listener, and then a fresh request is answered
// at once. The timeouts are an hour, so it is the bound that makes room,
// by closing the connection that has waited longest without a request.
func TestSlowHeadersCannotHoldTheListeners(t *testing.T) {
	const maxConns = 4
	tc := newTestConfig(t)
	opts := tc.options(stateDir(t))
	opts.HTTP = HTTPLimits{MaxConns: maxConns, ReadHeaderTimeout: time.Hour, ReadTimeout: time.Hour}
	s := startSim(t, opts)
	for _, addr := range []string{s.apiAddr.String(), s.teamAddr.String(), s.idpAddr.String()} {
		slowConns(t, addr, 3*maxConns, "GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
	}
	getTeam(t, s)
	if n := s.maxOpen(); n > maxConns {
		t.Fatalf("a listener holds %d connections, over its bound of %d", n, maxConns)
	}
}

// TestSlowBodiesCannotHoldTheListeners: connections that send a request's
// headers and then dribble its body keep a handler busy, so they are not
// closed to make room; the ReadTimeout ends them, and a fresh request is
// answered once it has.
func TestSlowBodiesCannotHoldTheListeners(t *testing.T) {
	const maxConns = 4
	tc := newTestConfig(t)
	opts := tc.options(stateDir(t))
	opts.HTTP = HTTPLimits{MaxConns: maxConns, ReadHeaderTimeout: time.Hour, ReadTimeout: 200 * time.Millisecond}
	s := startSim(t, opts)
	slow := slowConns(t, s.apiAddr.String(), 2*maxConns,
		"POST /v1/registrations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 4000\r\n\r\n{\"code\":")
	getTeam(t, s)
	if n := s.maxOpen(); n > maxConns {
		t.Fatalf("a listener holds %d connections, over its bound of %d", n, maxConns)
	}
	// The first slow connection was ended by the server (an answer and
	// EOF, or a reset for the body it never read), not by our deadline.
	_ = slow[0].SetReadDeadline(time.Now().Add(30 * time.Second))
	var ne net.Error
	if _, err := io.ReadAll(bufio.NewReader(slow[0])); errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the slow body was not cut off by the server: %v", err)
	}
}

// TestEventStreamOutlivesReadTimeout: the ReadTimeout that cuts off slow
// bodies does not end an event stream, which is meant to stay open. The
// stream is open past the timeout once a connection that sent nothing has
// been closed by the server for it.
func TestEventStreamOutlivesReadTimeout(t *testing.T) {
	tc := newTestConfig(t)
	opts := tc.options(stateDir(t))
	const timeout = 200 * time.Millisecond
	opts.HTTP = HTTPLimits{ReadHeaderTimeout: timeout, ReadTimeout: timeout}
	s := startSim(t, opts)
	a := newAgent(t, s, "fp-1")
	reg := a.enroll(alice)
	st, err := a.api().Events(t.Context(), reg.DeviceID, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()

	// Started after the stream, so closed after the stream's deadline
	// would have passed.
	probe := slowConns(t, s.apiAddr.String(), 1, "")[0]
	_ = probe.SetReadDeadline(time.Now().Add(30 * time.Second))
	var ne net.Error
	if _, err := io.ReadAll(probe); errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the server did not close an idle connection after its timeout: %v", err)
	}
	if _, err := adminClient(s).Revoke(t.Context(), reg.DeviceID); err != nil {
		t.Fatal(err)
	}
	for {
		ev, err := st.Next()
		if err != nil {
			t.Fatalf("the event stream ended before the revocation reached it: %v", err)
		}
		if ev.Type == control.EventDeviceRevoked {
			return
		}
	}
}

package relay

import (
	"bytes"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// ioTimeout bounds every blocking call in these tests; nothing should come
// close.
const ioTimeout = 10 * time.Second

// tcpPair returns the two ends of a loopback TCP connection.
func tcpPair(t *testing.T) (*net.TCPConn, *net.TCPConn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	dialed, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	other, ok := <-accepted
	if !ok {
		t.Fatal("accept failed")
	}
	a, b := dialed.(*net.TCPConn), other.(*net.TCPConn)
	for _, c := range []net.Conn{a, b} {
		c.SetDeadline(time.Now().Add(ioTimeout))
		t.Cleanup(func() { c.Close() })
	}
	return a, b
}

// splicer runs Splice in a goroutine and hands back its result.
func splicer(client, upstream net.Conn) <-chan Stats {
	out := make(chan Stats, 1)
	go func() { out <- Splice(client, upstream) }()
	return out
}

func wait(t *testing.T, ch <-chan Stats) Stats {
	t.Helper()
	select {
	case st := <-ch:
		return st
	case <-time.After(ioTimeout):
		t.Fatal("Splice did not return")
		return Stats{}
	}
}

// A client that half-closes after its request still gets the answer, which
// the upstream only sends once it has seen the request's end; Splice
// counts both ways and closes both connections once both ways have ended.
func TestSplicePassesHalfCloseOn(t *testing.T) {
	user, clientSide := tcpPair(t)
	upSide, server := tcpPair(t)
	done := splicer(clientSide, upSide)

	request := bytes.Repeat([]byte("q"), 3*StreamBufferSize+17)
	go func() {
		user.Write(request)
		user.CloseWrite()
	}()
	got, err := io.ReadAll(server)
	if err != nil || !bytes.Equal(got, request) {
		t.Fatalf("upstream read %d bytes, %v; want %d", len(got), err, len(request))
	}
	answer := "read " + strings.Repeat("a", 1000)
	if _, err := io.WriteString(server, answer); err != nil {
		t.Fatalf("the upstream could not answer after the client's half-close: %v", err)
	}
	server.CloseWrite()
	back, err := io.ReadAll(user)
	if err != nil || string(back) != answer {
		t.Fatalf("client read %q, %v", back, err)
	}
	st := wait(t, done)
	if st.Up != int64(len(request)) || st.Down != int64(len(answer)) {
		t.Fatalf("Stats = %+v; want Up %d, Down %d", st, len(request), len(answer))
	}
	for _, c := range []net.Conn{clientSide, upSide} {
		if _, err := c.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("after Splice returned, write on its conn: %v; want it closed", err)
		}
	}
}

// An error in one direction (the upstream resets) ends the other one too,
// although the client never stops sending on its own.
func TestSpliceErrorEndsBothWays(t *testing.T) {
	user, clientSide := tcpPair(t)
	upSide, server := tcpPair(t)
	done := splicer(clientSide, upSide)

	io.WriteString(user, "hello")
	buf := make([]byte, 5)
	if _, err := io.ReadFull(server, buf); err != nil {
		t.Fatal(err)
	}
	server.SetLinger(0)
	server.Close() // a RST to the splice
	wait(t, done)
	if _, err := io.ReadAll(user); err != nil && !isReset(err) {
		t.Fatalf("client after the upstream's reset: %v; want EOF or reset", err)
	}
}

// A destination that cannot half-close (net.Pipe) is closed at its
// source's EOF, and the splice still ends.
func TestSpliceWithoutHalfClose(t *testing.T) {
	user, clientSide := net.Pipe()
	defer user.Close()
	upSide, server := tcpPair(t)
	done := splicer(clientSide, upSide)

	go func() {
		server.Write([]byte("bye"))
		server.Close()
	}()
	user.SetDeadline(time.Now().Add(ioTimeout))
	got, err := io.ReadAll(user)
	if err != nil || string(got) != "bye" {
		t.Fatalf("client read %q, %v", got, err)
	}
	if st := wait(t, done); st.Down != 3 || st.Up != 0 {
		t.Fatalf("Stats = %+v; want Down 3, Up 0", st)
	}
}

// Closing one of the connections from outside (the owner ending a flow)
// ends a splice in which neither side is sending.
func TestSpliceEndsWhenItsOwnerClosesAConn(t *testing.T) {
	user, clientSide := tcpPair(t)
	upSide, server := tcpPair(t)
	done := splicer(clientSide, upSide)
	// A round trip through the splice, each way, proves it still copies
	// after it started: a Splice that returned early would not have
	// carried it. Then neither side sends again.
	for _, dir := range []struct{ from, to net.Conn }{{user, server}, {server, user}} {
		if _, err := dir.from.Write([]byte("ping")); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(dir.to, make([]byte, 4)); err != nil {
			t.Fatalf("the splice did not carry a round trip: %v", err)
		}
	}
	select {
	case <-done:
		t.Fatal("Splice returned while both sides were open")
	default:
	}
	clientSide.Close()
	if st := wait(t, done); st.Up != 4 || st.Down != 4 {
		t.Fatalf("Stats = %+v; want Up 4, Down 4", st)
	}
}

func isReset(err error) bool {
	return strings.Contains(err.Error(), "reset") || strings.Contains(err.Error(), "broken pipe")
}

package tunnel

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ztagent/ztagent/internal/clock"
)

func TestMain(m *testing.M) {
	if runNetnsHelper() {
		return
	}
	goleak.VerifyTestMain(m)
}

func TestSOCKS5Connect(t *testing.T) {
	agent, edgeKey := newKeyPair(t), newKeyPair(t)
	e := startEdge(t, "edge-a", edgeKey, agent)
	tun := startTunnel(t, e, agent, Options{})
	for _, tc := range []struct{ name, host string }{
		{"IPv4 literal", edgeV4.String()},
		{"IPv6 literal", edgeV6.String()},
		{"domain name", nameEcho},
		{"IPv4 literal sent as a domain", "10.99.0.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := socksConnect(t, tun, tc.host, portEcho)
			checkEcho(t, c, "hello through "+tc.name)
			checkEcho(t, c, strings.Repeat("x", 100_000))
		})
	}
}

// TestSOCKS5DomainUsesTunnelDNS checks that names are resolved by the
// edge's resolver inside the tunnel: the host's resolver has never heard of
// edge.test.
func TestSOCKS5DomainUsesTunnelDNS(t *testing.T) {
	agent, edgeKey := newKeyPair(t), newKeyPair(t)
	e := startEdge(t, "edge-a", edgeKey, agent)
	tun := startTunnel(t, e, agent, Options{})
	before := e.dnsQueries.Load()
	c := socksConnect(t, tun, nameEcho, portEcho)
	checkEcho(t, c, "resolved inside")
	if e.dnsQueries.Load() == before {
		t.Fatal("the edge's DNS server saw no query")
	}
}

func TestSOCKS5UDPAssociate(t *testing.T) {
	agent, edgeKey := newKeyPair(t), newKeyPair(t)
	e := startEdge(t, "edge-a", edgeKey, agent)
	tun := startTunnel(t, e, agent, Options{})
	_, u, relay := socksAssociate(t, tun)
	for _, tc := range []struct {
		host    string
		wantSrc netip.Addr
	}{
		{edgeV4.String(), edgeV4},
		{edgeV6.String(), edgeV6},
		{nameWeb, edgeV4}, // A record only
	} {
		src, got := udpExchange(t, u, relay, tc.host, portEcho, "ping "+tc.host)
		if got != "ping "+tc.host {
			t.Errorf("UDP echo via %s = %q", tc.host, got)
		}
		if src.ip != tc.wantSrc || src.port != portEcho {
			t.Errorf("UDP reply from %s, want %s:%d", src, tc.wantSrc, portEcho)
		}
	}
}

func TestSOCKS5Errors(t *testing.T) {
	agent, edgeKey := newKeyPair(t), newKeyPair(t)
	e := startEdge(t, "edge-a", edgeKey, agent)
	tun := startTunnel(t, e, agent, Options{})
	for _, tc := range []struct {
		name string
		req  []byte
		want byte
	}{
		{"refused", socksRequest(socksCmdConnect, edgeV4.String(), portClosed), socksRefused},
		{"outside allowed IPs", socksRequest(socksCmdConnect, "192.0.2.1", 80), socksNetUnreachable},
		{"unknown name", socksRequest(socksCmdConnect, "nope.edge.test", 80), socksHostUnreachable},
		{"BIND", socksRequest(0x02, edgeV4.String(), 80), socksCmdNotSupported},
		{"unknown address type", []byte{socksVersion5, socksCmdConnect, 0, 0x09, 1, 2}, socksAtypNotSupported},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dialProxy(t, tun)
			if code, _ := socksHandshake(t, c, tc.req); code != tc.want {
				t.Fatalf("reply code %d, want %d", code, tc.want)
			}
			// A second request on the same connection must not be served.
			requireClosed(t, c, socksRequest(socksCmdConnect, edgeV4.String(), portEcho), "after a failed request")
		})
	}
	t.Run("no acceptable method", func(t *testing.T) {
		c := dialProxy(t, tun)
		c.Write([]byte{socksVersion5, 1, 0x02}) // username/password only
		var m [2]byte
		if _, err := io.ReadFull(c, m[:]); err != nil || m != [2]byte{socksVersion5, socksMethodNoAcceptable} {
			t.Fatalf("method reply %x, %v; want 05ff", m, err)
		}
	})
	t.Run("SOCKS4", func(t *testing.T) {
		c := dialProxy(t, tun)
		c.Write([]byte{socksVersion4, 1, 0, 80, 10, 99, 0, 1, 0})
		var r [8]byte
		if _, err := io.ReadFull(c, r[:]); err != nil || r[1] != 0x5b {
			t.Fatalf("SOCKS4 reply %x, %v; want request rejected (5b)", r, err)
		}
	})
}

// requireClosed writes probe to c and fails the test unless the proxy has
// closed c without answering: the read must end in EOF or a reset. A read
// that times out is a connection the proxy kept open.
func requireClosed(t testing.TB, c net.Conn, probe []byte, what string) {
	t.Helper()
	c.Write(probe) // may fail if the close is already known; the read says
	n, err := c.Read(make([]byte, 1))
	switch {
	case n > 0:
		t.Fatalf("connection %s answered %x, want it closed", what, probe)
	case errors.Is(err, io.EOF), errors.Is(err, syscall.ECONNRESET):
	case errors.Is(err, os.ErrDeadlineExceeded):
		t.Fatalf("connection %s still open when the read's deadline passed: %v", what, err)
	default:
		t.Fatalf("connection %s: read: %v, want EOF or a reset", what, err)
	}
}

// TestProxyHandshakeTimeout drives the handshake deadline with a fake clock:
// a client that sends nothing, or stops halfway through its SOCKS5
// handshake, is disconnected once the clock passes HandshakeTimeout, and
// not before. "Not before" is shown by a later event, not by a wait: two
// clients stop at the same point at the same instant; at 4 s of 5 one of
// them finishes its handshake and is served, which the proxy refuses to a
// client whose timer has fired (serveSOCKS checks it once the request is
// read); at 5 s the other is disconnected.
func TestProxyHandshakeTimeout(t *testing.T) {
	agent, edgeKey := newKeyPair(t), newKeyPair(t)
	e := startEdge(t, "edge-a", edgeKey, agent)
	fake := clock.NewFake(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	tun := startTunnel(t, e, agent, Options{Clock: fake, HandshakeTimeout: 5 * time.Second})
	greeting := []byte{socksVersion5, 1, socksMethodNoAuth}
	request := socksRequest(socksCmdConnect, edgeV4.String(), portEcho)
	for _, tc := range []struct {
		name     string
		greeting []byte
		cut      int // bytes of the greeting and request sent before stopping
	}{
		{"not even the first byte", greeting, 0},
		{"greeting cut short", []byte{socksVersion5, 2, 0x02, socksMethodNoAuth}, 2},
		{"greeting, then half a request", greeting, len(greeting) + 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			handshake := append(slices.Clone(tc.greeting), request...)
			onTime, late := dialProxy(t, tun), dialProxy(t, tun)
			for _, c := range []net.Conn{onTime, late} {
				if _, err := c.Write(handshake[:tc.cut]); err != nil {
					t.Fatal(err)
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
			defer cancel()
			if err := fake.WaitForTimers(ctx, 2); err != nil {
				t.Fatalf("the proxy armed %d handshake timers for two clients", fake.Timers())
			}
			fake.Advance(4 * time.Second)
			if _, err := onTime.Write(handshake[tc.cut:]); err != nil {
				t.Fatal(err)
			}
			var m [2]byte
			if _, err := io.ReadFull(onTime, m[:]); err != nil || m != [2]byte{socksVersion5, socksMethodNoAuth} {
				t.Fatalf("a client finishing at 4 s of 5: method reply %x, %v; want 0500 (its connection must last until the handshake timeout)", m, err)
			}
			var hdr [3]byte
			if _, err := io.ReadFull(onTime, hdr[:]); err != nil || hdr[1] != socksSucceeded {
				t.Fatalf("a client finishing at 4 s of 5 was not served (reply %x, %v): its connection ended before the handshake timeout", hdr, err)
			}
			if _, err := readSOCKSAddr(onTime); err != nil {
				t.Fatalf("reply address: %v", err)
			}
			// The reply is written after the request's check disarmed
			// the timer, so only the other client's is left.
			if n := fake.Timers(); n != 1 {
				t.Fatalf("%d handshake timers armed once one of two clients finished, want 1", n)
			}
			checkEcho(t, onTime, "finished in time")

			fake.Advance(time.Second)
			if tc.cut > len(tc.greeting) {
				io.ReadFull(late, m[:]) // the method reply
			}
			late.SetReadDeadline(time.Now().Add(ioTimeout))
			if _, err := io.ReadAll(late); err != nil && !strings.Contains(err.Error(), "reset") {
				t.Fatalf("after the timeout: %v", err)
			}
			checkEcho(t, onTime, "a finished handshake outlives its timeout")
		})
	}
}

// TestHTTPHeaderTimeout: once a client is known to speak HTTP, net/http's
// own header timeout disconnects one that never finishes its request
// header. That timeout runs on the real clock (net/http sets socket
// deadlines itself), so no fake clock can drive it; the proxy's own
// handshake timer, which would also disconnect the client, is put on a
// fake clock that never moves, so that only net/http's can. The length of
// the timeout decides no outcome: however late the machine runs, the
// connection ends, and never before the timeout has passed since the
// client started writing.
func TestHTTPHeaderTimeout(t *testing.T) {
	const timeout = 200 * time.Millisecond
	agent, edgeKey := newKeyPair(t), newKeyPair(t)
	e := startEdge(t, "edge-a", edgeKey, agent)
	fake := clock.NewFake(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	tun := startTunnel(t, e, agent, Options{Clock: fake, HandshakeTimeout: timeout})
	c := dialProxy(t, tun)
	start := time.Now()
	io.WriteString(c, "GET http://10.99.0.1/ HTTP/1.1\r\nHost: 10.99.0.1\r\n")
	c.SetReadDeadline(time.Now().Add(ioTimeout))
	if _, err := io.ReadAll(c); isTimeout(err) {
		t.Fatalf("the connection stayed open %s with half a request header", ioTimeout)
	}
	if waited := time.Since(start); waited < timeout {
		t.Fatalf("the connection ended %s after half a request header, before the %s header timeout", waited, timeout)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func TestUDPAssociationIdleTimeout(t *testing.T) {
	agent, edgeKey := newKeyPair(t), newKeyPair(t)
	e := startEdge(t, "edge-a", edgeKey, agent)
	fake := clock.NewFake(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	tun := startTunnel(t, e, agent, Options{Clock: fake, IdleTimeout: time.Minute})
	ctrl, u, relay := socksAssociate(t, tun)
	udpExchange(t, u, relay, edgeV4.String(), portEcho, "keep me")
	fake.Advance(59 * time.Second)
	udpExchange(t, u, relay, edgeV4.String(), portEcho, "still here") // activity re-arms the timer
	fake.Advance(59 * time.Second)
	udpExchange(t, u, relay, edgeV4.String(), portEcho, "and here")
	fake.Advance(time.Minute)
	if _, err := io.ReadAll(ctrl); err != nil && !strings.Contains(err.Error(), "reset") {
		t.Fatalf("control connection after idle timeout: %v", err)
	}
}

func TestHTTPConnect(t *testing.T) {
	agent, edgeKey := newKeyPair(t), newKeyPair(t)
	e := startEdge(t, "edge-a", edgeKey, agent)
	tun := startTunnel(t, e, agent, Options{})
	for _, target := range []string{"10.99.0.1:7", "[fd00:99::1]:7", nameEcho + ":7"} {
		c := dialProxy(t, tun)
		br := bufio.NewReader(c)
		code, _ := httpRoundTrip(t, c, br, "CONNECT "+target+" HTTP/1.1\r\nHost: "+target+"\r\n\r\n")
		if code != 200 {
			t.Fatalf("CONNECT %s: status %d", target, code)
		}
		msg := "through CONNECT " + target
		io.WriteString(c, msg)
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(br, got); err != nil || string(got) != msg {
			t.Fatalf("CONNECT %s echo = %q, %v", target, got, err)
		}
	}
}

func TestHTTPForward(t *testing.T) {
	agent, edgeKey := newKeyPair(t), newKeyPair(t)
	e := startEdge(t, "edge-a", edgeKey, agent)
	tun := startTunnel(t, e, agent, Options{})
	c := dialProxy(t, tun)
	br := bufio.NewReader(c)
	// Keep-alive: three requests on one client connection.
	for _, tc := range []struct{ req, want string }{
		{"GET http://10.99.0.1/one HTTP/1.1\r\nHost: 10.99.0.1\r\nProxy-Connection: keep-alive\r\n\r\n", "edge-a GET 10.99.0.1 /one"},
		{"GET http://" + nameWeb + "/two HTTP/1.1\r\nHost: " + nameWeb + "\r\n\r\n", "edge-a GET " + nameWeb + " /two"},
		{"POST http://10.99.0.1/three HTTP/1.1\r\nHost: 10.99.0.1\r\nContent-Length: 3\r\n\r\nabc", "edge-a POST 10.99.0.1 /three"},
	} {
		code, body := httpRoundTrip(t, c, br, tc.req)
		if code != 200 || body != tc.want {
			t.Fatalf("%q: %d %q, want 200 %q", tc.req, code, body, tc.want)
		}
	}
}

func TestHTTPErrors(t *testing.T) {
	agent, edgeKey := newKeyPair(t), newKeyPair(t)
	e := startEdge(t, "edge-a", edgeKey, agent)
	tun := startTunnel(t, e, agent, Options{})
	for _, tc := range []struct {
		name, req string
		code      int
		reason    string
	}{
		{"CONNECT refused", "CONNECT 10.99.0.1:12 HTTP/1.1\r\nHost: 10.99.0.1:12\r\n\r\n", 502, "connection refused"},
		{"CONNECT outside allowed IPs", "CONNECT 192.0.2.1:443 HTTP/1.1\r\nHost: 192.0.2.1:443\r\n\r\n", 502, "outside the tunnel's allowed IPs"},
		{"CONNECT unknown name", "CONNECT nope.edge.test:443 HTTP/1.1\r\nHost: nope.edge.test:443\r\n\r\n", 502, "no such host"},
		{"CONNECT without port", "CONNECT 10.99.0.1 HTTP/1.1\r\nHost: 10.99.0.1\r\n\r\n", 400, "host:port"},
		{"GET refused", "GET http://10.99.0.1:12/ HTTP/1.1\r\nHost: 10.99.0.1:12\r\n\r\n", 502, "connection refused"},
		{"GET unknown name", "GET http://nope.edge.test/ HTTP/1.1\r\nHost: nope.edge.test\r\n\r\n", 502, "no such host"},
		{"origin-form", "GET / HTTP/1.1\r\nHost: 10.99.0.1\r\n\r\n", 400, "this is a proxy"},
		{"https absolute URI", "GET https://10.99.0.1/ HTTP/1.1\r\nHost: 10.99.0.1\r\n\r\n", 400, "only http://"},
		{"header too large", "GET http://10.99.0.1/ HTTP/1.1\r\nHost: 10.99.0.1\r\nX-Big: " + strings.Repeat("a", 2*maxHeaderBytes) + "\r\n\r\n", 431, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dialProxy(t, tun)
			code, body := httpRoundTrip(t, c, bufio.NewReader(c), tc.req)
			if code != tc.code || !strings.Contains(body, tc.reason) {
				t.Fatalf("%d %q, want %d and a reason with %q", code, body, tc.code, tc.reason)
			}
			if tc.reason != "" && (strings.Count(body, "\n") != 1 || !strings.HasPrefix(body, "ztagent proxy: ")) {
				t.Fatalf("reason %q is not one line starting with \"ztagent proxy: \"", body)
			}
		})
	}
}

func TestProxyConnectionLimit(t *testing.T) {
	agent, edgeKey := newKeyPair(t), newKeyPair(t)
	e := startEdge(t, "edge-a", edgeKey, agent)
	tun := startTunnel(t, e, agent, Options{MaxProxyConns: 2})
	held := []net.Conn{socksConnect(t, tun, edgeV4.String(), portEcho), socksConnect(t, tun, edgeV4.String(), portEcho)}
	// A greeting, which a served connection answers at once (a silent one
	// would be closed by the handshake timeout even if it were served).
	requireClosed(t, dialProxy(t, tun), []byte{socksVersion5, 1, socksMethodNoAuth}, "beyond MaxProxyConns")
	held[0].Close()
	// The slot frees once the proxy has seen the close; retry until then.
	deadline := time.Now().Add(ioTimeout)
	for {
		c := dialProxy(t, tun)
		c.Write([]byte{socksVersion5, 1, socksMethodNoAuth})
		var m [2]byte
		if _, err := io.ReadFull(c, m[:]); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a freed slot was never reused")
		}
	}
	checkEcho(t, held[1], "still served")
}

func TestProxyAddress(t *testing.T) {
	agent, edgeKey := newKeyPair(t), newKeyPair(t)
	e := startEdge(t, "edge-a", edgeKey, agent)
	for _, tc := range []struct{ addr, want string }{
		{"0.0.0.0:0", "not a loopback address"},
		{"localhost:40000", "must be a loopback IP:port"},
	} {
		_, err := New(context.Background(), e.config(agent), Options{ProxyAddr: tc.addr})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ProxyAddr %q: error %v, want one with %q", tc.addr, err, tc.want)
		}
	}
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	_, err = New(context.Background(), e.config(agent), Options{ProxyAddr: busy.Addr().String()})
	if err == nil || !strings.Contains(err.Error(), "is in use") {
		t.Fatalf("busy proxy address: %v", err)
	}
}

func TestDialContext(t *testing.T) {
	agent, edgeKey := newKeyPair(t), newKeyPair(t)
	e := startEdge(t, "edge-a", edgeKey, agent)
	tun := startTunnel(t, e, agent, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
	defer cancel()
	c, err := tun.DialContext(ctx, "tcp", net.JoinHostPort(nameEcho, "7"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(ioTimeout))
	checkEcho(t, c, "dialled by the agent itself")
	if _, err := tun.DialContext(ctx, "tcp", "192.0.2.1:80"); err == nil || !strings.Contains(err.Error(), "outside the tunnel's allowed IPs") {
		t.Fatalf("dial outside allowed IPs: %v", err)
	}
	if _, err := tun.DialContext(ctx, "udp", "10.99.0.1:7"); err == nil {
		t.Fatal("udp dial accepted")
	}
}

func TestStats(t *testing.T) {
	agent, edgeKey := newKeyPair(t), newKeyPair(t)
	e := startEdge(t, "edge-a", edgeKey, agent)
	tun := startTunnel(t, e, agent, Options{})
	checkEcho(t, socksConnect(t, tun, edgeV4.String(), portEcho), "count me")
	st, err := tun.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Endpoint != e.endpoint() || st.EdgePublicKey != edgeKey.pubB64() || st.LastHandshake.IsZero() || st.RxBytes == 0 || st.TxBytes == 0 || st.ListenPort == 0 {
		t.Fatalf("stats %+v", st)
	}
}

package tunnel

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
)

// Client sides of the proxy's protocols, written from RFC 1928 and RFC 9110
// rather than with the proxy's own code, plus helpers shared by the tests.

// ioTimeout bounds every network operation of a test, so a broken tunnel
// fails the test instead of hanging it.
const ioTimeout = 20 * time.Second

// startTunnel brings up a proxy-mode tunnel to e on a free loopback port.
func startTunnel(t testing.TB, e *edge, agent keyPair, opts Options) *Tunnel {
	t.Helper()
	if opts.ProxyAddr == "" {
		opts.ProxyAddr = "127.0.0.1:0"
	}
	if opts.Logger == nil {
		opts.Logger = zaptest.NewLogger(t)
	}
	tun, err := New(context.Background(), e.config(agent), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tun.Close() })
	return tun
}

func dialProxy(t testing.TB, tun *Tunnel) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", tun.ProxyAddr(), ioTimeout)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(ioTimeout))
	t.Cleanup(func() { c.Close() })
	return c
}

// socksRequest encodes a SOCKS5 request for cmd to host:port; host may be an
// IP literal (sent as an address) or a name (sent as a domain).
func socksRequest(cmd byte, host string, port uint16) []byte {
	b := []byte{socksVersion5, cmd, 0}
	if ip, err := netip.ParseAddr(host); err == nil {
		return appendSOCKSAddr(b, netip.AddrPortFrom(ip, port))
	}
	b = append(b, socksAtypDomain, byte(len(host)))
	b = append(b, host...)
	return binary.BigEndian.AppendUint16(b, port)
}

// socksHandshake greets with "no authentication", sends req and returns the
// reply code and bound address.
func socksHandshake(t testing.TB, c net.Conn, req []byte) (byte, netip.AddrPort) {
	t.Helper()
	if _, err := c.Write([]byte{socksVersion5, 1, socksMethodNoAuth}); err != nil {
		t.Fatal(err)
	}
	var m [2]byte
	if _, err := io.ReadFull(c, m[:]); err != nil {
		t.Fatalf("read method reply: %v", err)
	}
	if m != [2]byte{socksVersion5, socksMethodNoAuth} {
		t.Fatalf("method reply %x", m)
	}
	if _, err := c.Write(req); err != nil {
		t.Fatal(err)
	}
	var hdr [3]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		t.Fatalf("read reply: %v", err)
	}
	if hdr[0] != socksVersion5 {
		t.Fatalf("reply version %d", hdr[0])
	}
	bound, err := readSOCKSAddr(c)
	if err != nil {
		t.Fatalf("read reply address: %v", err)
	}
	return hdr[1], netip.AddrPortFrom(bound.ip, bound.port)
}

// socksConnect opens a CONNECT flow and fails the test unless it succeeds.
func socksConnect(t testing.TB, tun *Tunnel, host string, port uint16) net.Conn {
	t.Helper()
	c := dialProxy(t, tun)
	if code, _ := socksHandshake(t, c, socksRequest(socksCmdConnect, host, port)); code != socksSucceeded {
		t.Fatalf("SOCKS5 CONNECT %s:%d: reply code %d", host, port, code)
	}
	return c
}

// checkEcho writes a message and expects it back.
func checkEcho(t testing.TB, c net.Conn, msg string) {
	t.Helper()
	if _, err := io.WriteString(c, msg); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("read echo: %v", err)
	}
	if string(got) != msg {
		t.Fatalf("echo = %q, want %q", got, msg)
	}
}

// whoami asks the edge behind the tunnel for its name.
func whoami(t testing.TB, tun *Tunnel) string {
	t.Helper()
	c := socksConnect(t, tun, edgeV4.String(), portWhoami)
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("whoami: %v", err)
	}
	return string(bytes.TrimSpace(b))
}

// socksAssociate opens a UDP association and returns the control
// connection, a client UDP socket and the relay's address.
func socksAssociate(t testing.TB, tun *Tunnel) (net.Conn, *net.UDPConn, netip.AddrPort) {
	t.Helper()
	c := dialProxy(t, tun)
	code, relay := socksHandshake(t, c, socksRequest(socksCmdUDPAssociate, "0.0.0.0", 0))
	if code != socksSucceeded {
		t.Fatalf("UDP ASSOCIATE: reply code %d", code)
	}
	u, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	u.SetDeadline(time.Now().Add(ioTimeout))
	t.Cleanup(func() { u.Close() })
	return c, u, relay
}

// udpExchange sends payload to host:port through the relay and returns the
// reply's source and payload.
func udpExchange(t testing.TB, u *net.UDPConn, relay netip.AddrPort, host string, port uint16, payload string) (socksAddr, string) {
	t.Helper()
	req := socksRequest(0, host, port) // RSV RSV FRAG=0 ATYP …: the same layout after the first byte
	dg := append([]byte{0, 0, 0}, req[3:]...)
	dg = append(dg, payload...)
	if _, err := u.WriteToUDPAddrPort(dg, relay); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 65535)
	n, _, err := u.ReadFromUDPAddrPort(buf)
	if err != nil {
		t.Fatalf("read UDP reply: %v", err)
	}
	src, data, ok := parseSOCKSUDP(buf[:n])
	if !ok {
		t.Fatalf("bad SOCKS5 UDP reply %x", buf[:n])
	}
	return src, string(data)
}

// httpRoundTrip writes a raw request and reads one response.
func httpRoundTrip(t testing.TB, c net.Conn, br *bufio.Reader, raw string) (int, string) {
	t.Helper()
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	resp, body := readHTTPResponse(t, br)
	return resp, body
}

func readHTTPResponse(t testing.TB, br *bufio.Reader) (int, string) {
	t.Helper()
	status, err := br.ReadString('\n')
	if err != nil {
		t.Fatalf("read status line: %v", err)
	}
	var code int
	if _, err := fmt.Sscanf(status, "HTTP/1.1 %d", &code); err != nil {
		t.Fatalf("status line %q", status)
	}
	length, closing := -1, false
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("read header: %v", err)
		}
		if line == "\r\n" {
			break
		}
		fmt.Sscanf(line, "Content-Length: %d", &length)
		closing = closing || line == "Connection: close\r\n"
	}
	switch {
	case length < 0 && closing:
		body, err := io.ReadAll(br)
		if err != nil {
			t.Fatalf("read body: %v", err)
		}
		return code, string(body)
	case length < 0 && code == 200:
		return code, "" // CONNECT's 200 has no body
	case length < 0:
		t.Fatalf("response without Content-Length (status %d)", code)
	}
	body := make([]byte, length)
	if _, err := io.ReadFull(br, body); err != nil {
		t.Fatalf("read body: %v", err)
	}
	return code, string(body)
}

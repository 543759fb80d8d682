package tunnel

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap/zaptest"
)

// Every Close path is checked for leaked goroutines: wireguard-go's
// netstack once leaked gVisor's for a year.

// closeWithin runs Close and fails the test if it does not return in time.
func closeWithin(t *testing.T, tun *Tunnel) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- tun.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Close: %v", err)
		}
	case <-time.After(ioTimeout):
		t.Fatal("Close did not return")
	}
}

// TestCloseWithActiveConnections closes the tunnel with a flow of every kind
// open, among them a dial to an address nobody answers. That dial is given
// two minutes, six times closeWithin's bound (and gVisor's SYN retries alone
// last over a minute), and Close is called only once its SYN has reached
// the edge: a Close that waited for the dial could not return in time.
func TestCloseWithActiveConnections(t *testing.T) {
	const hangDialTimeout = 2 * time.Minute
	baseline := goleak.IgnoreCurrent()
	agent, edgeKey := newKeyPair(t), newKeyPair(t)
	e := startEdge(t, "edge-a", edgeKey, agent)
	tun, err := New(context.Background(), e.config(agent), Options{ProxyAddr: "127.0.0.1:0", Logger: zaptest.NewLogger(t), DialTimeout: hangDialTimeout})
	if err != nil {
		t.Fatal(err)
	}

	var clients []net.Conn
	// A SOCKS5 relay in the middle of a stream.
	s := socksConnect(t, tun, edgeV4.String(), portEcho)
	checkEcho(t, s, "mid-stream")
	io.WriteString(s, "unanswered")
	clients = append(clients, s)
	// An HTTP keep-alive connection between requests.
	h := dialProxy(t, tun)
	if code, _ := httpRoundTrip(t, h, bufio.NewReader(h), "GET http://10.99.0.1/ HTTP/1.1\r\nHost: 10.99.0.1\r\n\r\n"); code != 200 {
		t.Fatalf("GET: %d", code)
	}
	clients = append(clients, h)
	// A CONNECT relay.
	cn := dialProxy(t, tun)
	if code, _ := httpRoundTrip(t, cn, bufio.NewReader(cn), "CONNECT 10.99.0.1:7 HTTP/1.1\r\nHost: 10.99.0.1:7\r\n\r\n"); code != 200 {
		t.Fatalf("CONNECT: %d", code)
	}
	clients = append(clients, cn)
	// A UDP association with both tunnel sockets open.
	ctrl, u, relay := socksAssociate(t, tun)
	udpExchange(t, u, relay, edgeV4.String(), portEcho, "v4")
	udpExchange(t, u, relay, edgeV6.String(), portEcho, "v6")
	clients = append(clients, ctrl)
	// A handshake cut short, and a dial to an address nobody answers.
	half := dialProxy(t, tun)
	half.Write([]byte{socksVersion5, 1})
	clients = append(clients, half)
	hang := dialProxy(t, tun)
	hang.Write([]byte{socksVersion5, 1, socksMethodNoAuth})
	hang.Write(socksRequest(socksCmdConnect, unanswered.String(), 80))
	io.ReadFull(hang, make([]byte, 2))
	clients = append(clients, hang)
	select {
	case <-e.unansweredSYN:
	case <-time.After(ioTimeout):
		t.Fatalf("the dial to %s sent no SYN to the edge", unanswered)
	}

	closeWithin(t, tun)
	for i, c := range clients {
		c.SetReadDeadline(time.Now().Add(ioTimeout))
		if _, err := io.ReadAll(c); err != nil && !strings.Contains(err.Error(), "reset") {
			t.Errorf("client %d after Close: %v", i, err)
		}
	}
	e.close()
	goleak.VerifyNone(t, baseline)
}

func TestCloseBeforeAnyTraffic(t *testing.T) {
	baseline := goleak.IgnoreCurrent()
	agent, edgeKey := newKeyPair(t), newKeyPair(t)
	e := startEdge(t, "edge-a", edgeKey, agent)
	tun, err := New(context.Background(), e.config(agent), Options{ProxyAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	closeWithin(t, tun)
	e.close()
	goleak.VerifyNone(t, baseline)
}

// TestCloseAfterReconfigure covers the replaced peer and the new key.
func TestCloseAfterReconfigure(t *testing.T) {
	baseline := goleak.IgnoreCurrent()
	agent, edgeKey, newAgent := newKeyPair(t), newKeyPair(t), newKeyPair(t)
	a := startEdge(t, "edge-a", edgeKey, agent)
	tun, err := New(context.Background(), a.config(agent), Options{ProxyAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	whoami(t, tun)
	a.setAgents(t, newAgent)
	if err := tun.Reconfigure(context.Background(), a.config(newAgent)); err != nil {
		t.Fatal(err)
	}
	whoami(t, tun)
	closeWithin(t, tun)
	a.close()
	goleak.VerifyNone(t, baseline)
}

// TestNewFailsCleanly: a failure after the proxy and the netstack exist
// (the device's UDP port is taken) undoes everything.
func TestNewFailsCleanly(t *testing.T) {
	baseline := goleak.IgnoreCurrent()
	agent, edgeKey := newKeyPair(t), newKeyPair(t)
	e := startEdge(t, "edge-a", edgeKey, agent)
	busy, err := net.ListenUDP("udp", &net.UDPAddr{})
	if err != nil {
		t.Fatal(err)
	}
	port := uint16(busy.LocalAddr().(*net.UDPAddr).Port)
	proxyAddr := "127.0.0.1:0"
	_, err = New(context.Background(), e.config(agent), Options{ProxyAddr: proxyAddr, ListenPort: port})
	busy.Close()
	if err == nil || !strings.Contains(err.Error(), fmt.Sprint(port)) {
		t.Fatalf("New with a busy UDP port: %v", err)
	}
	bad := e.config(agent)
	bad.Tunnel.EdgePublicKey = "short"
	if _, err := New(context.Background(), bad, Options{ProxyAddr: proxyAddr}); err == nil {
		t.Fatal("New with a bad edge key succeeded")
	}
	e.close()
	goleak.VerifyNone(t, baseline)
}

// TestCloseDuringDNSLookup closes the tunnel while a name is being resolved
// by a DNS server that never answers: Close must not wait for the
// resolver's timeout. The resolver is given a minute per attempt, and each
// flow's dial twice that, so the lookup cannot end by itself until a minute
// after its query left: Close must return before then, while the query is
// still unanswered. Close's own speed is not measured; a Close that waited
// for the query would hang for the whole minute.
func TestCloseDuringDNSLookup(t *testing.T) {
	const resolverTimeout = time.Minute
	baseline := goleak.IgnoreCurrent()
	agent, edgeKey := newKeyPair(t), newKeyPair(t)
	e := startEdge(t, "edge-a", edgeKey, agent)
	cfg := e.config(agent)
	cfg.Tunnel.DNS = []string{silentDNS.String()}
	tun, err := New(context.Background(), cfg, Options{ProxyAddr: "127.0.0.1:0", DialTimeout: 2 * resolverTimeout})
	if err != nil {
		t.Fatal(err)
	}
	l, ok := tun.link.(*netstackLink)
	if !ok {
		t.Fatalf("the tunnel's link is a %T, not the netstack", tun.link)
	}
	// Set before any proxy client writes: the proxy reads it only after
	// reading those bytes, which orders the two.
	l.dns.timeout = resolverTimeout
	// The query's deadline is set later than this, when it is sent: until
	// then the query cannot have been given up.
	queryPending := time.Now().Add(resolverTimeout)
	c := dialProxy(t, tun)
	c.Write([]byte{socksVersion5, 1, socksMethodNoAuth})
	c.Write(socksRequest(socksCmdConnect, nameEcho, portEcho))
	select {
	case <-e.silentQuery:
	case <-time.After(ioTimeout):
		t.Fatal("the query never reached the DNS server")
	}
	done := make(chan error, 1)
	go func() { done <- tun.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Close: %v", err)
		}
	case <-time.After(time.Until(queryPending)):
		t.Fatalf("Close had not returned when the unanswered DNS query could first time out (%v after it was sent): it waits for the resolver", resolverTimeout)
	}
	e.close()
	goleak.VerifyNone(t, baseline)
}

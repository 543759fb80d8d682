package wg

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// Close with every kind of work in progress: a forwarded TCP connection, a
// UDP flow, a handled connection whose handler waits for its context, a
// SYN and a datagram whose hook calls wait for their context (the UDP one
// blocks the peer's packet path), and a DNS-over-TCP connection.
func TestCloseWhileFlowsAreActive(t *testing.T) {
	checkLeaks(t)
	srv := startServers(t)
	handlerDone := make(chan error, 1)
	hookDone := make(chan error, 2)
	hookEntered := make(chan struct{})
	udpHookEntered := make(chan struct{})
	handled := netip.MustParseAddrPort("10.0.0.10:8080")
	stuck := netip.MustParseAddrPort("10.0.0.10:9")
	h := FlowHookFunc(func(ctx context.Context, f Flow) Verdict {
		switch f.Dst {
		case handled:
			return Verdict{Action: Handle, Handler: func(ctx context.Context, c net.Conn, _ DialFunc) {
				<-ctx.Done()
				handlerDone <- ctx.Err()
			}}
		case stuck:
			if f.Protocol == TCP {
				close(hookEntered)
			} else {
				close(udpHookEntered)
			}
			<-ctx.Done()
			hookDone <- ctx.Err()
			return Verdict{Action: Refuse}
		}
		return forward
	})
	edge, err := New(Config{ListenAddr: netip.MustParseAddrPort("127.0.0.1:0"), Network: srv.network(), FlowHook: h,
		Limits: Limits{HookTimeout: time.Hour, UDPHookTimeout: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { edge.Close() }) // when the test fails before its own Close
	c := newClient(t, edge, clientAddr, "dev-1")

	tcpConn, err := c.dialTCP(t.Context(), echoAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer tcpConn.Close()
	echo(t, tcpConn, "open")
	udpConn, err := c.net.DialUDPAddrPort(netip.AddrPort{}, echoAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer udpConn.Close()
	udpEcho(t, udpConn, "open")
	hConn, err := c.dialTCP(t.Context(), handled)
	if err != nil {
		t.Fatal(err)
	}
	defer hConn.Close()
	dnsConn, err := c.dialTCP(t.Context(), netip.AddrPortFrom(edge.Resolver(), 53))
	if err != nil {
		t.Fatal(err)
	}
	defer dnsConn.Close()
	co := &dns.Conn{Conn: dnsConn}
	q := new(dns.Msg)
	q.SetQuestion("echo.acme.internal.", dns.TypeA)
	if err := co.WriteMsg(q); err != nil {
		t.Fatal(err)
	}
	if _, err := co.ReadMsg(); err != nil {
		t.Fatal(err)
	}
	dialCtx, cancelDial := context.WithCancel(context.Background())
	defer cancelDial()
	dialed := make(chan struct{})
	go func() {
		defer close(dialed)
		if c, err := c.dialTCP(dialCtx, stuck); err == nil {
			c.Close()
		}
	}()
	select {
	case <-hookEntered:
	case <-t.Context().Done():
		t.Fatal("the hook never saw the stuck flow")
	}
	waitFlows(t, edge, 3)
	stuckUDP, err := c.net.DialUDPAddrPort(netip.AddrPort{}, stuck)
	if err != nil {
		t.Fatal(err)
	}
	defer stuckUDP.Close()
	writeDatagram(t, stuckUDP, "stuck")
	select {
	case <-udpHookEntered:
	case <-t.Context().Done():
		t.Fatal("the hook never saw the stuck UDP flow")
	}

	closed := make(chan struct{})
	go func() {
		edge.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-t.Context().Done():
		t.Fatal("Close did not return")
	}
	if err := <-handlerDone; err == nil {
		t.Fatal("the handler returned without its context ending")
	}
	for range 2 {
		if err := <-hookDone; err == nil {
			t.Fatal("the hook returned without its context ending")
		}
	}
	if err := edge.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	cancelDial()
	<-dialed
}

func TestCloseIdleEdge(t *testing.T) {
	checkLeaks(t)
	edge, err := New(Config{ListenAddr: netip.MustParseAddrPort("127.0.0.1:0")})
	if err != nil {
		t.Fatal(err)
	}
	if err := edge.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestNewFailsCleanlyWhenThePortIsTaken(t *testing.T) {
	checkLeaks(t)
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	taken := netip.MustParseAddrPort(pc.LocalAddr().String())
	_, err = New(Config{ListenAddr: taken})
	if err == nil || !strings.Contains(err.Error(), "free the port") {
		t.Fatalf("New on a taken port: %v", err)
	}
}

// gateHook holds each flow's verdict until released, telling when asked.
type gateHook struct{ asked, release chan struct{} }

func (h *gateHook) DecideFlow(ctx context.Context, f Flow) Verdict {
	h.asked <- struct{}{}
	<-h.release
	return forward
}

// TestCloseDuringUnackedHandshake: the device vanishes while its TCP
// handshake is pending at the edge, so no ACK ever comes. Close must still
// return promptly (REL5), not after gVisor's ~2 minutes of SYN-ACK retries.
func TestCloseDuringUnackedHandshake(t *testing.T) {
	srv := startServers(t)
	h := &gateHook{asked: make(chan struct{}, 1), release: make(chan struct{})}
	edge, err := New(Config{ListenAddr: netip.MustParseAddrPort("127.0.0.1:0"), Network: srv.network(), FlowHook: h})
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(t, edge, clientAddr, "dev-1")
	dialed := make(chan struct{})
	go func() {
		defer close(dialed)
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		c.dialTCP(ctx, echoAddr)
	}()
	<-h.asked
	c.close() // no ACK will ever come
	close(h.release)
	<-dialed
	done := make(chan struct{})
	go func() { edge.Close(); close(done) }()
	// The failure is Close waiting out gVisor's SYN-ACK retries (about two
	// minutes); half of that tells the two apart however busy the machine.
	const retries = time.Minute
	select {
	case <-done:
	case <-time.After(retries):
		t.Fatalf("Close blocked for %v on a half-open handshake: it waits for the SYN-ACK retries", retries)
	}
}

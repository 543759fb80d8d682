package wg

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// A device at its flow limit gets its new flows refused (TCP with a RST,
// UDP with ICMP) while another device still opens one, although the first
// asked for more than the total. The total still bounds them all.
func TestDeviceAtItsFlowLimitLeavesRoomForOthers(t *testing.T) {
	checkLeaks(t)
	srv := startServers(t)
	edge := newEdge(t, Config{Network: srv.network(), Limits: Limits{MaxFlows: 3, MaxFlowsPerDevice: 2}})
	a := newClient(t, edge, clientAddr, "dev-a")
	b := newClient(t, edge, client2Addr, "dev-b")

	tcpA, err := a.dialTCP(t.Context(), echoAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer tcpA.Close()
	echo(t, tcpA, "a's first flow")
	udpA, err := a.net.DialUDPAddrPort(netip.AddrPort{}, echoAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer udpA.Close()
	udpEcho(t, udpA, "a's second flow")

	expectRefused(t, a, echoAddr)
	udpA2, err := a.net.DialUDPAddrPort(netip.AddrPort{}, echoAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer udpA2.Close()
	expectUDPRefused(t, a, udpA2, "a's third flow")

	tcpB, err := b.dialTCP(t.Context(), echoAddr)
	if err != nil {
		t.Fatalf("device b could not open a flow while device a was at its limit: %v", err)
	}
	defer tcpB.Close()
	echo(t, tcpB, "b's flow")
	if byDevice, total := edge.flows.quota.holding("dev-a"); byDevice != 2 || total != 3 {
		t.Fatalf("flow quota holds %d for dev-a and %d in total; want 2 and 3", byDevice, total)
	}
	expectRefused(t, b, echoAddr) // the total is reached

	echo(t, tcpA, "a's flows still work")
	udpEcho(t, udpA, "a's flows still work")
	tcpA.Close()
	waitFlows(t, edge, 2)
	again, err := a.dialTCP(t.Context(), echoAddr)
	if err != nil {
		t.Fatalf("device a after one of its flows ended: %v", err)
	}
	defer again.Close()
	echo(t, again, "room again")
}

// gate holds the calls that enter it until it is released or their
// context ends.
type gate struct {
	entered chan struct{}
	release chan struct{}
}

func newGate() *gate { return &gate{entered: make(chan struct{}, 8), release: make(chan struct{})} }

func (g *gate) hold(ctx context.Context) {
	g.entered <- struct{}{}
	select {
	case <-g.release:
	case <-ctx.Done():
	}
}

// waitEntered waits until n calls are held.
func (g *gate) waitEntered(t testing.TB, n int) {
	t.Helper()
	for range n {
		select {
		case <-g.entered:
		case <-t.Context().Done():
			t.Fatal("the hook was not asked about device a's work")
		}
	}
}

// A device whose connection attempts all wait for the hook holds only its
// share of the pending slots: another device's SYN is still admitted.
func TestDeviceAtItsPendingTCPLimitLeavesRoomForOthers(t *testing.T) {
	checkLeaks(t)
	srv := startServers(t)
	g := newGate()
	hook := FlowHookFunc(func(ctx context.Context, f Flow) Verdict {
		if f.DeviceID == "dev-a" {
			g.hold(ctx)
		}
		return forward
	})
	log, logs := newLogWatch()
	edge := newEdge(t, Config{Network: srv.network(), FlowHook: hook, Logger: log,
		Limits: Limits{MaxPendingTCP: 3, MaxPendingTCPPerDevice: 2, HookTimeout: waitTimeout}})
	a := newClient(t, edge, clientAddr, "dev-a")
	b := newClient(t, edge, client2Addr, "dev-b")

	// Device a tries more connections than the total.
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var dials sync.WaitGroup
	defer dials.Wait()
	for range 4 {
		dials.Add(1)
		go func() {
			defer dials.Done()
			if c, err := a.dialTCP(ctx, echoAddr); err == nil {
				c.Close()
			}
		}()
	}
	g.waitEntered(t, 2)
	logs.wait(t, 2, "TCP SYN dropped", "device_id", "dev-a")
	if byDevice, total := edge.tcpWait.quota.holding("dev-a"); byDevice != 2 || total != 2 {
		t.Fatalf("pending quota holds %d for dev-a and %d in total; want 2 and 2", byDevice, total)
	}

	conn, err := b.dialTCP(t.Context(), echoAddr)
	if err != nil {
		t.Fatalf("device b could not connect while device a's attempts were pending: %v", err)
	}
	defer conn.Close()
	echo(t, conn, "b gets through")
	if n := logs.count("TCP SYN dropped", "device_id", "dev-b"); n != 0 {
		t.Fatalf("%d of device b's SYNs were dropped", n)
	}
	close(g.release)
	cancel()
}

// A device whose queries all hang holds only its share of the DNS slots:
// another device's queries, over UDP and TCP, are still answered.
func TestDeviceAtItsDNSLimitLeavesRoomForOthers(t *testing.T) {
	checkLeaks(t)
	srv := startServers(t)
	g := newGate()
	hook := DNSHookFunc(func(ctx context.Context, q DNSQuery) DNSDecision {
		if q.DeviceID == "dev-a" {
			g.hold(ctx)
		}
		return DNSDecision{}
	})
	log, logs := newLogWatch()
	edge := newEdge(t, Config{Network: srv.network(), DNSHook: hook, Logger: log,
		Limits: Limits{MaxDNSInFlight: 3, MaxDNSPerDevice: 2, HookTimeout: waitTimeout}})
	a := newClient(t, edge, clientAddr, "dev-a")
	b := newClient(t, edge, client2Addr, "dev-b")

	resolver := netip.AddrPortFrom(edge.Resolver(), 53)
	var conns []net.Conn
	for i := range 4 {
		conn, err := a.net.DialUDPAddrPort(netip.AddrPort{}, resolver)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conns = append(conns, conn)
		q := new(dns.Msg)
		q.SetQuestion("echo.acme.internal.", dns.TypeA)
		q.Id = uint16(100 + i)
		if err := (&dns.Conn{Conn: conn}).WriteMsg(q); err != nil {
			t.Fatal(err)
		}
	}
	g.waitEntered(t, 2)
	logs.wait(t, 2, "DNS query dropped", "device_id", "dev-a")

	for _, network := range []string{"udp", "tcp"} {
		r := exchange(t, b, edge, network, "echo.acme.internal.", dns.TypeA)
		if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
			t.Fatalf("device b's %s query while device a's hang: %v", network, r)
		}
	}
	close(g.release)
	// Wait for the two held answers: the client's stack must be quiet
	// before the cleanup closes it, because wireguard-go's tun/netstack
	// (the test client) closes its channel under a concurrent writer.
	answered := 0
	for _, c := range conns {
		_ = c.SetReadDeadline(time.Now().Add(waitTimeout))
		if _, err := (&dns.Conn{Conn: c}).ReadMsg(); err == nil {
			answered++
		}
	}
	if answered != 2 {
		t.Fatalf("%d of device a's queries were answered after the release; want the 2 the hook held", answered)
	}
}

// A device holds at most its share of the DNS-over-TCP connections: the
// ones past it are closed at once, and another device still connects
// although the first asked for more than the total.
func TestDeviceAtItsDNSConnLimitLeavesRoomForOthers(t *testing.T) {
	checkLeaks(t)
	srv := startServers(t)
	log, logs := newLogWatch()
	edge := newEdge(t, Config{Network: srv.network(), Logger: log,
		Limits: Limits{MaxDNSInFlight: 3, MaxDNSPerDevice: 2}})
	a := newClient(t, edge, clientAddr, "dev-a")
	b := newClient(t, edge, client2Addr, "dev-b")
	resolver := netip.AddrPortFrom(edge.Resolver(), 53)

	// Each connection is held open by the resolver for its idle timeout
	// (8s in miekg/dns) after the answer.
	var aConns []net.Conn
	for i := range 3 {
		conn, err := a.dialTCP(t.Context(), resolver)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if i < 2 {
			aConns = append(aConns, conn)
		}
		conn.SetDeadline(time.Now().Add(waitTimeout))
		r, err := queryOn(conn, "echo.acme.internal.")
		switch {
		case i < 2 && err != nil:
			t.Fatalf("device a's connection %d: %v", i, err)
		case i < 2 && (r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1):
			t.Fatalf("device a's connection %d: %v", i, r)
		case i == 2 && (err == nil || isTimeout(err)):
			t.Fatalf("device a's third connection: answer %v, error %v; want it closed", r, err)
		}
	}
	logs.wait(t, 1, "DNS-over-TCP connection closed", "device_id", "dev-a")

	conn, err := b.dialTCP(t.Context(), resolver)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(waitTimeout))
	if r, err := queryOn(conn, "echo.acme.internal."); err != nil || r.Rcode != dns.RcodeSuccess {
		t.Fatalf("device b's DNS-over-TCP query while device a holds its share: %v, %v", r, err)
	}
	// Device a's two connections still answer after b's did, so they held
	// their slots all along (the resolver's idle close is final): b was
	// answered from a slot of its own, not one a's idle timeout freed.
	for i, c := range aConns {
		c.SetDeadline(time.Now().Add(waitTimeout))
		if r, err := queryOn(c, "echo.acme.internal."); err != nil || r.Rcode != dns.RcodeSuccess {
			t.Fatalf("device a's connection %d after b's query: %v, %v; it was closed, so the test proved nothing", i, r, err)
		}
	}
}

// queryOn asks one A question on an open DNS connection; the caller sets
// the deadline.
func queryOn(conn net.Conn, name string) (*dns.Msg, error) {
	co := &dns.Conn{Conn: conn}
	q := new(dns.Msg)
	q.SetQuestion(name, dns.TypeA)
	if err := co.WriteMsg(q); err != nil {
		return nil, err
	}
	return co.ReadMsg()
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

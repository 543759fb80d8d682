package wg

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestTCPEchoThroughTunnel(t *testing.T) {
	for _, listen := range []string{"127.0.0.1:0", "[::1]:0", "0.0.0.0:0"} {
		t.Run(listen, func(t *testing.T) {
			checkLeaks(t)
			srv := startServers(t)
			h := newHook(forward)
			edge := newEdge(t, Config{ListenAddr: netip.MustParseAddrPort(listen), Network: srv.network(), FlowHook: h})
			c := newClient(t, edge, clientAddr, "dev-1")

			conn, err := c.dialTCP(t.Context(), echoAddr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			echo(t, conn, "hello through the tunnel")
			echo(t, conn, strings.Repeat("x", 100_000))

			calls := h.calls()
			if len(calls) != 1 {
				t.Fatalf("hook called %d times for one connection; want 1", len(calls))
			}
			f := calls[0]
			if f.Protocol != TCP || f.DeviceID != "dev-1" || f.Peer != c.key || f.Src.Addr() != clientAddr ||
				f.Dst != echoAddr || f.Upstream != srv.tcpEcho.Addr().String() || f.Service != "" {
				t.Fatalf("hook saw %+v", f)
			}
		})
	}
}

func TestTCPRefusedByHookIsReset(t *testing.T) {
	checkLeaks(t)
	srv := startServers(t)
	h := newHook(refuse)
	edge := newEdge(t, Config{Network: srv.network(), FlowHook: h})
	c := newClient(t, edge, clientAddr, "dev-1")
	expectRefused(t, c, echoAddr)
	if n := len(h.calls()); n != 1 {
		t.Fatalf("hook called %d times; want 1", n)
	}
}

func TestTCPWithoutUpstreamIsReset(t *testing.T) {
	checkLeaks(t)
	srv := startServers(t)
	h := newHook(forward)
	edge := newEdge(t, Config{Network: srv.network(), FlowHook: h})
	c := newClient(t, edge, clientAddr, "dev-1")
	expectRefused(t, c, noUpstream)
	calls := h.calls()
	if len(calls) != 1 || calls[0].Upstream != "" {
		t.Fatalf("hook saw %+v; want one flow with no upstream", calls)
	}
}

func TestTCPDeadUpstreamIsReset(t *testing.T) {
	checkLeaks(t)
	srv := startServers(t)
	nw := srv.network()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := l.Addr().String()
	l.Close()
	nw.Upstreams = append(nw.Upstreams, Upstream{Address: noUpstream, Protocol: TCP, Target: dead})
	edge := newEdge(t, Config{Network: nw})
	c := newClient(t, edge, clientAddr, "dev-1")
	expectRefused(t, c, noUpstream)
}

// S7: the hook decides new flows only; an established connection keeps
// working after it starts refusing.
func TestS7EstablishedTCPSurvivesRefusal(t *testing.T) {
	checkLeaks(t)
	srv := startServers(t)
	h := newHook(forward)
	edge := newEdge(t, Config{Network: srv.network(), FlowHook: h})
	c := newClient(t, edge, clientAddr, "dev-1")

	long, err := c.dialTCP(t.Context(), echoAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer long.Close()
	echo(t, long, "before")

	h.set(Verdict{Action: Refuse, Reason: "session_expired"})
	expectRefused(t, c, echoAddr)
	for i := range 50 {
		echo(t, long, fmt.Sprintf("after %d", i))
	}
	expectRefused(t, c, echoAddr)
	echo(t, long, "still")

	calls := h.calls()
	if len(calls) != 3 {
		t.Fatalf("hook called %d times for 3 connections; want 3", len(calls))
	}
}

func TestHookCalledOncePerTCPConnection(t *testing.T) {
	checkLeaks(t)
	srv := startServers(t)
	h := newHook(forward)
	edge := newEdge(t, Config{Network: srv.network(), FlowHook: h})
	c := newClient(t, edge, clientAddr, "dev-1")
	const n = 8
	ports := map[uint16]bool{}
	for i := range n {
		conn, err := c.dialTCP(t.Context(), echoAddr)
		if err != nil {
			t.Fatal(err)
		}
		for j := range 10 {
			echo(t, conn, fmt.Sprintf("conn %d line %d", i, j))
		}
		ports[netip.MustParseAddrPort(conn.LocalAddr().String()).Port()] = true
		conn.Close()
	}
	calls := h.calls()
	if len(calls) != n {
		t.Fatalf("hook called %d times for %d connections", len(calls), n)
	}
	for _, f := range calls {
		if !ports[f.Src.Port()] {
			t.Fatalf("hook saw source port %d, not one of the client's", f.Src.Port())
		}
	}
	waitFlows(t, edge, 0)
}

// The Gateway takes over connections to read HTTP on them: Handle gives the
// handler the device's connection and a dialer for the upstream.
func TestHandleVerdictGetsConnAndDialer(t *testing.T) {
	checkLeaks(t)
	srv := startServers(t)
	handled := make(chan Flow, 1)
	var edge *Server
	h := FlowHookFunc(func(ctx context.Context, f Flow) Verdict {
		return Verdict{Action: Handle, Reason: "inspect", Handler: func(ctx context.Context, client net.Conn, dial DialFunc) {
			br := bufio.NewReader(client)
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			up, err := dial(ctx)
			if err != nil {
				fmt.Fprintf(client, "dial: %v\n", err)
				return
			}
			local, _ := addrPortOf(up.LocalAddr())
			if got, ok := edge.FlowByUpstream(local); ok {
				handled <- got
			}
			fmt.Fprintf(up, "upstream saw %s", line)
			reply, _ := bufio.NewReader(up).ReadString('\n')
			fmt.Fprint(client, reply)
		}}
	})
	edge = newEdge(t, Config{Network: srv.network(), FlowHook: h})
	c := newClient(t, edge, clientAddr, "dev-1")
	conn, err := c.dialTCP(t.Context(), echoAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(waitTimeout))
	fmt.Fprintf(conn, "GET / HTTP/1.1\n")
	reply, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil || reply != "upstream saw GET / HTTP/1.1\n" {
		t.Fatalf("reply %q, %v", reply, err)
	}
	select {
	case f := <-handled:
		if f.DeviceID != "dev-1" {
			t.Fatalf("FlowByUpstream gave %+v", f)
		}
	default:
		t.Fatal("FlowByUpstream did not know the handler's upstream connection")
	}
}

func TestIPv6FlowsThroughTunnel(t *testing.T) {
	checkLeaks(t)
	srv := startServers(t)
	h := newHook(forward)
	echo6 := netip.MustParseAddrPort("[fd00::10]:7")
	nw := srv.network()
	nw.Upstreams = append(nw.Upstreams,
		Upstream{Address: echo6, Protocol: TCP, Target: srv.tcpEcho.Addr().String()},
		Upstream{Address: echo6, Protocol: UDP, Target: srv.udpEcho.LocalAddr().String()})
	edge := newEdge(t, Config{Network: nw, FlowHook: h})
	src6 := netip.MustParseAddr("fd00:96::2")
	c := newClient(t, edge, clientAddr, "dev-6", src6)

	conn, err := c.dialTCP(t.Context(), echo6)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	echo(t, conn, "over IPv6")
	u, err := c.net.DialUDPAddrPort(netip.AddrPort{}, echo6)
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	udpEcho(t, u, "datagram over IPv6")
	expectRefused(t, c, netip.MustParseAddrPort("[fd00::99]:7"))
	calls := h.calls()
	if len(calls) != 3 || calls[0].Src.Addr() != src6 || calls[0].DeviceID != "dev-6" || calls[1].Protocol != UDP {
		t.Fatalf("hook saw %+v", calls)
	}
}

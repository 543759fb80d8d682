package wg

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/ztagent/ztagent/internal/clock"
)

var epoch = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

func udpEcho(t testing.TB, c net.Conn, msg string) {
	t.Helper()
	c.SetDeadline(time.Now().Add(waitTimeout))
	writeDatagram(t, c, msg)
	buf := make([]byte, 2048)
	n, err := c.Read(buf)
	if err != nil || string(buf[:n]) != msg {
		t.Fatalf("echo of %q = %q, %v", msg, buf[:n], err)
	}
}

func TestUDPEchoThroughTunnel(t *testing.T) {
	checkLeaks(t)
	srv := startServers(t)
	h := newHook(forward)
	edge := newEdge(t, Config{Network: srv.network(), FlowHook: h})
	c := newClient(t, edge, clientAddr, "dev-1")

	conn, err := c.net.DialUDPAddrPort(netip.AddrPort{}, echoAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for i := range 20 {
		udpEcho(t, conn, fmt.Sprintf("datagram %d", i))
	}
	calls := h.calls()
	if len(calls) != 1 {
		t.Fatalf("hook called %d times for one UDP flow; want 1", len(calls))
	}
	if f := calls[0]; f.Protocol != UDP || f.DeviceID != "dev-1" || f.Dst != echoAddr || f.Upstream != srv.udpEcho.LocalAddr().String() {
		t.Fatalf("hook saw %+v", f)
	}
}

// A UDP flow is its 5-tuple until it has been idle for UDPIdleTimeout; the
// next datagram then starts a new flow, which the hook decides again.
func TestUDPFlowEndsWhenIdle(t *testing.T) {
	checkLeaks(t)
	srv := startServers(t)
	h := newHook(forward)
	fake := clock.NewFake(epoch)
	edge := newEdge(t, Config{Network: srv.network(), FlowHook: h, Clock: fake, Limits: Limits{UDPIdleTimeout: 30 * time.Second}})
	c := newClient(t, edge, clientAddr, "dev-1")
	conn, err := c.net.DialUDPAddrPort(netip.AddrPort{}, echoAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	udpEcho(t, conn, "first")
	if err := fake.WaitForTimers(t.Context(), 1); err != nil {
		t.Fatal(err)
	}
	fake.Advance(10 * time.Second)
	udpEcho(t, conn, "activity keeps it open")
	fake.Advance(20 * time.Second) // 30s after the start, 20s after the last datagram
	if err := fake.WaitForTimers(t.Context(), 1); err != nil {
		t.Fatal(err)
	}
	waitFlows(t, edge, 1)
	if n := len(h.calls()); n != 1 {
		t.Fatalf("hook called %d times before the flow went idle; want 1", n)
	}
	fake.Advance(10 * time.Second)
	waitFlows(t, edge, 0)

	udpEcho(t, conn, "a new flow")
	if n := len(h.calls()); n != 2 {
		t.Fatalf("hook called %d times; want 2 (the same 5-tuple after the idle timeout is a new flow)", n)
	}
}

func TestUDPRefusedIsRememberedForTheIdleTimeout(t *testing.T) {
	checkLeaks(t)
	srv := startServers(t)
	h := newHook(refuse)
	fake := clock.NewFake(epoch)
	edge := newEdge(t, Config{Network: srv.network(), FlowHook: h, Clock: fake, Limits: Limits{UDPIdleTimeout: 30 * time.Second}})
	c := newClient(t, edge, clientAddr, "dev-1")
	conn, err := c.net.DialUDPAddrPort(netip.AddrPort{}, echoAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	// Each refused datagram is answered with ICMP port unreachable.
	for i := range 3 {
		expectUDPRefused(t, c, conn, fmt.Sprintf("refused %d", i))
	}
	if n := len(h.calls()); n != 1 {
		t.Fatalf("hook called %d times for one refused UDP flow; want 1", n)
	}
	fake.Advance(30 * time.Second)
	h.set(forward)
	udpEcho(t, conn, "allowed after the refusal expired")
	if n := len(h.calls()); n != 2 {
		t.Fatalf("hook called %d times; want 2", n)
	}
}

func TestUDPWithoutUpstreamIsRefused(t *testing.T) {
	checkLeaks(t)
	srv := startServers(t)
	edge := newEdge(t, Config{Network: srv.network()})
	c := newClient(t, edge, clientAddr, "dev-1")
	conn, err := c.net.DialUDPAddrPort(netip.AddrPort{}, noUpstream)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	expectUDPRefused(t, c, conn, "nobody home")
}

// expectUDPRefused sends msg on conn and waits for the ICMP port
// unreachable that quotes it.
func expectUDPRefused(t testing.TB, c *client, conn net.Conn, msg string) {
	t.Helper()
	writeDatagram(t, conn, msg)
	ctx := t.Context()
	for {
		select {
		case p := <-c.unreachable:
			if bytes.Contains(p, []byte(msg)) {
				return
			}
		case <-ctx.Done():
			t.Fatalf("no ICMP port unreachable for %q", msg)
		}
	}
}

// writeDatagram sends msg. A client stack that got an ICMP error reports it
// on the next write, which then sends nothing; the write after goes out.
func writeDatagram(t testing.TB, c net.Conn, msg string) {
	t.Helper()
	_, err := c.Write([]byte(msg))
	if isRefused(err) {
		_, err = c.Write([]byte(msg))
	}
	if err != nil {
		t.Fatalf("write %q: %v", msg, err)
	}
}

// TestUDPHookHasAShortDeadline: a new UDP flow is decided on the device's
// packet path, so its hook call gets UDPHookTimeout, not HookTimeout.
func TestUDPHookHasAShortDeadline(t *testing.T) {
	checkLeaks(t)
	srv := startServers(t)
	budgets := make(chan time.Duration, 4)
	hook := FlowHookFunc(func(ctx context.Context, f Flow) Verdict {
		if dl, ok := ctx.Deadline(); ok && f.Protocol == UDP {
			budgets <- time.Until(dl)
		}
		return forward
	})
	edge := newEdge(t, Config{Network: srv.network(), FlowHook: hook,
		Limits: Limits{HookTimeout: time.Hour, UDPHookTimeout: 50 * time.Millisecond}})
	c := newClient(t, edge, clientAddr, "dev-1")
	conn, err := c.net.DialUDPAddrPort(netip.AddrPort{}, echoAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	udpEcho(t, conn, "decided quickly")
	if b := <-budgets; b > 50*time.Millisecond {
		t.Fatalf("UDP hook got %v to decide, want at most 50ms", b)
	}
}

package tunnel

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap/zaptest"
)

// TestTUNMode runs the agent in tun mode with its interface in a namespace
// the test creates (the device's UDP socket stays here and reaches the
// stand-in edge on loopback), and sends traffic through the TUN interface
// both ways: a client in the namespace to the edge's echo service, and the
// edge's netstack to a server in the namespace on the agent's address.
func TestTUNMode(t *testing.T) {
	needRoot(t, "ip")
	ns := newNetns(t)
	agent, edgeKey := newKeyPair(t), newKeyPair(t)
	e := startEdge(t, "edge-a", edgeKey, agent)
	ifname := uniqueName("zt")
	tun, err := New(context.Background(), e.config(agent), Options{
		Mode:          ModeTUN,
		InterfaceName: ifname,
		NetNS:         "/run/netns/" + ns,
		Logger:        zaptest.NewLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tun.Close() })
	if tun.InterfaceName() != ifname || tun.ProxyAddr() != "" {
		t.Fatalf("interface %q, proxy %q", tun.InterfaceName(), tun.ProxyAddr())
	}
	addrs := run(t, "ip", "-n", ns, "addr", "show", "dev", ifname)
	routes := run(t, "ip", "-n", ns, "route", "show", "dev", ifname)
	routes6 := run(t, "ip", "-n", ns, "-6", "route", "show", "dev", ifname)
	for _, want := range []string{"10.99.0.2/32", "fd00:99::2/128", "mtu 1420", ",UP"} {
		if !strings.Contains(addrs, want) {
			t.Errorf("ip addr show lacks %q:\n%s", want, addrs)
		}
	}
	if !strings.Contains(routes, "10.99.0.0/24") || !strings.Contains(routes6, "fd00:99::/64") {
		t.Errorf("routes:\n%s%s", routes, routes6)
	}

	// Namespace → edge.
	runInNetns(t, ns, "echo-client", "10.99.0.1:7")
	runInNetns(t, ns, "echo-client", "[fd00:99::1]:7")

	// Edge → namespace, to the agent's own address.
	srv := startInNetns(t, ns, "echo-server", "10.99.0.2:7000")
	srv.expect(t, "ready")
	ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
	defer cancel()
	c, err := e.tnet.DialContextTCPAddrPort(ctx, netip.AddrPortFrom(agentV4, 7000))
	if err != nil {
		t.Fatalf("edge → namespace: %v", err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(ioTimeout))
	checkEcho(t, c, "from the edge into the namespace")

	// Routes follow the allowed IPs on Reconfigure.
	cfg := e.config(agent)
	cfg.Tunnel.AllowedIPs = []string{"10.99.0.0/24", "192.0.2.0/24"}
	if err := tun.Reconfigure(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	routes = run(t, "ip", "-n", ns, "route", "show", "dev", ifname)
	routes6 = run(t, "ip", "-n", ns, "-6", "route", "show", "dev", ifname)
	if !strings.Contains(routes, "192.0.2.0/24") || strings.Contains(routes6, "fd00:99::/64") {
		t.Errorf("routes after Reconfigure:\n%s%s", routes, routes6)
	}

	if err := tun.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := net.InterfaceByName(ifname); err == nil {
		t.Error("the interface is in the host namespace after Close")
	}
	if out := run(t, "ip", "-n", ns, "link", "show"); strings.Contains(out, ifname) {
		t.Errorf("the interface outlived Close:\n%s", out)
	}
}

// TestTUNModeRefusesRoutingLoop needs no root: the check comes before the
// interface is created.
func TestTUNModeRefusesRoutingLoop(t *testing.T) {
	agent, edgeKey := newKeyPair(t), newKeyPair(t)
	e := startEdge(t, "edge-a", edgeKey, agent)
	cfg := e.config(agent)
	cfg.Tunnel.Endpoint = "192.0.2.7:2408"
	cfg.Tunnel.AllowedIPs = []string{"0.0.0.0/0"}
	_, err := New(context.Background(), cfg, Options{Mode: ModeTUN, InterfaceName: uniqueName("zt")})
	if err == nil || !strings.Contains(err.Error(), "route the tunnel into itself") {
		t.Fatalf("New: %v", err)
	}
}

// TestTUNModeClose checks the tun-mode Close path for leaked goroutines
// (wireguard-go's TUN reader, its netlink and status listeners). The edge
// connecting to a port nobody listens on in the namespace gets a reset from
// the namespace's kernel: a round trip through the interface without a
// helper process.
func TestTUNModeClose(t *testing.T) {
	needRoot(t, "ip")
	ns := newNetns(t)
	baseline := goleak.IgnoreCurrent()
	agent, edgeKey := newKeyPair(t), newKeyPair(t)
	e := startEdge(t, "edge-a", edgeKey, agent)
	tun, err := New(context.Background(), e.config(agent), Options{Mode: ModeTUN, InterfaceName: uniqueName("zt"), NetNS: "/run/netns/" + ns})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
	defer cancel()
	_, err = e.tnet.DialContextTCPAddrPort(ctx, netip.AddrPortFrom(agentV4, 9))
	if err == nil || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("dial a closed port in the namespace: %v, want connection refused", err)
	}
	if err := tun.Close(); err != nil {
		t.Fatal(err)
	}
	e.close()
	goleak.VerifyNone(t, baseline)
}

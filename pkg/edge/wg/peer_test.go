package wg

import (
	"context"
	"io"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/ztagent/ztagent/internal/wgkey"
)

func TestRemovePeerStopsItsFlows(t *testing.T) {
	checkLeaks(t)
	srv := startServers(t)
	h := newHook(forward)
	edge := newEdge(t, Config{Network: srv.network(), FlowHook: h})
	c := newClient(t, edge, clientAddr, "dev-1")
	other := newClient(t, edge, client2Addr, "dev-2")

	began := time.Now()
	conn, err := c.dialTCP(t.Context(), echoAddr)
	if err != nil {
		t.Fatal(err)
	}
	dialed := time.Since(began) // a handshake and a flow decision, as measured here
	defer conn.Close()
	echo(t, conn, "before removal")
	kept, err := other.dialTCP(t.Context(), echoAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer kept.Close()
	echo(t, kept, "other device")
	waitFlows(t, edge, 2)

	asked := len(h.calls())
	if err := edge.RemovePeer(c.key); err != nil {
		t.Fatal(err)
	}
	// Its open flow is ended at the edge; the other device's is not.
	waitFlows(t, edge, 1)
	echo(t, kept, "other device still works")

	// New flows cannot start: the edge drops the removed peer's packets,
	// so the dial can only time out. A peer still accepted would connect
	// within about one dial like the first (which also paid for the
	// WireGuard handshake); twenty of them leave room for a busier moment.
	t.Logf("a dial took %v; the removed peer's is given %v", dialed, 20*dialed)
	ctx, cancel := context.WithTimeout(context.Background(), 20*dialed)
	defer cancel()
	if late, err := c.dialTCP(ctx, echoAddr); err == nil {
		late.Close()
		t.Fatal("a removed peer opened a new connection")
	}
	if calls := h.calls(); len(calls) != asked {
		t.Fatalf("hook was asked about a removed peer's flow: %+v", calls[asked:])
	}
	if err := edge.RemovePeer(c.key); err != nil {
		t.Fatalf("removing a peer twice: %v", err)
	}
}

func TestFlowsCarryTheirDevice(t *testing.T) {
	checkLeaks(t)
	srv := startServers(t)
	h := newHook(forward)
	edge := newEdge(t, Config{Network: srv.network(), FlowHook: h})
	a := newClient(t, edge, clientAddr, "dev-a")
	b := newClient(t, edge, client2Addr, "dev-b")
	for _, c := range []*client{a, b, a} {
		conn, err := c.dialTCP(t.Context(), echoAddr)
		if err != nil {
			t.Fatal(err)
		}
		echo(t, conn, "who am I")
		conn.Close()
	}
	var got []string
	for _, f := range h.calls() {
		got = append(got, f.DeviceID)
	}
	if strings.Join(got, ",") != "dev-a,dev-b,dev-a" {
		t.Fatalf("flows carried devices %v", got)
	}

	// Adding a known key again updates its device.
	if err := edge.AddPeer(Peer{PublicKey: a.key, DeviceID: "dev-a2", Addresses: []netip.Prefix{netip.PrefixFrom(clientAddr, 32)}}); err != nil {
		t.Fatal(err)
	}
	conn, err := a.dialTCP(t.Context(), echoAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	echo(t, conn, "renamed")
	if calls := h.calls(); calls[len(calls)-1].DeviceID != "dev-a2" {
		t.Fatalf("after the update the flow carried %q", calls[len(calls)-1].DeviceID)
	}
}

func TestAddPeerRejectsBadPeers(t *testing.T) {
	checkLeaks(t)
	edge := newEdge(t, Config{})
	k1, k2 := wgkey.Public{1}, wgkey.Public{2}
	one := []netip.Prefix{netip.MustParsePrefix("100.96.0.2/32")}
	if err := edge.AddPeer(Peer{PublicKey: k1, DeviceID: "d1", Addresses: one}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		p    Peer
		want string
	}{
		{Peer{DeviceID: "d", Addresses: one}, "no public key"},
		{Peer{PublicKey: k2, Addresses: one}, "no device ID"},
		{Peer{PublicKey: k2, DeviceID: "d2"}, "no tunnel address"},
		{Peer{PublicKey: k2, DeviceID: "d2", Addresses: []netip.Prefix{{}}}, "invalid tunnel address"},
		{Peer{PublicKey: k2, DeviceID: "d2", Addresses: one}, "overlaps 100.96.0.2/32 of device d1"},
		{Peer{PublicKey: k2, DeviceID: "d2", Addresses: []netip.Prefix{netip.MustParsePrefix("100.96.0.0/24")}}, "overlaps"},
	} {
		err := edge.AddPeer(tc.p)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("AddPeer(%+v) = %v; want an error saying %q", tc.p, err, tc.want)
		}
	}
}

func TestPeerTableLookup(t *testing.T) {
	tab := newPeerTable()
	host := &Peer{PublicKey: wgkey.Public{1}, DeviceID: "host", Addresses: []netip.Prefix{netip.MustParsePrefix("100.96.0.2/32"), netip.MustParsePrefix("fd00::2/128")}}
	wide := &Peer{PublicKey: wgkey.Public{2}, DeviceID: "wide", Addresses: []netip.Prefix{netip.MustParsePrefix("10.9.0.0/16")}}
	for _, p := range []*Peer{host, wide} {
		if _, err := tab.put(p); err != nil {
			t.Fatal(err)
		}
	}
	for addr, want := range map[string]string{
		"100.96.0.2":        "host",
		"::ffff:100.96.0.2": "host",
		"fd00::2":           "host",
		"10.9.200.1":        "wide",
		"100.96.0.3":        "",
		"fd00::3":           "",
		"::ffff:10.9.0.1":   "wide",
		"2001:db8::1":       "",
	} {
		a, err := netip.ParseAddr(addr)
		if err != nil {
			continue
		}
		p, ok := tab.lookup(a)
		got := ""
		if ok {
			got = p.DeviceID
		}
		if got != want {
			t.Errorf("lookup(%s) = %q; want %q", addr, got, want)
		}
	}
	tab.remove(wide.PublicKey)
	if _, ok := tab.lookup(netip.MustParseAddr("10.9.200.1")); ok {
		t.Fatal("a removed wide peer still matched")
	}
}

// AddPeer for a known key with another device ID (a re-registration) or
// other addresses is another identity: the flows decided for the old one
// end, as on RemovePeer, and new flows carry the new identity. The same
// identity again changes nothing.
func TestAddPeerUpdateEndsTheOldIdentitysFlows(t *testing.T) {
	checkLeaks(t)
	srv := startServers(t)
	h := newHook(forward)
	edge := newEdge(t, Config{Network: srv.network(), FlowHook: h})
	a := newClient(t, edge, clientAddr, "dev-a")
	other := newClient(t, edge, client2Addr, "dev-b")
	only := []netip.Prefix{netip.PrefixFrom(clientAddr, 32)}

	tcpA, err := a.dialTCP(t.Context(), echoAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer tcpA.Close()
	echo(t, tcpA, "before the update")
	udpA, err := a.net.DialUDPAddrPort(netip.AddrPort{}, echoAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer udpA.Close()
	udpEcho(t, udpA, "before the update")
	kept, err := other.dialTCP(t.Context(), echoAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer kept.Close()
	echo(t, kept, "another device")
	waitFlows(t, edge, 3)

	// The same identity: the flows go on (the edge would have closed
	// them by now, since ending a flow closes its conns at once).
	if err := edge.AddPeer(Peer{PublicKey: a.key, DeviceID: "dev-a", Addresses: only}); err != nil {
		t.Fatal(err)
	}
	echo(t, tcpA, "after the same identity again")
	udpEcho(t, udpA, "after the same identity again")
	if n := len(h.calls()); n != 3 {
		t.Fatalf("hook asked %d times; want 3 (no flow started again)", n)
	}

	// A new device ID for the key.
	if err := edge.AddPeer(Peer{PublicKey: a.key, DeviceID: "dev-a2", Addresses: only}); err != nil {
		t.Fatal(err)
	}
	waitFlows(t, edge, 1)
	echo(t, kept, "the other device's flow is untouched")
	tcpA.SetDeadline(time.Now().Add(waitTimeout))
	if _, err := io.ReadAll(tcpA); err != nil && !isReset(err) {
		t.Fatalf("the old identity's TCP connection: %v; want it ended", err)
	}
	udpEcho(t, udpA, "a new flow for the new identity")
	renamed, err := a.dialTCP(t.Context(), echoAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer renamed.Close()
	echo(t, renamed, "after the update")
	calls := h.calls()
	if len(calls) != 5 || calls[3].DeviceID != "dev-a2" || calls[3].Protocol != UDP || calls[4].DeviceID != "dev-a2" {
		t.Fatalf("after the update the hook saw %+v; want a UDP and a TCP flow of dev-a2", calls[3:])
	}
	waitFlows(t, edge, 3)

	// The same device at other addresses.
	more := append(only, netip.MustParsePrefix("100.96.0.9/32"))
	if err := edge.AddPeer(Peer{PublicKey: a.key, DeviceID: "dev-a2", Addresses: more}); err != nil {
		t.Fatal(err)
	}
	waitFlows(t, edge, 1)
	echo(t, kept, "the other device's flow is untouched")
}

func isReset(err error) bool {
	return strings.Contains(err.Error(), "reset") || strings.Contains(err.Error(), "closed")
}

// The indexed overlap check finds every kind of overlap the full scan
// found: one address on another, a wide prefix over an address (either
// way round), two wide prefixes, across IPv4 and IPv6; a peer replacing
// itself never clashes with its own addresses.
func TestPeerTableOverlaps(t *testing.T) {
	pfx := netip.MustParsePrefix
	tab := newPeerTable()
	for i, p := range []*Peer{
		{PublicKey: wgkey.Public{1}, DeviceID: "host", Addresses: []netip.Prefix{pfx("100.96.0.2/32"), pfx("fd00::2/128")}},
		{PublicKey: wgkey.Public{2}, DeviceID: "wide", Addresses: []netip.Prefix{pfx("10.9.0.0/16"), pfx("100.96.1.9/32")}},
	} {
		if _, err := tab.put(p); err != nil {
			t.Fatalf("peer %d: %v", i, err)
		}
	}
	for _, tc := range []struct {
		addr, clashes string
	}{
		{"100.96.0.2/32", "100.96.0.2/32 of device host"},
		{"fd00::2/128", "fd00::2/128 of device host"},
		{"100.96.0.0/24", "100.96.0.2/32 of device host"}, // a wide prefix over an address
		{"10.9.3.4/32", "10.9.0.0/16 of device wide"},     // an address inside a wide prefix
		{"10.0.0.0/8", "10.9.0.0/16 of device wide"},      // two wide prefixes
		{"10.9.200.0/24", "10.9.0.0/16 of device wide"},
		{"100.96.1.9/32", "100.96.1.9/32 of device wide"}, // a wide peer's own single address
	} {
		_, err := tab.put(&Peer{PublicKey: wgkey.Public{9}, DeviceID: "new", Addresses: []netip.Prefix{pfx(tc.addr)}})
		if err == nil || !strings.Contains(err.Error(), "overlaps "+tc.clashes) {
			t.Errorf("%s: %v; want it to overlap %s", tc.addr, err, tc.clashes)
		}
	}
	for _, free := range []string{"100.96.0.3/32", "fd00::3/128", "10.10.0.0/16", "100.96.2.0/24"} {
		k := wgkey.Public{byte(10 + len(free))}
		if _, err := tab.put(&Peer{PublicKey: k, DeviceID: "free " + free, Addresses: []netip.Prefix{pfx(free)}}); err != nil {
			t.Errorf("%s is free: %v", free, err)
		}
		tab.remove(k)
	}
	// The same peer at its own addresses again.
	if _, err := tab.put(&Peer{PublicKey: wgkey.Public{2}, DeviceID: "wide", Addresses: []netip.Prefix{pfx("10.9.0.0/16"), pfx("100.96.1.9/32")}}); err != nil {
		t.Errorf("a peer put again: %v", err)
	}
}

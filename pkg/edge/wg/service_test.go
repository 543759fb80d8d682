package wg

import (
	"bufio"
	"net"
	"net/netip"
	"testing"
	"time"
)

// S15: the team domain and the IdP stay reachable by name through the
// tunnel, whatever the hooks say.
func TestS15EdgeServicesPassWhenEverythingIsRefused(t *testing.T) {
	checkLeaks(t)
	srv := startServers(t)
	h := newHook(refuse)
	rec := &dnsRecorder{block: map[string]bool{"*": true}}
	edge := newEdge(t, Config{Network: srv.network(), FlowHook: h, DNSHook: rec})
	c := newClient(t, edge, clientAddr, "dev-1")

	addrs, err := c.net.LookupContextHost(t.Context(), "acme.localhost")
	if err != nil || len(addrs) != 1 {
		t.Fatalf("lookup of the team domain: %v, %v", addrs, err)
	}
	ip := netip.MustParseAddr(addrs[0])
	if ip != teamAddr.Addr() {
		t.Fatalf("team domain resolved to %v; want %v", ip, teamAddr.Addr())
	}
	conn, err := c.dialTCP(t.Context(), netip.AddrPortFrom(ip, teamAddr.Port()))
	if err != nil {
		t.Fatalf("dial the team domain through the tunnel: %v", err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(waitTimeout))
	greeting, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil || greeting != "team domain\n" {
		t.Fatalf("team domain said %q, %v", greeting, err)
	}

	// The team domain can tell which device the connection came from.
	var upstream net.Conn
	select {
	case upstream = <-srv.teamConn:
	case <-t.Context().Done():
		t.Fatal("the team domain never saw the connection")
	}
	from := netip.MustParseAddrPort(upstream.RemoteAddr().String())
	f, ok := edge.FlowByUpstream(from)
	if !ok || f.DeviceID != "dev-1" || f.Service != "acme.localhost" || f.Dst != teamAddr {
		t.Fatalf("FlowByUpstream(%v) = %+v, %v", from, f, ok)
	}

	if n := len(h.calls()); n != 0 {
		t.Fatalf("the flow hook was asked %d times about edge services", n)
	}
	for _, q := range rec.seen() {
		if q.Name == "acme.localhost" {
			t.Fatalf("the DNS hook was asked about the team domain: %+v", q)
		}
	}
	// Everything else is refused.
	expectRefused(t, c, echoAddr)
	addrs, err = c.net.LookupContextHost(t.Context(), "echo.acme.internal")
	if err != nil || len(addrs) != 1 || addrs[0] != "0.0.0.0" {
		t.Fatalf("blocked name resolved to %v, %v; want 0.0.0.0", addrs, err)
	}
}

func TestServiceForURL(t *testing.T) {
	target := netip.MustParseAddrPort("127.0.0.1:8781")
	s, err := ServiceForURL("http://acme.localhost:8781", DefaultResolver, target)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Names) != 1 || s.Names[0] != "acme.localhost" || s.Address != teamAddr || s.Target != "127.0.0.1:8781" {
		t.Fatalf("ServiceForURL = %+v", s)
	}
	if s, err := ServiceForURL("https://idp.example", DefaultResolver, target); err != nil || s.Address.Port() != 443 {
		t.Fatalf("https default port: %+v, %v", s, err)
	}
	for _, bad := range []string{"ftp://x", "http://:80", "http://x:0", "http://x:99999", "://"} {
		if _, err := ServiceForURL(bad, DefaultResolver, target); err == nil {
			t.Errorf("ServiceForURL(%q) accepted", bad)
		}
	}
}

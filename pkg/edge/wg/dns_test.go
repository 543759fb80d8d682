package wg

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// exchange asks the edge resolver one question through the tunnel, over
// UDP or TCP.
func exchange(t testing.TB, c *client, edge *Server, network, name string, qtype uint16) *dns.Msg {
	t.Helper()
	resolver := netip.AddrPortFrom(edge.Resolver(), 53)
	var conn net.Conn
	var err error
	if network == "tcp" {
		conn, err = c.dialTCP(t.Context(), resolver)
	} else {
		conn, err = c.net.DialUDPAddrPort(netip.AddrPort{}, resolver)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(waitTimeout))
	co := &dns.Conn{Conn: conn}
	q := new(dns.Msg)
	q.SetQuestion(name, qtype)
	if err := co.WriteMsg(q); err != nil {
		t.Fatal(err)
	}
	r, err := co.ReadMsg()
	if err != nil {
		t.Fatalf("%s query for %s: %v", network, name, err)
	}
	if r.Id != q.Id {
		t.Fatalf("reply id %d for query %d", r.Id, q.Id)
	}
	return r
}

// answerAddrs returns the A and AAAA addresses of r.
func answerAddrs(r *dns.Msg) []string {
	var out []string
	for _, rr := range r.Answer {
		switch rr := rr.(type) {
		case *dns.A:
			out = append(out, rr.A.String())
		case *dns.AAAA:
			out = append(out, rr.AAAA.String())
		}
	}
	return out
}

func TestDNSThroughTunnel(t *testing.T) {
	checkLeaks(t)
	srv := startServers(t)
	h := newHook(forward)
	edge := newEdge(t, Config{Network: srv.network(), FlowHook: h})
	c := newClient(t, edge, clientAddr, "dev-1")

	for _, network := range []string{"udp", "tcp"} {
		for _, tc := range []struct {
			name  string
			qtype uint16
			rcode int
			want  []string
		}{
			{"echo.acme.internal.", dns.TypeA, dns.RcodeSuccess, []string{"10.0.0.10"}},
			{"ECHO.Acme.Internal.", dns.TypeA, dns.RcodeSuccess, []string{"10.0.0.10"}},
			{"echo.acme.internal.", dns.TypeAAAA, dns.RcodeSuccess, nil},
			{"dual.acme.internal.", dns.TypeAAAA, dns.RcodeSuccess, []string{"fd00::10"}},
			{"dual.acme.internal.", dns.TypeMX, dns.RcodeSuccess, nil},
			{"nope.acme.internal.", dns.TypeA, dns.RcodeNameError, nil},
			{"acme.localhost.", dns.TypeA, dns.RcodeSuccess, []string{DefaultResolver.String()}},
		} {
			r := exchange(t, c, edge, network, tc.name, tc.qtype)
			if r.Rcode != tc.rcode || !slices.Equal(answerAddrs(r), tc.want) {
				t.Errorf("%s %s %s: rcode %s answers %v; want %s %v", network, tc.name, dns.TypeToString[tc.qtype],
					dns.RcodeToString[r.Rcode], answerAddrs(r), dns.RcodeToString[tc.rcode], tc.want)
			}
		}
	}

	// The stock netstack's resolver, pointed at the edge resolver, works.
	addrs, err := c.net.LookupContextHost(t.Context(), "echo.acme.internal")
	if err != nil || !slices.Equal(addrs, []string{"10.0.0.10"}) {
		t.Fatalf("LookupContextHost = %v, %v", addrs, err)
	}
	_, err = c.net.LookupContextHost(t.Context(), "nope.acme.internal")
	var dnsErr *net.DNSError
	if !errors.As(err, &dnsErr) || !dnsErr.IsNotFound {
		t.Fatalf("lookup of an unknown name: %v; want not found", err)
	}
	if n := len(h.calls()); n != 0 {
		t.Fatalf("DNS traffic reached the flow hook %d times", n)
	}
}

type dnsRecorder struct {
	mu      sync.Mutex
	queries []DNSQuery
	block   map[string]bool
}

func (d *dnsRecorder) DecideDNS(ctx context.Context, q DNSQuery) DNSDecision {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.queries = append(d.queries, q)
	if d.block[q.Name] || d.block["*"] {
		return DNSDecision{Action: Block, Reason: "test blocks"}
	}
	return DNSDecision{}
}

func (d *dnsRecorder) seen() []DNSQuery {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]DNSQuery(nil), d.queries...)
}

func TestDNSHookBlocks(t *testing.T) {
	checkLeaks(t)
	srv := startServers(t)
	rec := &dnsRecorder{block: map[string]bool{"dual.acme.internal": true, "nope.acme.internal": true}}
	edge := newEdge(t, Config{Network: srv.network(), DNSHook: rec})
	c := newClient(t, edge, clientAddr, "dev-7")

	for _, tc := range []struct {
		name  string
		qtype uint16
		want  []string
	}{
		{"dual.acme.internal.", dns.TypeA, []string{"0.0.0.0"}},
		{"dual.acme.internal.", dns.TypeAAAA, []string{"::"}},
		{"nope.acme.internal.", dns.TypeA, []string{"0.0.0.0"}}, // blocked beats unknown
		{"echo.acme.internal.", dns.TypeA, []string{"10.0.0.10"}},
	} {
		r := exchange(t, c, edge, "udp", tc.name, tc.qtype)
		if r.Rcode != dns.RcodeSuccess || !slices.Equal(answerAddrs(r), tc.want) {
			t.Errorf("%s %s: rcode %s answers %v; want %v", tc.name, dns.TypeToString[tc.qtype],
				dns.RcodeToString[r.Rcode], answerAddrs(r), tc.want)
		}
	}
	seen := rec.seen()
	if len(seen) != 4 {
		t.Fatalf("DNS hook saw %d queries; want 4", len(seen))
	}
	if q := seen[0]; q.DeviceID != "dev-7" || q.Peer != c.key || q.Name != "dual.acme.internal" || q.Type != dns.TypeA || q.Src.Addr() != clientAddr {
		t.Fatalf("DNS hook saw %+v", q)
	}
}

func TestDNSRefusesStrangers(t *testing.T) {
	checkLeaks(t)
	srv := startServers(t)
	edge := newEdge(t, Config{Network: srv.network()})
	c := newClient(t, edge, clientAddr, "dev-1")
	// A peer whose allowed IPs cover an address its device record does not
	// name cannot exist; simulate a query from an unknown source by
	// removing the mapping while keeping the WireGuard peer.
	edge.peers.remove(c.key)
	r := exchange(t, c, edge, "udp", "echo.acme.internal.", dns.TypeA)
	if r.Rcode != dns.RcodeRefused {
		t.Fatalf("query from no device: rcode %s; want REFUSED", dns.RcodeToString[r.Rcode])
	}
}

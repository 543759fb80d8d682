package tunnel

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
	"go.uber.org/zap"
)

// resolverFor returns a resolver over tun's stack that asks servers.
func resolverFor(t *testing.T, tun *Tunnel, servers ...netip.AddrPort) *tunnelResolver {
	t.Helper()
	l, ok := tun.link.(*netstackLink)
	if !ok {
		t.Fatalf("the tunnel's link is a %T, not the netstack", tun.link)
	}
	r := *l.dns
	r.servers = servers
	return &r
}

// serveDNSOn runs a DNS server on the stand-in edge at ap (UDP, and TCP when
// tcp is set) with handler h.
func (e *edge) serveDNSOn(t *testing.T, ap netip.AddrPort, tcp bool, h dns.HandlerFunc) {
	t.Helper()
	pc, err := e.tnet.ListenUDPAddrPort(ap)
	if err != nil {
		t.Fatal(err)
	}
	servers := []*dns.Server{{PacketConn: pc, Handler: h}}
	if tcp {
		ln, err := e.tnet.ListenTCPAddrPort(ap)
		if err != nil {
			t.Fatal(err)
		}
		servers = append(servers, &dns.Server{Listener: ln, Handler: h})
	}
	for _, srv := range servers {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		e.wg.Go(func() { srv.ActivateAndServe() })
		<-started
		e.onClose(func() { srv.Shutdown() })
	}
}

func TestResolverAsksAAndAAAA(t *testing.T) {
	agent, edgeKey := newKeyPair(t), newKeyPair(t)
	e := startEdge(t, "edge-a", edgeKey, agent)
	tun := startTunnel(t, e, agent, Options{Logger: zap.NewNop()})
	got, err := resolverFor(t, tun, netip.AddrPortFrom(edgeV4, 53)).lookup(t.Context(), nameEcho)
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(got, netip.Addr.Compare)
	if want := []netip.Addr{edgeV4, edgeV6}; !slices.Equal(got, want) {
		t.Fatalf("lookup(%s) = %v, want %v", nameEcho, got, want)
	}
}

func TestResolverNotFound(t *testing.T) {
	agent, edgeKey := newKeyPair(t), newKeyPair(t)
	e := startEdge(t, "edge-a", edgeKey, agent)
	tun := startTunnel(t, e, agent, Options{Logger: zap.NewNop()})
	_, err := resolverFor(t, tun, netip.AddrPortFrom(edgeV4, 53)).lookup(t.Context(), "nothing.edge.test")
	var de *net.DNSError
	if !errors.As(err, &de) || !de.IsNotFound {
		t.Fatalf("lookup of an unknown name: %v, want a not-found DNSError", err)
	}
	_, err = tun.DialContext(t.Context(), "tcp", "nothing.edge.test:80")
	if err == nil || !strings.Contains(err.Error(), "cannot resolve nothing.edge.test through the tunnel's DNS: no such host") {
		t.Fatalf("DialContext to an unknown name: %v", err)
	}
}

// TestResolverTriesTheNextServer checks that a server answering SERVFAIL
// does not end the lookup while another server can answer.
func TestResolverTriesTheNextServer(t *testing.T) {
	agent, edgeKey := newKeyPair(t), newKeyPair(t)
	e := startEdge(t, "edge-a", edgeKey, agent)
	broken := netip.AddrPortFrom(edgeV4, 5301)
	var asked atomic.Int64
	e.serveDNSOn(t, broken, false, func(w dns.ResponseWriter, q *dns.Msg) {
		asked.Add(1)
		m := new(dns.Msg)
		m.SetRcode(q, dns.RcodeServerFailure)
		w.WriteMsg(m)
	})
	tun := startTunnel(t, e, agent, Options{Logger: zap.NewNop()})
	r := resolverFor(t, tun, broken, netip.AddrPortFrom(edgeV4, 53))
	got, err := r.lookup(t.Context(), nameWeb)
	if err != nil || !slices.Equal(got, []netip.Addr{edgeV4}) {
		t.Fatalf("lookup(%s) = %v, %v; want [%v]", nameWeb, got, err, edgeV4)
	}
	if asked.Load() == 0 {
		t.Fatal("the failing server was never asked")
	}
	r.servers = []netip.AddrPort{broken}
	_, err = r.lookup(t.Context(), nameWeb)
	if err == nil || !strings.Contains(err.Error(), "answered SERVFAIL") {
		t.Fatalf("lookup with only a failing server: %v, want it to say SERVFAIL", err)
	}
}

// TestResolverTruncatedAnswerUsesTCP checks that an answer truncated over
// UDP is asked again over TCP.
func TestResolverTruncatedAnswerUsesTCP(t *testing.T) {
	agent, edgeKey := newKeyPair(t), newKeyPair(t)
	e := startEdge(t, "edge-a", edgeKey, agent)
	srv := netip.AddrPortFrom(edgeV4, 5300)
	var overTCP atomic.Int64
	many := make([]netip.Addr, 100)
	for i := range many {
		many[i] = netip.AddrFrom4([4]byte{10, 99, 1, byte(i)})
	}
	e.serveDNSOn(t, srv, true, func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		if _, udp := w.RemoteAddr().(*net.UDPAddr); udp {
			m.Truncated = true
			w.WriteMsg(m)
			return
		}
		overTCP.Add(1)
		if q.Question[0].Qtype == dns.TypeA {
			for _, a := range many {
				m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: a.AsSlice()})
			}
		}
		w.WriteMsg(m)
	})
	tun := startTunnel(t, e, agent, Options{Logger: zap.NewNop()})
	got, err := resolverFor(t, tun, srv).lookup(t.Context(), "big.edge.test")
	if err != nil {
		t.Fatal(err)
	}
	if overTCP.Load() == 0 || len(got) != len(many) {
		t.Fatalf("got %d addresses with %d TCP queries, want %d addresses over TCP", len(got), overTCP.Load(), len(many))
	}
}

// TestResolverHonoursCancellation checks that a lookup waiting for a server
// that never answers returns when its context ends, in the caller's
// goroutine: with a minute per attempt, it returns context.Canceled before
// its first attempt could have timed out. Nothing measures how fast.
func TestResolverHonoursCancellation(t *testing.T) {
	agent, edgeKey := newKeyPair(t), newKeyPair(t)
	e := startEdge(t, "edge-a", edgeKey, agent)
	tun := startTunnel(t, e, agent, Options{Logger: zap.NewNop()})
	r := resolverFor(t, tun, netip.AddrPortFrom(silentDNS, 53))
	r.timeout = time.Minute
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	queried := make(chan bool, 1)
	go func() {
		select {
		case <-e.silentQuery:
			queried <- true
		case <-time.After(ioTimeout):
			queried <- false
		}
		cancel()
	}()
	// The attempt's deadline is set later than this, when it starts.
	start := time.Now()
	attemptDeadline := start.Add(r.timeout)
	_, err := r.lookup(ctx, nameEcho)
	returned := time.Now()
	if !<-queried {
		t.Fatal("the query never reached the DNS server")
	}
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("lookup after cancel: %v, want context.Canceled", err)
	}
	if !returned.Before(attemptDeadline) {
		t.Fatalf("lookup returned %v after it started, past its attempt's %v timeout: it waited for the timeout, not for its context", returned.Sub(start), r.timeout)
	}
}

func TestResolverTimeoutSaysWhichServer(t *testing.T) {
	agent, edgeKey := newKeyPair(t), newKeyPair(t)
	e := startEdge(t, "edge-a", edgeKey, agent)
	tun := startTunnel(t, e, agent, Options{Logger: zap.NewNop()})
	r := resolverFor(t, tun, netip.AddrPortFrom(silentDNS, 53))
	r.timeout = 50 * time.Millisecond
	_, err := r.lookup(t.Context(), nameEcho)
	var de *net.DNSError
	if !errors.As(err, &de) || !de.IsTimeout || !strings.Contains(err.Error(), "no answer from the tunnel's DNS server "+silentDNS.String()) {
		t.Fatalf("lookup from a silent server: %v", err)
	}
}

func TestResolverRefusesBadNames(t *testing.T) {
	r := &tunnelResolver{servers: []netip.AddrPort{netip.MustParseAddrPort("10.0.0.1:53")}}
	for _, name := range []string{"", ".", "a..b", strings.Repeat("x", 64) + ".test"} {
		if _, err := r.lookup(context.Background(), name); err == nil || !strings.Contains(err.Error(), "not a valid domain name") {
			t.Errorf("lookup(%q) = %v, want it refused as not a valid domain name", name, err)
		}
	}
	if _, err := (&tunnelResolver{}).lookup(context.Background(), "x.test"); !errors.Is(err, errNoTunnelDNS) {
		t.Errorf("lookup without servers: %v, want errNoTunnelDNS", err)
	}
}

package gateway

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	"go.uber.org/zap"

	"github.com/ztagent/ztagent/internal/wgkey"
	"github.com/ztagent/ztagent/pkg/edge/wg"
	"github.com/ztagent/ztagent/pkg/policy"
	"github.com/ztagent/ztagent/pkg/session"
	"github.com/ztagent/ztagent/pkg/tunnel"
)

var (
	resolverIP = netip.MustParseAddr("100.96.0.1")
	agentAddr  = netip.MustParsePrefix("100.96.0.2/32")
)

// tunnelEnv is a real edge (pkg/edge/wg) whose hooks are the Gateway, and
// the real agent tunnel (pkg/tunnel) registered with it as alice's
// dev-alice, over a WireGuard handshake on loopback UDP.
type tunnelEnv struct {
	*fixture
	edge *wg.Server
	tun  *tunnel.Tunnel
	git  *upstream
}

func startTunnelEnv(t *testing.T, p Policies, tweaks ...func(*Options)) *tunnelEnv {
	t.Helper()
	echo := startEcho(t)
	git := startUpstream(t)
	network := wg.Network{
		Resolver: resolverIP,
		Records: []wg.Record{
			{Name: "wiki.acme.internal", Addresses: []netip.Addr{wikiIP}},
			{Name: "git.acme.internal", Addresses: []netip.Addr{gitIP}},
			{Name: "tracker.example.net", Addresses: []netip.Addr{netip.MustParseAddr("10.0.0.99")}},
		},
		Upstreams: []wg.Upstream{
			{Address: wikiSSH, Protocol: wg.TCP, Target: echo},
			{Address: gitHTTP, Protocol: wg.TCP, Target: git.addr()},
		},
	}
	f := newFixture(t, p, append([]func(*Options){func(o *Options) { o.Network = network }}, tweaks...)...)
	edge, err := wg.New(wg.Config{
		ListenAddr: netip.MustParseAddrPort("127.0.0.1:0"),
		Network:    network,
		FlowHook:   f.g,
		DNSHook:    f.g,
		// Not zaptest: wireguard-go's peer goroutines have been seen
		// logging just after the edge's Close returned, which zaptest
		// turns into a panic of the next test.
		Logger: zap.NewNop(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { edge.Close() })

	agentKey, err := wgkey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	agentPub := agentKey.Public()
	if err := edge.AddPeer(wg.Peer{PublicKey: agentPub, DeviceID: "dev-alice", Addresses: []netip.Prefix{agentAddr}}); err != nil {
		t.Fatal(err)
	}
	tun, err := tunnel.New(t.Context(), tunnel.Config{
		PrivateKey: agentKey,
		Tunnel: session.Tunnel{
			Endpoint:      edge.Addr().String(),
			EdgePublicKey: edge.PublicKey().String(),
			Addresses:     []string{agentAddr.String()},
			DNS:           []string{resolverIP.String()},
			AllowedIPs:    []string{"10.0.0.0/8", "100.96.0.0/12"},
			MTU:           1280,
		},
	}, tunnel.Options{Mode: tunnel.ModeProxy, ProxyAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tun.Close() })
	return &tunnelEnv{fixture: f, edge: edge, tun: tun, git: git}
}

func startEcho(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wait sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wait.Add(1)
	go func() {
		defer wait.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wait.Add(1)
			go func() { defer wait.Done(); defer c.Close(); io.Copy(c, c) }()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wait.Wait()
	})
	return l.Addr().String()
}

func (e *tunnelEnv) dial(t *testing.T, addr string) (net.Conn, error) {
	t.Helper()
	c, err := e.tun.DialContext(t.Context(), "tcp", addr)
	if err == nil {
		c.SetDeadline(time.Now().Add(waitTimeout))
		t.Cleanup(func() { c.Close() })
	}
	return c, err
}

func echoLine(t *testing.T, c net.Conn, br *bufio.Reader, line string) {
	t.Helper()
	if _, err := fmt.Fprintf(c, "%s\n", line); err != nil {
		t.Fatalf("write: %v", err)
	}
	if got, err := br.ReadString('\n'); err != nil || got != line+"\n" {
		t.Fatalf("echo of %q = %q, %v", line, got, err)
	}
}

// lookup asks the edge resolver through the tunnel, over DNS-over-TCP.
func (e *tunnelEnv) lookup(t *testing.T, name string) []string {
	t.Helper()
	c, err := e.dial(t, netip.AddrPortFrom(resolverIP, 53).String())
	if err != nil {
		t.Fatalf("dial the edge resolver: %v", err)
	}
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), dns.TypeA)
	dc := &dns.Conn{Conn: c}
	if err := dc.WriteMsg(m); err != nil {
		t.Fatal(err)
	}
	r, err := dc.ReadMsg()
	if err != nil {
		t.Fatalf("DNS answer for %s: %v", name, err)
	}
	var out []string
	for _, rr := range r.Answer {
		if a, ok := rr.(*dns.A); ok {
			out = append(out, a.A.String())
		}
	}
	return out
}

func shortWiki() policy.Rule {
	r := wikiRule
	r.Session = &policy.CheckSession{Enforce: true, Duration: 2 * time.Second}
	return r
}

// TestS3_S7_ThroughTheTunnel: the seed's wiki policy with a 2s duration,
// on simulated time. A connection opened in time keeps echoing after the
// session expired (S7), a new one is refused (S3), the device is signalled
// once, DNS still resolves (S6), and re-authentication lets new flows in.
func TestS3_S7_ThroughTheTunnel(t *testing.T) {
	e := startTunnelEnv(t, policies(shortWiki(), trackerRule))
	open, err := e.dial(t, "wiki.acme.internal:22")
	if err != nil {
		t.Fatalf("dial the wiki with a fresh session: %v", err)
	}
	br := bufio.NewReader(open)
	echoLine(t, open, br, "before expiry")

	e.clock.Advance(3 * time.Second)
	echoLine(t, open, br, "after expiry, same connection") // S7
	for range 3 {
		if _, err := e.dial(t, "wiki.acme.internal:22"); err == nil || !strings.Contains(err.Error(), "refused") {
			t.Fatalf("new connection after expiry: %v; want refused by the edge", err)
		}
	}
	echoLine(t, open, br, "still open")

	// S6: names resolve during the expiry; a DNS block policy still works.
	if got := e.lookup(t, "wiki.acme.internal"); len(got) != 1 || got[0] != "10.0.0.10" {
		t.Fatalf("wiki during expiry resolves to %v", got)
	}
	if got := e.lookup(t, "tracker.example.net"); len(got) != 1 || got[0] != "0.0.0.0" {
		t.Fatalf("blocked tracker resolves to %v; want 0.0.0.0", got)
	}

	e.sink.waitFor(t, "three refusals audited", func(ds []Decision, ss []SessionExpired) bool {
		n := 0
		for _, d := range ds {
			if d.Reason == "session_expired" && d.Dst == wikiSSH && d.DeviceID == "dev-alice" {
				n++
			}
		}
		return n == 3
	})
	if _, ss := e.sink.snapshot(); len(ss) != 1 || ss[0].PolicyID != "wiki" || ss[0].DeviceID != "dev-alice" {
		t.Fatalf("signals %+v; want exactly one for three refused flows", ss)
	}

	e.devs.reauth("dev-alice", e.clock.Now())
	c, err := e.dial(t, "wiki.acme.internal:22")
	if err != nil {
		t.Fatalf("dial after re-authentication: %v", err)
	}
	echoLine(t, c, bufio.NewReader(c), "welcome back")
}

func TestS4_NoLimitThroughTheTunnel(t *testing.T) {
	r := wikiRule
	r.Session = nil
	e := startTunnelEnv(t, policies(r))
	e.clock.Advance(1000 * time.Hour)
	c, err := e.dial(t, "wiki.acme.internal:22")
	if err != nil {
		t.Fatalf("dial without check_session: %v", err)
	}
	echoLine(t, c, bufio.NewReader(c), "no limit")
}

// TestS3_HTTPKeepAliveThroughTheTunnel: one keep-alive connection from a
// stock net/http client through the tunnel; after expiry its next request
// gets the session-expired block page.
func TestS3_HTTPKeepAliveThroughTheTunnel(t *testing.T) {
	r := gitRule
	r.Session = &policy.CheckSession{Enforce: true, Duration: 2 * time.Second}
	e := startTunnelEnv(t, policies(r))
	tr := &http.Transport{DialContext: e.tun.DialContext, MaxConnsPerHost: 1}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: waitTimeout}
	var conns []string
	get := func(path string) (int, string, bool) {
		t.Helper()
		reused := false
		ctx := httptrace.WithClientTrace(t.Context(), &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) {
			reused = i.Reused
			conns = append(conns, i.Conn.LocalAddr().String())
		}})
		req, _ := http.NewRequestWithContext(ctx, "GET", "http://git.acme.internal"+path, nil)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), reused
	}
	if code, body, _ := get("/a"); code != 200 || !strings.HasPrefix(body, "GET /a host=git.acme.internal") {
		t.Fatalf("first request: %d %q", code, body)
	}
	if code, _, reused := get("/b"); code != 200 || !reused {
		t.Fatalf("second request: %d reused=%v; want 200 on the same connection", code, reused)
	}
	e.clock.Advance(3 * time.Second)
	code, body, reused := get("/c")
	if code != http.StatusForbidden || !reused || !strings.Contains(body, "Session expired") ||
		!strings.Contains(body, "/cdn-cgi/access/refresh-identity") {
		t.Fatalf("after expiry: %d reused=%v %q; want the block page on the same connection", code, reused, body)
	}
	if n := e.git.conns.Load(); n != 1 {
		t.Fatalf("the upstream saw %d connections; want one, reused", n)
	}
	if conns[0] != conns[2] {
		t.Fatalf("requests used connections %v", conns)
	}
	e.sink.waitFor(t, "one HTTP signal", func(_ []Decision, ss []SessionExpired) bool {
		return len(ss) == 1 && ss[0].Filter == policy.FilterHTTP
	})
}

// TestExplainAgreesWithTraffic: what Explain says about a destination is
// what happens to a real flow there.
func TestExplainAgreesWithTraffic(t *testing.T) {
	e := startTunnelEnv(t, policies(shortWiki()))
	for _, advance := range []time.Duration{0, 3 * time.Second} {
		e.clock.Advance(advance)
		ex, err := e.g.Explain(t.Context(), "dev-alice", "wiki.acme.internal:22", "tcp")
		if err != nil {
			t.Fatal(err)
		}
		_, dialErr := e.dial(t, "wiki.acme.internal:22")
		if (ex.Action == policy.ActionAllow) != (dialErr == nil) {
			t.Fatalf("after %v: explain says %s (%s), the dial gave %v", advance, ex.Action, ex.Reason, dialErr)
		}
	}
}

package accessgate

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/ztagent/ztagent/internal/wgkey"
	"github.com/ztagent/ztagent/pkg/edge/gateway"
	"github.com/ztagent/ztagent/pkg/edge/wg"
	"github.com/ztagent/ztagent/pkg/policy"
	"github.com/ztagent/ztagent/pkg/session"
	"github.com/ztagent/ztagent/pkg/tfconfig"
	"github.com/ztagent/ztagent/pkg/tunnel"
)

var (
	benchWiki     = netip.MustParseAddrPort("10.0.0.10:80")
	benchResolver = netip.MustParseAddr("100.96.0.1")
	benchAgent    = netip.MustParsePrefix("100.96.0.2/32")
)

// benchHooks says which decision hooks the edge runs.
type benchHooks int

const (
	hooksNone          benchHooks = iota // wg forwards every flow
	hooksGateway                         // the Gateway decides each flow (the seed's wiki policy)
	hooksGatewayParse                    // and a request hook that does nothing: port-80 flows are parsed
	hooksGatewayAccess                   // and the Access gate sees each HTTP request (S9)
)

func (h benchHooks) String() string {
	return [...]string{"no-hook", "gateway", "gateway+nop-request-hook", "gateway+access"}[h]
}

// benchEdge is a real edge (pkg/edge/wg) with the chosen hooks and a real
// agent tunnel registered with it over loopback UDP.
type benchEdge struct {
	tun *tunnel.Tunnel
}

func startBenchEdge(b *testing.B, hooks benchHooks, upstream string) *benchEdge {
	b.Helper()
	network := wg.Network{
		Resolver:  benchResolver,
		Records:   []wg.Record{{Name: "wiki.acme.internal", Addresses: []netip.Addr{benchWiki.Addr()}}},
		Upstreams: []wg.Upstream{{Address: benchWiki, Protocol: wg.TCP, Target: upstream}},
	}
	cfg := wg.Config{ListenAddr: netip.MustParseAddrPort("127.0.0.1:0"), Network: network, Logger: zap.NewNop()}
	if hooks != hooksNone {
		gw := benchGateway(b, network, hooks)
		cfg.FlowHook, cfg.DNSHook = gw, gw
	}
	edge, err := wg.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { edge.Close() })
	key, err := wgkey.Generate()
	if err != nil {
		b.Fatal(err)
	}
	pub := key.Public()
	if err := edge.AddPeer(wg.Peer{PublicKey: pub, DeviceID: "dev-alice", Addresses: []netip.Prefix{benchAgent}}); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tun, err := tunnel.New(ctx, tunnel.Config{
		PrivateKey: key,
		Tunnel: session.Tunnel{
			Endpoint: edge.Addr().String(), EdgePublicKey: edge.PublicKey().String(),
			Addresses: []string{benchAgent.String()}, DNS: []string{benchResolver.String()},
			AllowedIPs: []string{"10.0.0.0/8", "100.96.0.0/12"}, MTU: 1280,
		},
	}, tunnel.Options{Mode: tunnel.ModeProxy, ProxyAddr: "127.0.0.1:0"})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { tun.Close() })
	return &benchEdge{tun: tun}
}

// benchGateway is the Gateway with the seed's wiki policy (l4, identity,
// check_session 1h30m) and, when access is set, the Access gate with the
// example's wiki application (device identity, 12h).
func benchGateway(b *testing.B, network wg.Network, hooks benchHooks) *gateway.Gateway {
	b.Helper()
	now := time.Now()
	opts := gateway.Options{
		Policies: gateway.Policies{Rules: []policy.Rule{{
			ID: "wiki", Name: "Company Wiki Network policy", Precedence: 103, Enabled: true,
			Action: policy.ActionAllow, Filters: []policy.Filter{policy.FilterL4},
			Traffic:  `net.dst.ip in {10.0.0.10}`,
			Identity: `identity.email matches ".*@example.com"`,
			Session:  &policy.CheckSession{Enforce: true, Duration: 90 * time.Minute},
		}}},
		Network: network,
		Devices: gateway.DevicesFunc(func(context.Context, string) (gateway.Identity, error) {
			return gateway.Identity{Email: "alice@example.com", Groups: []string{"engineering"}, AuthTime: now}, nil
		}),
		Audit: func(context.Context, gateway.Decision) error { return nil },
	}
	if hooks == hooksGatewayParse {
		opts.Requests = nopHook{}
	}
	if hooks == hooksGatewayAccess {
		employees := pol("Employees", "allow", rules(rule("email_domain", "example.com")), nil, nil)
		apps, err := Compile(&tfconfig.Config{
			Organization:       &tfconfig.Organization{AllowAuthenticateViaWARP: true, WarpAuthSessionDuration: 12 * time.Hour},
			AccessApplications: []*tfconfig.AccessApplication{{Name: "Company wiki", Type: "self_hosted", Domain: "wiki.acme.internal", Policies: ap(employees)}},
		})
		if err != nil {
			b.Fatal(err)
		}
		gate, err := New(Options{Apps: apps, TeamDomain: fakeTeam{}})
		if err != nil {
			b.Fatal(err)
		}
		opts.Requests = gate
	}
	gw, err := gateway.New(opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { gw.Close() })
	return gw
}

// nopHook is a request hook that changes nothing: what the Gateway's HTTP
// parsing costs without the gate's work.
type nopHook struct{}

func (nopHook) HookRequest(context.Context, *http.Request, gateway.Requester) *http.Response {
	return nil
}

// BenchmarkNewFlowSetup is the time to set up a new flow through the real
// tunnel with no decision hook, with the Gateway's, with the Gateway's and
// a request hook that does nothing (port-80 flows are then parsed as HTTP),
// and with the Gateway's and the Access gate's. Each iteration sets up one
// flow on every edge in turn, so that the variants share the machine's
// conditions (a shared CI machine's load shifts by tens of percent between
// consecutive sub-benchmarks); the metrics are medians per variant, and the
// overheads are relative to no-hook. dial is the TCP connection alone (the
// L4 decision is on its path); dial+GET adds the first HTTP request and its
// response (the request hook, which needs the request, is on that path).
func BenchmarkNewFlowSetup(b *testing.B) {
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	defer origin.Close()
	upstream := origin.Listener.Addr().String()
	variants := []benchHooks{hooksNone, hooksGateway, hooksGatewayParse, hooksGatewayAccess}
	edges := make([]*benchEdge, len(variants))
	for i, h := range variants {
		edges[i] = startBenchEdge(b, h, upstream)
	}
	for _, withGET := range []bool{false, true} {
		name := "dial"
		if withGET {
			name = "dial+GET"
		}
		b.Run(name, func(b *testing.B) {
			samples := make([][]time.Duration, len(variants))
			for n := range b.N {
				// Each edge goes first in turn: the first flow of a round
				// finds the machine in a different state than the last.
				for k := range edges {
					i := (n + k) % len(edges)
					e := edges[i]
					start := time.Now()
					c := e.dial(b)
					if withGET {
						e.get(b, c)
					}
					samples[i] = append(samples[i], time.Since(start))
					c.Close()
				}
			}
			base := median(samples[0])
			for i, h := range variants {
				m := median(samples[i])
				b.ReportMetric(float64(m.Microseconds()), h.String()+"-µs")
				if i > 0 {
					b.ReportMetric(100*(float64(m)-float64(base))/float64(base), h.String()+"-overhead-%")
				}
			}
		})
	}
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func (e *benchEdge) dial(b *testing.B) net.Conn {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := e.tun.DialContext(ctx, "tcp", benchWiki.String())
	if err != nil {
		b.Fatal(err)
	}
	return c
}

func (e *benchEdge) get(b *testing.B, c net.Conn) {
	if err := c.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		b.Fatal(err)
	}
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: wiki.acme.internal\r\n\r\n"); err != nil {
		b.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		b.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b.Fatalf("GET through the tunnel: %d", resp.StatusCode)
	}
}

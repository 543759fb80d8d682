package gateway

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"testing"
	"time"

	"github.com/ztagent/ztagent/pkg/policy"
)

// benchRules returns n L4 allow policies, each for one /32 and port, with
// an identity condition and a check_session, the last matching the
// benchmark's flow: the worst case, every policy evaluated.
func benchRules(n int) Policies {
	rules := make([]policy.Rule, n)
	for i := range n {
		rules[i] = policy.Rule{
			ID: fmt.Sprintf("p%d", i), Name: fmt.Sprintf("policy %d", i), Precedence: i, Enabled: true,
			Action: policy.ActionAllow, Filters: []policy.Filter{policy.FilterL4},
			Traffic:  fmt.Sprintf("net.dst.ip in {10.%d.%d.0/24} and net.dst.port == 22", i/256, i%256),
			Identity: `identity.email == "alice@example.com"`,
			Session:  &policy.CheckSession{Enforce: true, Duration: time.Hour},
		}
	}
	return Policies{Rules: rules}
}

// BenchmarkDecideFlow is the cost the Gateway adds to a new flow: device
// lookup (in memory here), clock, policy decision and a queued audit
// record (allocations include the delivery goroutine's, which the testing
// package counts too). gateway-unaudited leaves the audit out; engine is
// the policy engine's Decide alone, for comparison.
func BenchmarkDecideFlow(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		p := benchRules(n)
		dst := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte((n - 1) / 256), byte((n - 1) % 256), 7}), 22)
		for _, audited := range []bool{true, false} {
			name := fmt.Sprintf("policies=%d/gateway", n)
			if !audited {
				name += "-unaudited"
			}
			b.Run(name, func(b *testing.B) {
				f := newFixture(b, p, func(o *Options) {
					o.Audit = nil
					if audited {
						o.Audit = func(context.Context, Decision) error { return nil }
					}
					o.Logger = nil
				})
				ctx := context.Background()
				fl := tcpFlow("dev-alice", dst)
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					if v := f.g.DecideFlow(ctx, fl); v.Reason != "allowed" {
						b.Fatalf("%+v", v)
					}
				}
			})
		}
		b.Run(fmt.Sprintf("policies=%d/engine", n), func(b *testing.B) {
			e, err := policy.NewEngine(p.Rules, nil)
			if err != nil {
				b.Fatal(err)
			}
			pf := policy.Flow{Filter: policy.FilterL4, DstIP: dst.Addr(), DstPort: 22, Protocol: "tcp",
				Email: "alice@example.com", AuthTime: t0, Now: t0}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if d := e.Decide(&pf); d.Reason != policy.ReasonAllowed {
					b.Fatalf("%+v", d)
				}
			}
		})
	}
}

// BenchmarkHTTPRequest is one keep-alive GET over loopback: straight to
// the upstream, and through the Gateway's HTTP handler (a decision per
// request plus the extra hop).
func BenchmarkHTTPRequest(b *testing.B) {
	up := startUpstream(b)
	req := get("git.acme.internal", "/")
	run := func(b *testing.B, c net.Conn) {
		br := bufio.NewReader(c)
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			io.WriteString(c, req)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Fatal(resp.Status)
			}
		}
	}
	b.Run("direct", func(b *testing.B) {
		c, err := net.Dial("tcp", up.addr())
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		run(b, c)
	})
	b.Run("gateway", func(b *testing.B) {
		f := newFixture(b, policies(gitRule), func(o *Options) {
			o.Audit = func(context.Context, Decision) error { return nil }
			o.Logger = nil
		})
		run(b, handled(b, f.g, tcpFlow("dev-alice", gitHTTP), up.addr()))
	})
}

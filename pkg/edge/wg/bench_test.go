package wg

import (
	"fmt"
	"net/netip"
	"testing"

	"go.uber.org/zap"

	"github.com/ztagent/ztagent/internal/testenv/loopback"
)

// BenchmarkEdgeTCPThroughput measures one TCP stream from a stock
// wireguard-go netstack client through the edge to a loopback upstream.
func BenchmarkEdgeTCPThroughput(b *testing.B) {
	for _, tc := range []struct {
		listen string
		mtu    int
	}{
		{"127.0.0.1:0", DefaultMTU},
		{"0.0.0.0:0", DefaultMTU},
		{"127.0.0.1:0", 8920},
		{"0.0.0.0:0", 8920},
	} {
		bind := "addr"
		if netip.MustParseAddrPort(tc.listen).Addr().IsUnspecified() {
			bind = "default"
		}
		b.Run(fmt.Sprintf("bind=%s/mtu=%d", bind, tc.mtu), func(b *testing.B) {
			sinkAddr := loopback.Sink(b)
			dst := netip.MustParseAddrPort("10.0.0.1:9")
			edge := newEdge(b, Config{
				ListenAddr: netip.MustParseAddrPort(tc.listen),
				MTU:        tc.mtu,
				Logger:     zap.NewNop(),
				Network:    Network{Upstreams: []Upstream{{Address: dst, Protocol: TCP, Target: sinkAddr}}},
			})
			c := newClient(b, edge, clientAddr, "bench")
			conn, err := c.dialTCP(b.Context(), dst)
			if err != nil {
				b.Fatal(err)
			}
			defer conn.Close()
			loopback.Push(b, conn)
		})
	}
	// The reference: two stock wireguard-go netstack devices, the sink
	// listening inside the second one, in the same run for the ratio.
	b.Run("reference=stock-netstack-pair/mtu=1280", func(b *testing.B) {
		loopback.Push(b, loopback.StockPair(b, DefaultMTU))
	})
}

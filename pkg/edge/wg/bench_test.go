package wg

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"

	"go.uber.org/zap"
	"golang.zx2c4.com/wireguard/conn"
	"golang.zx2c4.com/wireguard/device"
	"golang.zx2c4.com/wireguard/tun/netstack"

	"github.com/ztagent/ztagent/internal/secret"
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
			conn, err := c.dialTCP(ctxT(b), dst)
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
		conn := stockPair(b, DefaultMTU)
		defer conn.Close()
		loopback.Push(b, conn)
	})
}

// stockPair connects two stock netstack devices over loopback UDP and
// returns a TCP connection from the first to a sink inside the second.
func stockPair(b *testing.B, mtu int) net.Conn {
	sinkAddr := netip.MustParseAddr("10.9.0.2")
	srcAddr := netip.MustParseAddr("10.9.0.1")
	var keys [2]secret.Value
	var pubs [2]Key
	for i := range keys {
		keys[i], _ = GeneratePrivateKey()
		pubs[i], _ = PublicKeyOf(keys[i])
	}
	tunA, netA, err := netstack.CreateNetTUN([]netip.Addr{srcAddr}, nil, mtu)
	if err != nil {
		b.Fatal(err)
	}
	tunB, netB, err := netstack.CreateNetTUN([]netip.Addr{sinkAddr}, nil, mtu)
	if err != nil {
		b.Fatal(err)
	}
	quiet := device.NewLogger(device.LogLevelSilent, "")
	devA := device.NewDevice(tunA, conn.NewDefaultBind(), quiet)
	devB := device.NewDevice(tunB, conn.NewDefaultBind(), quiet)
	b.Cleanup(func() { devA.Close(); devB.Close() })
	hexKey := func(v secret.Value) string { pk, _ := parsePrivate(v); return fmt.Sprintf("%x", pk.Bytes()) }
	if err := devB.IpcSet(fmt.Sprintf("private_key=%s\nlisten_port=0\npublic_key=%s\nallowed_ip=%s/32\n",
		hexKey(keys[1]), pubs[0].hex(), srcAddr)); err != nil {
		b.Fatal(err)
	}
	if err := devB.Up(); err != nil {
		b.Fatal(err)
	}
	portB := 0
	state, _ := devB.IpcGet()
	fmt.Sscanf(state[strings.Index(state, "listen_port="):], "listen_port=%d", &portB)
	if err := devA.IpcSet(fmt.Sprintf("private_key=%s\npublic_key=%s\nendpoint=127.0.0.1:%d\nallowed_ip=%s/32\n",
		hexKey(keys[0]), pubs[1].hex(), portB, sinkAddr)); err != nil {
		b.Fatal(err)
	}
	if err := devA.Up(); err != nil {
		b.Fatal(err)
	}
	l, err := netB.ListenTCPAddrPort(netip.AddrPortFrom(sinkAddr, 9))
	if err != nil {
		b.Fatal(err)
	}
	loopback.ServeSink(b, l)
	c, err := netA.DialContextTCPAddrPort(ctxT(b), netip.AddrPortFrom(sinkAddr, 9))
	if err != nil {
		b.Fatal(err)
	}
	return c
}

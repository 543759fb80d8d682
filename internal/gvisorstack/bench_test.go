package gvisorstack

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/ztagent/ztagent/internal/testenv/loopback"
)

// BenchmarkWireGuardPair measures one TCP stream between two stacks joined
// by two real wireguard-go devices over loopback UDP: this package's Stack
// with and without offload, beside the stock tun/netstack pair, in one run
// so that the ratios compare like with like (same MTU on both sides).
func BenchmarkWireGuardPair(b *testing.B) {
	for _, mtu := range []int{1280, 8920} {
		b.Run(fmt.Sprintf("stock-netstack/mtu=%d", mtu), func(b *testing.B) {
			loopback.Push(b, loopback.StockPair(b, mtu))
		})
		for _, offload := range []bool{false, true} {
			name := "offload"
			if !offload {
				name = "no-offload"
			}
			b.Run(fmt.Sprintf("gvisorstack-%s/mtu=%d", name, mtu), func(b *testing.B) {
				o := Options{MTU: mtu, DisableOffload: !offload}
				oa, ob := o, o
				oa.Addresses, ob.Addresses = []netip.Addr{addrA4}, []netip.Addr{addrB4}
				sa, err := New(oa)
				if err != nil {
					b.Fatal(err)
				}
				sb, err := New(ob)
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { sa.Close(); sb.Close(); sa.Wait(); sb.Wait() })
				loopback.JoinDevices(b, sa.Device(), sb.Device(), addrA4, addrB4)
				l, err := sb.ListenTCP(netip.AddrPortFrom(addrB4, 9))
				if err != nil {
					b.Fatal(err)
				}
				loopback.ServeSink(b, l)
				c, err := sa.DialTCP(b.Context(), netip.AddrPortFrom(addrB4, 9))
				if err != nil {
					b.Fatal(err)
				}
				defer c.Close()
				loopback.Push(b, c)
			})
		}
	}
}

package wg

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/ztagent/ztagent/internal/wgkey"
)

// BenchmarkPeerTableFill adds n devices' peers (one /32 each) to an empty
// table, as an edge restart does; ns/op is the whole fill, so a quadratic
// check shows as a 100× step from 1,000 to 10,000 and a constant one as
// 10×.
func BenchmarkPeerTableFill(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		peers := make([]*Peer, n)
		for i := range peers {
			var k wgkey.Public
			k[0], k[1], k[2] = byte(i), byte(i>>8), byte(i>>16)
			a := netip.AddrFrom4([4]byte{100, 96 + byte(i>>16), byte(i >> 8), byte(i)})
			peers[i] = &Peer{PublicKey: k, DeviceID: fmt.Sprint("dev-", i), Addresses: []netip.Prefix{netip.PrefixFrom(a, 32)}}
		}
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			for b.Loop() {
				t := newPeerTable()
				for _, p := range peers {
					if _, err := t.put(p); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

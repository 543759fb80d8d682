package tunnel

import (
	"net"
	"net/netip"
	"testing"
)

// The header of a datagram to the client is written in place in front of
// the payload, without allocating, and reads back as the source it names.
func TestSOCKSUDPHeaderInPlace(t *testing.T) {
	payload := "payload after the header"
	for _, s := range []string{"10.99.0.1:7", "[fd00:99::1]:443", "[::ffff:10.0.0.1]:80"} {
		src := netip.MustParseAddrPort(s)
		buf := make([]byte, maxSOCKSUDPHeader+len(payload))
		copy(buf[maxSOCKSUDPHeader:], payload)
		start := putSOCKSUDPHeader(buf[:maxSOCKSUDPHeader], src)
		dst, got, ok := parseSOCKSUDP(buf[start:])
		if !ok || dst.ip != src.Addr().Unmap() || dst.port != src.Port() || string(got) != payload {
			t.Errorf("%s: parsed %+v %q %v", s, dst, got, ok)
		}
		if allocs := testing.AllocsPerRun(100, func() { putSOCKSUDPHeader(buf[:maxSOCKSUDPHeader], src) }); allocs != 0 {
			t.Errorf("%s: %v allocations per header", s, allocs)
		}
	}
}

func TestSetUDPAddrReusesItsIP(t *testing.T) {
	ua := &net.UDPAddr{IP: make(net.IP, 0, net.IPv6len)}
	for _, s := range []string{"[fd00:99::1]:443", "10.99.0.1:7", "[::ffff:10.0.0.1]:80", "[fe80::1%eth0]:53"} {
		ap := netip.MustParseAddrPort(s)
		setUDPAddr(ua, ap)
		if got := ua.AddrPort(); got.Addr().Unmap() != ap.Addr().Unmap() || got.Port() != ap.Port() {
			t.Errorf("setUDPAddr(%s) gave %v", s, ua)
		}
		if allocs := testing.AllocsPerRun(100, func() { setUDPAddr(ua, ap) }); allocs != 0 {
			t.Errorf("%s: %v allocations per address", s, allocs)
		}
	}
}

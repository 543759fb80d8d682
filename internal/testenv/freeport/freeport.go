// Package freeport finds free loopback ports for tests that must name a
// port up front (to restart a server on the same address, or to pass it to
// a process). The port is released before it is returned, so another
// process could take it before the test binds it again. To keep that from
// being a listener that asked the kernel for any port (":0", as edged's
// and the tests' other servers do), the ports come from just below the
// kernel's ephemeral range, where it never hands out ports by itself; a
// per-process sequence from a random start keeps parallel test binaries
// apart.
package freeport

import (
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
)

// span is how many ports below the ephemeral range are used.
const span = 8192

// next is the sequence through the span; it starts at a random place.
var next atomic.Uint32

func init() { next.Store(rand.Uint32N(span)) }

// TCP returns a free TCP address on 127.0.0.1.
func TCP(t testing.TB) netip.AddrPort {
	t.Helper()
	return pick(t, func(a string) (net.Addr, func() error, error) {
		ln, err := net.Listen("tcp", a)
		if err != nil {
			return nil, nil, err
		}
		return ln.Addr(), ln.Close, nil
	})
}

// UDP returns a free UDP address on 127.0.0.1.
func UDP(t testing.TB) netip.AddrPort {
	t.Helper()
	return pick(t, func(a string) (net.Addr, func() error, error) {
		pc, err := net.ListenPacket("udp", a)
		if err != nil {
			return nil, nil, err
		}
		return pc.LocalAddr(), pc.Close, nil
	})
}

// pick tries ports of the span until bind succeeds on one; where the
// ephemeral range leaves no room below it, the kernel chooses, as before.
func pick(t testing.TB, bind func(addr string) (net.Addr, func() error, error)) netip.AddrPort {
	t.Helper()
	if base, ok := spanBase(); ok {
		for range span {
			port := base + uint16(next.Add(1)%span)
			addr := netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), port)
			if _, closeFn, err := bind(addr.String()); err == nil {
				_ = closeFn()
				return addr
			}
		}
		t.Fatalf("freeport: no free port in %d..%d", base, base+span-1)
	}
	a, closeFn, err := bind("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer closeFn()
	return netip.MustParseAddrPort(a.String())
}

// spanBase returns the first port of the span below the kernel's
// ephemeral range (Linux's ip_local_port_range; 49152, IANA's, elsewhere).
func spanBase() (uint16, bool) {
	low := 49152
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil {
				low = n
			}
		}
	}
	if low-span < 1024 {
		return 0, false
	}
	return uint16(low - span), true
}

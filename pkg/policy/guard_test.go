package policy

import (
	"math/rand/v2"
	"net/netip"
	"testing"
)

// TestGuardNeverRejectsAMatch checks the guard's one promise: whenever a
// traffic expression matches a flow, the guard admits that flow.
func TestGuardNeverRejectsAMatch(t *testing.T) {
	exprs := []string{
		`net.dst.ip == 10.0.0.10`,
		`net.dst.ip == 10.0.0.0/8 and net.dst.port == 22`,
		`net.dst.port == 22 and net.dst.ip in {192.168.0.0/16 10.1.2.3 2001:db8::/32}`,
		`net.dst.ip in $11111111-wiki or net.dst.ip == 172.16.0.0/12`,
		`net.dst.ip in $11111111-wiki or net.dst.port == 53`, // no guard: the port side is unbounded
		`net.dst.ip != 10.0.0.0/8`,                           // no guard
		`not(net.dst.ip == 10.0.0.0/8)`,                      // no guard
		`net.dst.ip == 0.0.0.0/0`,
		`net.dst.ip == ::/0`,
		`net.dst.ip == ::ffff:10.0.0.10`,
		`net.dst.ip == 255.255.255.255/32`,
	}
	rng := rand.New(rand.NewPCG(1, 2))
	addrs := []string{"10.0.0.10", "10.0.1.5", "10.200.3.4", "192.168.7.7", "172.20.0.1", "10.1.2.3",
		"2001:db8::5", "2001:db9::1", "::ffff:10.0.0.10", "0.0.0.0", "255.255.255.255", "fe80::1"}
	for i := 0; i < 2000; i++ {
		var b [4]byte
		for j := range b {
			b[j] = byte(rng.IntN(256))
		}
		addrs = append(addrs, netip.AddrFrom4(b).String())
	}
	for _, src := range exprs {
		e, err := CompileTraffic(src, []Filter{FilterL4}, testLists)
		if err != nil {
			t.Fatalf("%q: %v", src, err)
		}
		g := guardOf(e.root)
		for _, a := range addrs {
			for _, port := range []uint16{22, 53, 443} {
				f := l4(a, port)
				if e.Match(f) && !g.admits(newEvalCtx(f)) {
					t.Fatalf("%q matches %s:%d but its guard rejects it", src, a, port)
				}
			}
		}
	}
	// A flow without an address is rejected by an active guard and admitted
	// by an inactive one.
	noIP := newEvalCtx(&Flow{Filter: FilterL4})
	on := newIPGuard([]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")})
	if on.admits(noIP) || !(&ipGuard{}).admits(noIP) {
		t.Fatal("guard mishandles a flow without an address")
	}
}

func TestGuardRejectsOutside(t *testing.T) {
	g := newIPGuard([]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.168.1.0/24"), netip.MustParsePrefix("2001:db8::/32")})
	for a, want := range map[string]bool{"10.9.9.9": true, "11.0.0.1": false, "192.168.1.200": true, "192.168.2.1": false, "2001:db8::1": true, "2001:db9::1": false} {
		if got := g.admits(newEvalCtx(l4(a, 1))); got != want {
			t.Errorf("%s: admits = %v, want %v", a, got, want)
		}
	}
}

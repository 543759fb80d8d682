package policy

import (
	"encoding/binary"
	"net/netip"
)

// v4Net is an IPv4 prefix as integers, so that testing an address is one
// AND and one compare: netip.Prefix.Contains costs several times that, and
// Decide runs it for every network policy.
type v4Net struct{ net, mask uint32 }

// ipGuard holds every destination a traffic expression can match, when that
// set is known at compile time (the expression requires a net.dst.ip test at
// its top level). A flow outside it skips the rule without evaluating the
// expression. Most network policies start with such a test, so the guard
// rejects the bulk of non-matching rules cheaply.
type ipGuard struct {
	on    bool
	first v4Net // the first IPv4 prefix, inline: the common single-prefix case
	has1  bool
	v4    []v4Net        // further IPv4 prefixes
	v6    []netip.Prefix // IPv6 prefixes
}

func newIPGuard(prefixes []netip.Prefix) ipGuard {
	g := ipGuard{on: true}
	for _, p := range prefixes {
		if !p.Addr().Is4() {
			g.v6 = append(g.v6, p)
			continue
		}
		a := p.Addr().As4()
		mask := uint32(0)
		if p.Bits() > 0 {
			mask = ^uint32(0) << (32 - p.Bits())
		}
		n := v4Net{net: binary.BigEndian.Uint32(a[:]) & mask, mask: mask}
		if !g.has1 {
			g.first, g.has1 = n, true
		} else {
			g.v4 = append(g.v4, n)
		}
	}
	return g
}

// admits reports whether the flow's destination may match.
func (g *ipGuard) admits(c *evalCtx) bool {
	if !g.on {
		return true
	}
	if c.is4 {
		if g.has1 && c.ip4&g.first.mask == g.first.net {
			return true
		}
		for _, n := range g.v4 {
			if c.ip4&n.mask == n.net {
				return true
			}
		}
		return false
	}
	if !c.ip.IsValid() {
		return false
	}
	for _, p := range g.v6 {
		if p.Contains(c.ip) {
			return true
		}
	}
	return false
}

// guardOf returns the guard of a traffic expression: the destinations outside
// which it can never be true, or an inactive guard when that is unknown.
func guardOf(n node) ipGuard {
	if prefixes, ok := guardPrefixes(n); ok {
		return newIPGuard(prefixes)
	}
	return ipGuard{}
}

func guardPrefixes(n node) ([]netip.Prefix, bool) {
	switch n := n.(type) {
	case ipPrefix:
		if !n.neg {
			return []netip.Prefix{n.prefix}, true
		}
	case ipSet:
		return n.prefixes, true
	case andNode:
		if g, ok := guardPrefixes(n.a); ok {
			return g, true
		}
		return guardPrefixes(n.b)
	case orNode:
		a, okA := guardPrefixes(n.a)
		b, okB := guardPrefixes(n.b)
		if okA && okB {
			return append(append([]netip.Prefix(nil), a...), b...), true
		}
	}
	return nil, false
}

package wg

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"

	"github.com/ztagent/ztagent/internal/wgkey"
)

// Peer is a device's WireGuard peer as the edge knows it.
type Peer struct {
	PublicKey wgkey.Public
	// DeviceID is the registered device the peer belongs to; every flow
	// from the peer carries it.
	DeviceID string
	// Addresses are the device's tunnel addresses (100.96.0.2/32): the
	// peer's allowed IPs at the edge, and the source addresses its flows
	// are recognised by.
	Addresses []netip.Prefix
}

// peerTable maps tunnel source addresses to peers. WireGuard only lets a
// peer send from its allowed IPs, so a source address names its peer.
type peerTable struct {
	mu     sync.RWMutex
	byKey  map[wgkey.Public]*Peer
	byAddr map[netip.Addr]*Peer // peers' single-address prefixes
	wide   []*Peer              // peers with a prefix wider than one address
}

func newPeerTable() *peerTable {
	return &peerTable{byKey: make(map[wgkey.Public]*Peer), byAddr: make(map[netip.Addr]*Peer)}
}

func (t *peerTable) lookup(a netip.Addr) (*Peer, bool) {
	a = a.Unmap()
	t.mu.RLock()
	defer t.mu.RUnlock()
	if p, ok := t.byAddr[a]; ok {
		return p, true
	}
	for _, p := range t.wide {
		for _, pfx := range p.Addresses {
			if pfx.Contains(a) {
				return p, true
			}
		}
	}
	return nil, false
}

// deviceAt returns the device whose peer owns tunnel address a, or "" when
// none does: such sources share one name in the per-device limits (their
// flows and queries are refused anyway).
func (s *Server) deviceAt(a netip.Addr) string {
	if p, ok := s.peers.lookup(a); ok {
		return p.DeviceID
	}
	return ""
}

// normalize checks p and returns it with masked, unmapped prefixes.
func (p Peer) normalize() (Peer, error) {
	if p.PublicKey.IsZero() {
		return p, errors.New("peer has no public key")
	}
	if strings.TrimSpace(p.DeviceID) == "" {
		return p, fmt.Errorf("peer %v has no device ID", p.PublicKey)
	}
	if len(p.Addresses) == 0 {
		return p, fmt.Errorf("peer %v (device %s) has no tunnel address; give it one such as 100.96.0.2/32", p.PublicKey, p.DeviceID)
	}
	out := p
	out.Addresses = make([]netip.Prefix, 0, len(p.Addresses))
	for _, pfx := range p.Addresses {
		if !pfx.IsValid() || pfx.Addr().Is4In6() {
			return p, fmt.Errorf("peer %v (device %s) has an invalid tunnel address %v; write IPv4 addresses as a.b.c.d/32", p.PublicKey, p.DeviceID, pfx)
		}
		out.Addresses = append(out.Addresses, pfx.Masked())
	}
	return out, nil
}

// put adds or replaces p and returns the entry it replaced (or kept, when
// it is the same identity); it fails when an address overlaps another
// peer's.
func (t *peerTable) put(p *Peer) (old *Peer, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.overlapLocked(p); err != nil {
		return nil, err
	}
	old = t.byKey[p.PublicKey]
	if old != nil && old.sameIdentity(p) {
		// Kept, not replaced: its flows belong to p as much as to old.
		return old, nil
	}
	if old != nil {
		t.dropLocked(old)
	}
	t.byKey[p.PublicKey] = p
	for _, a := range p.Addresses {
		if a.IsSingleIP() {
			t.byAddr[a.Addr()] = p
		} else if !containsPeer(t.wide, p) {
			t.wide = append(t.wide, p)
		}
	}
	return old, nil
}

// overlapLocked returns why one of p's addresses overlaps another peer's.
// Masked prefixes overlap only when one holds the other's first address,
// so a single address is one lookup in byAddr plus the few wide peers;
// only a wide prefix of p's own walks the single addresses. Adding the
// n-th device costs the same at 10 as at 10,000 (it was a scan of every
// peer, which made a restart quadratic).
func (t *peerTable) overlapLocked(p *Peer) error {
	clash := func(a, b netip.Prefix, other *Peer) error {
		return fmt.Errorf("tunnel address %v of device %s overlaps %v of device %s; remove that peer first or pick a free address", a, p.DeviceID, b, other.DeviceID)
	}
	for _, a := range p.Addresses {
		if a.IsSingleIP() {
			if other, ok := t.byAddr[a.Addr()]; ok && other.PublicKey != p.PublicKey {
				return clash(a, a, other)
			}
		} else {
			for addr, other := range t.byAddr {
				if other.PublicKey != p.PublicKey && a.Contains(addr) {
					return clash(a, netip.PrefixFrom(addr, addr.BitLen()), other)
				}
			}
		}
		for _, other := range t.wide {
			if other.PublicKey == p.PublicKey {
				continue
			}
			for _, b := range other.Addresses {
				if !b.IsSingleIP() && a.Overlaps(b) {
					return clash(a, b, other)
				}
			}
		}
	}
	return nil
}

func (t *peerTable) remove(k wgkey.Public) *Peer {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.byKey[k]
	if p != nil {
		t.dropLocked(p)
	}
	return p
}

func (t *peerTable) dropLocked(p *Peer) {
	delete(t.byKey, p.PublicKey)
	for _, a := range p.Addresses {
		if t.byAddr[a.Addr()] == p {
			delete(t.byAddr, a.Addr())
		}
	}
	for i, w := range t.wide {
		if w == p {
			t.wide = append(t.wide[:i], t.wide[i+1:]...)
			break
		}
	}
}

// sameIdentity reports whether p and o are the same device at the same
// tunnel addresses (in any order), so that a flow decided for one holds
// for the other.
func (p *Peer) sameIdentity(o *Peer) bool {
	if p.PublicKey != o.PublicKey || p.DeviceID != o.DeviceID || len(p.Addresses) != len(o.Addresses) {
		return false
	}
	for i := range p.Addresses {
		if !slices.Contains(o.Addresses, p.Addresses[i]) || !slices.Contains(p.Addresses, o.Addresses[i]) {
			return false
		}
	}
	return true
}

func containsPeer(ps []*Peer, p *Peer) bool {
	for _, q := range ps {
		if q == p {
			return true
		}
	}
	return false
}

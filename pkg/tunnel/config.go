package tunnel

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"

	"github.com/ztagent/ztagent/internal/wgkey"
	"github.com/ztagent/ztagent/pkg/session"
)

// Config is what the tunnel is built from: the tunnel block of the
// registration and the device's WireGuard private key.
type Config struct {
	// Tunnel is the registration response's tunnel block.
	Tunnel session.Tunnel
	// PrivateKey is the device's WireGuard private key.
	PrivateKey wgkey.Private

	// keyErr is why ConfigFromRegistration could not parse the record's
	// key; New reports it, as it reports every other bad field.
	keyErr error
}

// ConfigFromRegistration returns the Config of a registration, whose
// record keeps the private key in base64 as wg(8) writes it.
func ConfigFromRegistration(r *session.Registration) Config {
	c := Config{Tunnel: r.Tunnel}
	if !r.WireGuardPrivateKey.IsZero() {
		c.PrivateKey, c.keyErr = wgkey.ParsePrivate(r.WireGuardPrivateKey)
	}
	return c
}

// settings is a Config checked and turned into the forms the device and the
// host need.
type settings struct {
	priv      wgkey.Private // goes into the UAPI text only; never log it
	edgePub   wgkey.Public
	endpoint  netip.AddrPort
	addresses []netip.Prefix // the device's own addresses, with their prefix lengths
	dns       []netip.Addr
	allowed   []netip.Prefix
	mtu       int
}

// parseConfig checks cfg and resolves the endpoint's host (outside the
// tunnel, with the host's resolver: the endpoint is how we reach the tunnel).
func parseConfig(ctx context.Context, cfg Config) (settings, error) {
	var s settings
	t := cfg.Tunnel
	if cfg.keyErr != nil {
		// Say nothing about the value: it is a secret.
		return s, errors.New("the device's WireGuard private key is not a 32-byte base64 key: register the device again")
	}
	if cfg.PrivateKey.IsZero() {
		return s, errors.New("tunnel config has no WireGuard private key: register the device again")
	}
	s.priv = cfg.PrivateKey

	var err error
	if s.edgePub, err = wgkey.ParsePublic(t.EdgePublicKey); err != nil {
		return s, fmt.Errorf("the edge's public key (tunnel edge_public_key) %v", err)
	}

	if s.endpoint, err = resolveEndpoint(ctx, t.Endpoint); err != nil {
		return s, err
	}
	if len(t.Addresses) == 0 {
		return s, errors.New("tunnel block has no addresses: the edge must assign the device an address")
	}
	for _, a := range t.Addresses {
		p, err := parseAddress(a)
		if err != nil {
			return s, fmt.Errorf("tunnel address %q: %v", a, err)
		}
		s.addresses = append(s.addresses, p)
	}
	for _, d := range t.DNS {
		a, err := netip.ParseAddr(d)
		if err != nil {
			return s, fmt.Errorf("tunnel DNS server %q is not an IP address", d)
		}
		s.dns = append(s.dns, a.Unmap())
	}
	if len(t.AllowedIPs) == 0 {
		return s, errors.New("tunnel block has no allowed_ips: nothing would be sent through the tunnel")
	}
	for _, a := range t.AllowedIPs {
		p, err := netip.ParsePrefix(a)
		if err != nil {
			return s, fmt.Errorf("tunnel allowed IP %q is not a CIDR prefix such as 10.0.0.0/8", a)
		}
		s.allowed = append(s.allowed, p.Masked())
	}
	s.mtu = t.MTU
	if s.mtu == 0 {
		s.mtu = DefaultMTU
	}
	if s.mtu < 576 || s.mtu > 65535 {
		return s, fmt.Errorf("tunnel MTU %d is outside 576…65535", t.MTU)
	}
	if s.mtu < 1280 && slices.ContainsFunc(s.addresses, func(p netip.Prefix) bool { return p.Addr().Is6() }) {
		return s, fmt.Errorf("tunnel MTU %d is below IPv6's minimum of 1280", t.MTU)
	}
	return s, nil
}

// parseAddress accepts "10.0.0.2/32" or a bare "10.0.0.2" (a host prefix).
func parseAddress(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return netip.PrefixFrom(p.Addr().Unmap(), p.Bits()), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, errors.New("not an IP address or CIDR")
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func resolveEndpoint(ctx context.Context, endpoint string) (netip.AddrPort, error) {
	host, portStr, err := net.SplitHostPort(endpoint)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("tunnel endpoint %q is not host:port", endpoint)
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil || port == 0 {
		return netip.AddrPort{}, fmt.Errorf("tunnel endpoint %q has no valid UDP port", endpoint)
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return netip.AddrPortFrom(a.Unmap(), uint16(port)), nil
	}
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil || len(addrs) == 0 {
		return netip.AddrPort{}, fmt.Errorf("cannot resolve the tunnel endpoint %q: %v; check the host's DNS", endpoint, err)
	}
	// Prefer IPv4: the edge's UDP listener is IPv4 in every deployment we
	// know, and a host without IPv6 routes would time out on a v6 address.
	for _, a := range addrs {
		if a.Unmap().Is4() {
			return netip.AddrPortFrom(a.Unmap(), uint16(port)), nil
		}
	}
	return netip.AddrPortFrom(addrs[0], uint16(port)), nil
}

// hostAddrs returns the device's addresses without prefix lengths.
func (s settings) hostAddrs() []netip.Addr {
	out := make([]netip.Addr, len(s.addresses))
	for i, p := range s.addresses {
		out[i] = p.Addr()
	}
	return out
}

// localAddr returns the device's address of the family of dst.
func (s settings) localAddr(dst netip.Addr) (netip.Addr, bool) {
	for _, p := range s.addresses {
		if p.Addr().Is4() == dst.Is4() {
			return p.Addr(), true
		}
	}
	return netip.Addr{}, false
}

// allows reports whether the tunnel carries packets to a.
func (s settings) allows(a netip.Addr) bool {
	for _, p := range s.allowed {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// restartNeeded names what differs between s and n that a running device
// cannot change, or returns "".
func (s settings) restartNeeded(n settings) string {
	switch {
	case !slices.Equal(s.addresses, n.addresses):
		return "addresses"
	case !slices.Equal(s.dns, n.dns):
		return "DNS servers"
	case s.mtu != n.mtu:
		return "MTU"
	}
	return ""
}

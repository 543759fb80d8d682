package wg

import (
	"errors"
	"fmt"
	"net/netip"
)

// netMap is a Network compiled for lookups on the packet path. It is never
// modified after compile, so it is read without locks.
type netMap struct {
	resolver  netip.Addr
	records   map[string][]netip.Addr
	upstreams map[flowKey]string
	services  map[netip.AddrPort]serviceEntry // TCP only
	names     map[string]netip.Addr           // service names
}

type flowKey struct {
	proto Protocol
	addr  netip.AddrPort
}

type serviceEntry struct {
	name   string
	target string
}

// dnsPort is where the resolver listens, on UDP and TCP.
const dnsPort = 53

func (n Network) compile() (*netMap, error) {
	m := &netMap{
		resolver:  n.Resolver.Unmap(),
		records:   make(map[string][]netip.Addr, len(n.Records)),
		upstreams: make(map[flowKey]string, len(n.Upstreams)),
		services:  make(map[netip.AddrPort]serviceEntry, len(n.Services)),
		names:     make(map[string]netip.Addr),
	}
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if !m.resolver.IsValid() || m.resolver.IsUnspecified() {
		bad("network: resolver address %v is not usable; give an address inside the tunnel such as %v", n.Resolver, DefaultResolver)
	}
	for _, r := range n.Records {
		name := normalName(r.Name)
		if name == "" {
			bad("network: a record has no name")
			continue
		}
		if _, dup := m.records[name]; dup {
			bad("network: record %q is declared twice; merge its addresses into one record", name)
			continue
		}
		addrs := make([]netip.Addr, 0, len(r.Addresses))
		for _, a := range r.Addresses {
			if !a.IsValid() {
				bad("network: record %q has an invalid address", name)
				continue
			}
			addrs = append(addrs, a.Unmap())
		}
		m.records[name] = addrs
	}
	resolverTCP := netip.AddrPortFrom(m.resolver, dnsPort)
	for _, u := range n.Upstreams {
		if !u.Address.IsValid() || u.Address.Port() == 0 {
			bad("network: upstream %v needs a virtual address with a port, such as 10.0.0.10:80", u.Address)
			continue
		}
		if u.Protocol != TCP && u.Protocol != UDP {
			bad("network: upstream %v has no protocol; use tcp or udp", u.Address)
			continue
		}
		k := flowKey{u.Protocol, unmapPort(u.Address)}
		if k.addr == resolverTCP {
			bad("network: upstream %v is the resolver's DNS port; pick another virtual address", u.Address)
			continue
		}
		if err := validTarget(u.Target); err != nil {
			bad("network: upstream %v %v: target %v", u.Address, u.Protocol, err)
			continue
		}
		if _, dup := m.upstreams[k]; dup {
			bad("network: upstream %v %v is declared twice; keep one", u.Address, u.Protocol)
			continue
		}
		m.upstreams[k] = u.Target
	}
	for _, s := range n.Services {
		addr := unmapPort(s.Address)
		if !addr.IsValid() || addr.Port() == 0 || addr.Port() == dnsPort && addr.Addr() == m.resolver {
			bad("network: edge service %v needs a virtual address with a port other than the resolver's DNS port", s.Names)
			continue
		}
		if err := validTarget(s.Target); err != nil {
			bad("network: edge service %v: target %v", s.Names, err)
			continue
		}
		if _, clash := m.upstreams[flowKey{TCP, addr}]; clash {
			bad("network: edge service %v uses %v, which an upstream already maps; give the service another port or address", s.Names, addr)
			continue
		}
		if _, dup := m.services[addr]; dup {
			bad("network: two edge services use %v; give each its own port", addr)
			continue
		}
		if len(s.Names) == 0 {
			bad("network: edge service at %v has no name", addr)
			continue
		}
		m.services[addr] = serviceEntry{name: normalName(s.Names[0]), target: s.Target}
		for _, raw := range s.Names {
			name := normalName(raw)
			if _, clash := m.records[name]; clash {
				bad("network: %q is both a record and an edge service name; drop the record", name)
				continue
			}
			if ip, dup := m.names[name]; dup && ip != addr.Addr() {
				bad("network: edge service name %q points at both %v and %v; use one address per name", name, ip, addr.Addr())
				continue
			}
			m.names[name] = addr.Addr()
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return m, nil
}

// route returns the upstream of a flow to dst, and the service name when
// dst is an edge service.
func (m *netMap) route(proto Protocol, dst netip.AddrPort) (target, service string) {
	dst = unmapPort(dst)
	if proto == TCP {
		if s, ok := m.services[dst]; ok {
			return s.target, s.name
		}
	}
	return m.upstreams[flowKey{proto, dst}], ""
}

// lookup returns the addresses of name; service reports an edge service
// name, found whether the name exists at all.
func (m *netMap) lookup(name string) (addrs []netip.Addr, service, found bool) {
	if ip, ok := m.names[name]; ok {
		return []netip.Addr{ip}, true, true
	}
	addrs, found = m.records[name]
	return addrs, false, found
}

func unmapPort(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

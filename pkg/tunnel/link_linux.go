package tunnel

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"sync"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
	"golang.zx2c4.com/wireguard/tun"
)

// tunLink ends the tunnel in a kernel TUN interface. Addresses, link state
// and routes are set over rtnetlink (vishvananda/netlink): typed errors such
// as EEXIST instead of parsing ip(8)'s output, no dependency on a binary
// found through PATH by a root daemon, and a handle that works inside
// another network namespace.
type tunLink struct {
	dev    tun.Device
	ifname string
	h      *netlink.Handle // in the interface's namespace
	ns     netns.NsHandle  // the interface's namespace when NetNS is set, else -1
	index  int

	mu     sync.Mutex
	routes []netip.Prefix // what setRoutes installed
}

// routingLoop returns an error when the tunnel's own UDP packets to the edge
// would be routed into the tunnel: wg-quick avoids that with fwmark policy
// routing, which this package does not do (yet). With the interface in
// another namespace the host's routes are untouched, so there is no loop.
func routingLoop(s settings, inOtherNS bool) error {
	if !inOtherNS && !s.endpoint.Addr().IsLoopback() && s.allows(s.endpoint.Addr()) {
		return fmt.Errorf("the tunnel's allowed IPs %v contain its own endpoint %s: in tun mode that would route the tunnel into itself; use proxy mode", s.allowed, s.endpoint.Addr())
	}
	return nil
}

// check refuses a configuration Reconfigure would turn into a routing loop.
func (t *tunLink) check(s settings) error { return routingLoop(s, t.ns != -1) }

func newTUNLink(s settings, opts Options) (l link, err error) {
	if err := routingLoop(s, opts.NetNS != ""); err != nil {
		return nil, err
	}
	dev, err := tun.CreateTUN(opts.InterfaceName, s.mtu)
	if err != nil {
		return nil, tunCreateError(opts.InterfaceName, err)
	}
	t := &tunLink{dev: dev, ns: -1}
	defer func() {
		if err != nil {
			t.close()
			dev.Close()
		}
	}()
	if t.ifname, err = dev.Name(); err != nil {
		return nil, fmt.Errorf("read the TUN interface's name: %w", err)
	}
	if opts.NetNS == "" {
		if t.h, err = netlink.NewHandle(); err != nil {
			return nil, fmt.Errorf("open rtnetlink: %w", err)
		}
	} else if err = t.moveTo(opts.NetNS); err != nil {
		return nil, err
	}
	lk, err := t.h.LinkByName(t.ifname)
	if err != nil {
		return nil, fmt.Errorf("find interface %s: %w", t.ifname, err)
	}
	t.index = lk.Attrs().Index
	for _, p := range s.addresses {
		a := &netlink.Addr{IPNet: prefixIPNet(p)}
		if p.Addr().Is6() {
			// A point-to-point tunnel has no neighbours to detect
			// duplicates with; without this the address stays
			// tentative and unusable for a second or more.
			a.Flags = unix.IFA_F_NODAD
		}
		if err := t.h.AddrAdd(lk, a); err != nil {
			return nil, fmt.Errorf("add address %s to %s: %w", p, t.ifname, err)
		}
	}
	if err := t.h.LinkSetUp(lk); err != nil {
		return nil, fmt.Errorf("bring %s up: %w", t.ifname, err)
	}
	if err := t.setRoutes(s.allowed); err != nil {
		return nil, err
	}
	return t, nil
}

// moveTo moves the interface into the namespace at path and keeps a
// handle there; the device's UDP socket, opened later by the caller's
// goroutines, stays in the caller's namespace.
func (t *tunLink) moveTo(path string) error {
	ns, err := netns.GetFromPath(path)
	if err != nil {
		return fmt.Errorf("open network namespace %s: %w", path, err)
	}
	t.ns = ns
	lk, err := netlink.LinkByName(t.ifname)
	if err != nil {
		return fmt.Errorf("find interface %s: %w", t.ifname, err)
	}
	if err := netlink.LinkSetNsFd(lk, int(ns)); err != nil {
		return fmt.Errorf("move %s into network namespace %s: %w", t.ifname, path, err)
	}
	if t.h, err = netlink.NewHandleAt(ns); err != nil {
		return fmt.Errorf("open rtnetlink in network namespace %s: %w", path, err)
	}
	return nil
}

func tunCreateError(name string, err error) error {
	switch {
	case errors.Is(err, unix.EPERM), errors.Is(err, os.ErrPermission):
		return fmt.Errorf("create TUN interface %s: %w; tun mode needs root (CAP_NET_ADMIN): run agentd as root or use proxy mode", name, err)
	case errors.Is(err, unix.EBUSY), errors.Is(err, unix.EEXIST):
		return fmt.Errorf("create TUN interface %s: %w; another program (or agent) holds it: stop it or choose another interface name", name, err)
	}
	return fmt.Errorf("create TUN interface %s: %w; check that /dev/net/tun exists", name, err)
}

func (t *tunLink) device() tun.Device { return t.dev }

func (t *tunLink) dialTCP(ctx context.Context, dst netip.AddrPort) (net.Conn, error) {
	if t.ns != -1 {
		return nil, errOtherNamespace
	}
	var d net.Dialer
	return d.DialContext(ctx, "tcp", dst.String())
}

func (t *tunLink) listenUDP(local netip.Addr) (net.PacketConn, error) {
	if t.ns != -1 {
		return nil, errOtherNamespace
	}
	return net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(local, 0)))
}

// lookupHost uses the host's resolver: pointing it at the tunnel's DNS
// servers is a later issue's work (see the package documentation).
func (t *tunLink) lookupHost(ctx context.Context, host string) ([]netip.Addr, error) {
	if t.ns != -1 {
		return nil, errOtherNamespace
	}
	return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
}

// setRoutes installs a route through the interface for every allowed prefix
// and removes those no longer allowed. A /0 becomes its two /1 halves, which
// win over the host's default route without replacing it, so nothing needs
// restoring when the interface goes away. An existing route for the same
// prefix elsewhere is an error rather than something to replace.
func (t *tunLink) setRoutes(allowed []netip.Prefix) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	var want []netip.Prefix
	for _, p := range allowed {
		want = append(want, splitDefault(p)...)
	}
	// installed tracks what is on the host at every step, so that a failure
	// part-way leaves t.routes true and the next call can finish the job.
	installed := slices.Clone(t.routes)
	defer func() { t.routes = installed }()
	for _, p := range t.routes {
		if slices.Contains(want, p) {
			continue
		}
		if err := t.h.RouteDel(t.route(p)); err != nil && !errors.Is(err, unix.ESRCH) {
			return fmt.Errorf("remove route %s from %s: %w", p, t.ifname, err)
		}
		installed = slices.DeleteFunc(installed, func(q netip.Prefix) bool { return q == p })
	}
	for _, p := range want {
		if slices.Contains(installed, p) {
			continue
		}
		err := t.h.RouteAdd(t.route(p))
		if errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("route %s already exists on this host: remove it (ip route del %s) or drop it from the tunnel's allowed IPs", p, p)
		}
		if err != nil {
			return fmt.Errorf("add route %s via %s: %w", p, t.ifname, err)
		}
		installed = append(installed, p)
	}
	return nil
}

func (t *tunLink) route(p netip.Prefix) *netlink.Route {
	r := &netlink.Route{LinkIndex: t.index, Dst: prefixIPNet(p)}
	if p.Addr().Is4() {
		// As ip(8) does for a route without a gateway.
		r.Scope = netlink.SCOPE_LINK
	}
	return r
}

func splitDefault(p netip.Prefix) []netip.Prefix {
	if p.Bits() != 0 {
		return []netip.Prefix{p}
	}
	if p.Addr().Is4() {
		return []netip.Prefix{netip.MustParsePrefix("0.0.0.0/1"), netip.MustParsePrefix("128.0.0.0/1")}
	}
	return []netip.Prefix{netip.MustParsePrefix("::/1"), netip.MustParsePrefix("8000::/1")}
}

func prefixIPNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

func (t *tunLink) name() string { return t.ifname }

// close releases the rtnetlink handle and the namespace; the interface, its
// addresses and its routes disappear when the device closes the TUN file.
func (t *tunLink) close() error {
	if t.h != nil {
		t.h.Close()
		t.h = nil
	}
	if t.ns != -1 {
		t.ns.Close()
		t.ns = -1
	}
	return nil
}

var errOtherNamespace = errors.New("the tunnel's interface lives in another network namespace: connect from inside that namespace")

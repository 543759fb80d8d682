package tunnel

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"golang.zx2c4.com/wireguard/tun"
	"golang.zx2c4.com/wireguard/tun/netstack"
)

// netstackLink ends the tunnel in wireguard-go's userspace TCP/IP stack:
// nothing on the host sees the tunnel's addresses, and only the local proxy
// (or Tunnel.DialContext) can send traffic into it.
type netstackLink struct {
	dev     tun.Device
	tnet    *netstack.Net
	dns     bool
	lookups group         // resolver goroutines
	slots   chan struct{} // bounds resolver goroutines, abandoned ones included
}

// maxLookups bounds resolver goroutines: one whose caller gave up keeps
// running until its query times out, so without a bound abandoned lookups
// could pile up faster than they end.
const maxLookups = 64

func newNetstackLink(s settings) (link, error) {
	dev, tnet, err := netstack.CreateNetTUN(s.hostAddrs(), s.dns, s.mtu)
	if err != nil {
		return nil, fmt.Errorf("create the userspace network stack: %w", err)
	}
	return &netstackLink{dev: dev, tnet: tnet, dns: len(s.dns) > 0, slots: make(chan struct{}, maxLookups)}, nil
}

func (l *netstackLink) device() tun.Device { return l.dev }

func (l *netstackLink) dialTCP(ctx context.Context, dst netip.AddrPort) (net.Conn, error) {
	c, err := l.tnet.DialContextTCPAddrPort(ctx, dst)
	if err != nil {
		// gonet returns a nil *TCPConn with the error; keep the interface nil.
		return nil, err
	}
	return c, nil
}

func (l *netstackLink) listenUDP(local netip.Addr) (net.PacketConn, error) {
	c, err := l.tnet.ListenUDPAddrPort(netip.AddrPortFrom(local, 0))
	if err != nil {
		return nil, err
	}
	return c, nil
}

// lookupHost runs the netstack's resolver in a goroutine of its own: the
// resolver sets socket deadlines from ctx but never watches its
// cancellation, so an unanswered query would otherwise hold the caller (and
// Close) for the whole timeout. The goroutine ends when its query does, or
// when the netstack closes under it; close waits for that.
func (l *netstackLink) lookupHost(ctx context.Context, host string) ([]netip.Addr, error) {
	if !l.dns {
		return nil, errNoTunnelDNS
	}
	type result struct {
		names []string
		err   error
	}
	select {
	case l.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("too many DNS lookups through the tunnel are pending: %w", ctx.Err())
	}
	if !l.lookups.enter() {
		<-l.slots
		return nil, ErrClosed
	}
	ch := make(chan result, 1)
	go func() {
		defer func() { <-l.slots }()
		defer l.lookups.leave()
		names, err := l.tnet.LookupContextHost(ctx, host)
		ch <- result{names, err}
	}()
	var r result
	select {
	case r = <-ch:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if r.err != nil {
		return nil, r.err
	}
	addrs := make([]netip.Addr, 0, len(r.names))
	for _, n := range r.names {
		if a, err := netip.ParseAddr(n); err == nil {
			addrs = append(addrs, a.Unmap())
		}
	}
	return addrs, nil
}

// check has nothing to refuse: the netstack owns no host routes.
func (l *netstackLink) check(settings) error { return nil }

// setRoutes has nothing to do: the netstack routes everything to the device,
// and the dialer refuses destinations outside the allowed IPs.
func (l *netstackLink) setRoutes([]netip.Prefix) error { return nil }

func (l *netstackLink) name() string { return "" }

// close waits for resolver goroutines, which end once the device has closed
// the netstack.
func (l *netstackLink) close() error {
	l.lookups.closeAndWait()
	return nil
}

var errNoTunnelDNS = errors.New("the tunnel has no DNS servers to resolve names with")

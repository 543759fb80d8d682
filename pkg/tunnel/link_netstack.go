package tunnel

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"golang.zx2c4.com/wireguard/tun"

	"github.com/ztagent/ztagent/internal/gvisorstack"
)

// The proxy-mode stack's bounds. They are what bounds the agent's memory:
// wireguard-go's buffer pools have no limit of their own on Linux and hold
// 64 KiB per packet in flight, however small the packet, and the packets
// in flight are bounded by the TCP windows, which these buffers cap. See
// the package documentation's Memory section for the measurements.
const (
	// proxyTCPBufferSize caps each tunnel TCP connection's send and receive
	// buffer: 256 KiB is ~200 packets at the default MTU, ~13 MiB of
	// wireguard-go buffers at most per direction, and already more than
	// the tunnel's bandwidth-delay product on loopback.
	proxyTCPBufferSize = 256 << 10
	// proxyQueueLen is how many packets the stack may queue for
	// wireguard-go; with segmentation offload each carries up to 64 KiB of
	// a connection's send buffer, so the queue adds no copies of its own.
	proxyQueueLen = 256
)

// netstackLink ends the tunnel in a userspace TCP/IP stack (gVisor, through
// internal/gvisorstack): nothing on the host sees the tunnel's addresses,
// and only the local proxy (or Tunnel.DialContext) can send traffic into
// it.
type netstackLink struct {
	st  *gvisorstack.Stack
	dns *tunnelResolver
}

func newNetstackLink(s settings) (link, error) {
	st, err := gvisorstack.New(gvisorstack.Options{
		MTU:           s.mtu,
		QueueLen:      proxyQueueLen,
		TCPBufferSize: proxyTCPBufferSize,
		Addresses:     s.hostAddrs(),
		Name:          "ztagent",
	})
	if err != nil {
		return nil, fmt.Errorf("create the userspace network stack: %w", err)
	}
	return &netstackLink{st: st, dns: newTunnelResolver(st, s)}, nil
}

func (l *netstackLink) device() tun.Device { return l.st.Device() }

func (l *netstackLink) dialTCP(ctx context.Context, dst netip.AddrPort) (net.Conn, error) {
	c, err := l.st.DialTCP(ctx, dst)
	if err != nil {
		// gonet returns a nil *TCPConn with the error; keep the interface nil.
		return nil, err
	}
	return c, nil
}

func (l *netstackLink) listenUDP(local netip.Addr) (net.PacketConn, error) {
	c, err := l.st.ListenUDP(netip.AddrPortFrom(local, 0))
	if err != nil {
		return nil, err
	}
	return c, nil
}

// lookupHost resolves host with the tunnel's DNS servers, over the stack.
func (l *netstackLink) lookupHost(ctx context.Context, host string) ([]netip.Addr, error) {
	return l.dns.lookup(ctx, host)
}

// check has nothing to refuse: the netstack owns no host routes.
func (l *netstackLink) check(settings) error { return nil }

// setRoutes has nothing to do: the netstack routes everything to the device,
// and the dialer refuses destinations outside the allowed IPs.
func (l *netstackLink) setRoutes([]netip.Prefix) error { return nil }

func (l *netstackLink) name() string { return "" }

// close closes the stack's connections, DNS queries in flight included,
// and waits for its goroutines. The WireGuard device has closed the
// tun.Device already.
func (l *netstackLink) close() error {
	l.st.Close()
	l.st.Wait()
	return nil
}

var errNoTunnelDNS = errors.New("the tunnel has no DNS servers to resolve names with")

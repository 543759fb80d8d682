package tunnel

import (
	"context"
	"net"
	"net/netip"

	"golang.zx2c4.com/wireguard/tun"
)

// link is where the tunnel's packets meet the host: the userspace netstack
// (proxy mode) or a kernel TUN interface (tun mode, in link_linux.go and
// link_other.go). Everything else in the package works through it and never
// asks which OS it runs on.
type link interface {
	// device is what wireguard-go reads outgoing packets from and writes
	// incoming ones to.
	device() tun.Device
	// dialTCP connects to dst through the tunnel.
	dialTCP(ctx context.Context, dst netip.AddrPort) (net.Conn, error)
	// listenUDP opens an unconnected UDP socket whose datagrams go through
	// the tunnel, bound to the device's address local.
	listenUDP(local netip.Addr) (net.PacketConn, error)
	// lookupHost resolves a name through the tunnel's DNS servers.
	lookupHost(ctx context.Context, host string) ([]netip.Addr, error)
	// check returns an error when s cannot be applied to this link.
	check(s settings) error
	// setRoutes makes the host send the allowed prefixes into the tunnel.
	setRoutes(allowed []netip.Prefix) error
	// name is the interface's name ("" for the netstack).
	name() string
	// close releases what the device's Close does not: the device closes
	// the tun.Device itself.
	close() error
}

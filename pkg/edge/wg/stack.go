package wg

import (
	"net/netip"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/stack"

	"github.com/ztagent/ztagent/internal/gvisorstack"
)

// newStack returns the edge's network stack: its one NIC accepts packets
// for any address (promiscuous) and may answer from any address
// (spoofing), which is what lets the forwarders terminate flows to every
// virtual destination. The resolver's address is assigned so that the DNS
// server can bind to it.
func newStack(mtu int, l Limits, resolver netip.Addr) (*gvisorstack.Stack, error) {
	return gvisorstack.New(gvisorstack.Options{
		MTU:           mtu,
		QueueLen:      l.QueueLen,
		TCPBufferSize: l.TCPBufferSize,
		Addresses:     []netip.Addr{resolver},
		Promiscuous:   true,
		Name:          "ztagent-edge",
	})
}

func protocolOf(a netip.Addr) tcpip.NetworkProtocolNumber { return gvisorstack.ProtocolOf(a) }

func fullAddr(ap netip.AddrPort) tcpip.FullAddress { return gvisorstack.FullAddr(ap) }

// addrFrom converts a stack address to netip.
func addrFrom(a tcpip.Address) netip.Addr { return gvisorstack.AddrFrom(a) }

// endpoints returns a transport endpoint ID as the flow's source (the
// device) and destination (the virtual address it asked for).
func endpoints(id stack.TransportEndpointID) (src, dst netip.AddrPort) {
	return netip.AddrPortFrom(addrFrom(id.RemoteAddress), id.RemotePort),
		netip.AddrPortFrom(addrFrom(id.LocalAddress), id.LocalPort)
}

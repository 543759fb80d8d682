package wg

import (
	"fmt"
	"net/netip"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/link/channel"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv6"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/icmp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"
)

// nicID is the stack's only NIC: the WireGuard device.
const nicID tcpip.NICID = 1

// newStack returns a gVisor stack whose one NIC accepts packets for any
// address (promiscuous) and may answer from any address (spoofing), which
// is what lets the forwarders terminate flows to every virtual destination.
func newStack(mtu int, l Limits, resolver netip.Addr) (*stack.Stack, *channel.Endpoint, error) {
	s := stack.New(stack.Options{
		NetworkProtocols:   []stack.NetworkProtocolFactory{ipv4.NewProtocol, ipv6.NewProtocol},
		TransportProtocols: []stack.TransportProtocolFactory{tcp.NewProtocol, udp.NewProtocol, icmp.NewProtocol4, icmp.NewProtocol6},
	})
	ep := channel.New(l.QueueLen, uint32(mtu), "")
	fail := func(what string, err tcpip.Error) (*stack.Stack, *channel.Endpoint, error) {
		s.Close()
		s.Wait()
		ep.Close()
		return nil, nil, fmt.Errorf("edge network stack: %s: %v", what, err)
	}
	sack := tcpip.TCPSACKEnabled(true)
	if err := s.SetTransportProtocolOption(tcp.ProtocolNumber, &sack); err != nil {
		return fail("enable SACK", err)
	}
	// Reno, as gVisor's cubic has overflowed its congestion window
	// arithmetic under load (google/gvisor#11632).
	reno := tcpip.CongestionControlOption("reno")
	if err := s.SetTransportProtocolOption(tcp.ProtocolNumber, &reno); err != nil {
		return fail("set congestion control", err)
	}
	def := min(l.TCPBufferSize, 1<<20)
	rcv := tcpip.TCPReceiveBufferSizeRangeOption{Min: 4096, Default: def, Max: l.TCPBufferSize}
	if err := s.SetTransportProtocolOption(tcp.ProtocolNumber, &rcv); err != nil {
		return fail("bound TCP receive buffers", err)
	}
	snd := tcpip.TCPSendBufferSizeRangeOption{Min: 4096, Default: def, Max: l.TCPBufferSize}
	if err := s.SetTransportProtocolOption(tcp.ProtocolNumber, &snd); err != nil {
		return fail("bound TCP send buffers", err)
	}
	if err := s.CreateNIC(nicID, ep); err != nil {
		return fail("create NIC", err)
	}
	if err := s.SetPromiscuousMode(nicID, true); err != nil {
		return fail("promiscuous mode", err)
	}
	if err := s.SetSpoofing(nicID, true); err != nil {
		return fail("spoofing", err)
	}
	s.SetRouteTable([]tcpip.Route{
		{Destination: header.IPv4EmptySubnet, NIC: nicID},
		{Destination: header.IPv6EmptySubnet, NIC: nicID},
	})
	// The resolver's address is assigned so that the DNS server can bind
	// to it; every other virtual address is reached through promiscuity.
	pa := tcpip.ProtocolAddress{
		Protocol:          protocolOf(resolver),
		AddressWithPrefix: tcpip.AddrFromSlice(resolver.AsSlice()).WithPrefix(),
	}
	if err := s.AddProtocolAddress(nicID, pa, stack.AddressProperties{}); err != nil {
		return fail("assign the resolver address", err)
	}
	return s, ep, nil
}

func protocolOf(a netip.Addr) tcpip.NetworkProtocolNumber {
	if a.Is4() {
		return ipv4.ProtocolNumber
	}
	return ipv6.ProtocolNumber
}

func fullAddr(ap netip.AddrPort) tcpip.FullAddress {
	return tcpip.FullAddress{NIC: nicID, Addr: tcpip.AddrFromSlice(ap.Addr().AsSlice()), Port: ap.Port()}
}

// addrFrom converts a stack address to netip.
func addrFrom(a tcpip.Address) netip.Addr {
	switch a.Len() {
	case 4:
		return netip.AddrFrom4(a.As4())
	case 16:
		return netip.AddrFrom16(a.As16()).Unmap()
	}
	return netip.Addr{}
}

// endpoints returns a transport endpoint ID as the flow's source (the
// device) and destination (the virtual address it asked for).
func endpoints(id stack.TransportEndpointID) (src, dst netip.AddrPort) {
	return netip.AddrPortFrom(addrFrom(id.RemoteAddress), id.RemotePort),
		netip.AddrPortFrom(addrFrom(id.LocalAddress), id.LocalPort)
}

// Package gvisorstack is a wireguard-go tun.Device whose packets go to and
// come from a gVisor network stack in the same process: what WireGuard
// decrypts is handed to the stack, and what the stack sends waits in a
// bounded queue until WireGuard reads it. The agent's proxy mode ends its
// tunnel here, and the edge forwards its flows from here.
//
// wireguard-go's own tun/netstack does the same but hides its stack, so
// nothing in it can be tuned. This package exposes the options that decide
// throughput and memory: the TCP buffer bounds (which bound the packets in
// flight, and so wireguard-go's buffer pools, which hold 64 KiB per packet
// however small), the queue length, and segmentation offload in both
// directions (see Device).
package gvisorstack

import (
	"context"
	"fmt"
	"net/netip"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv6"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/icmp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"
)

// NICID is the stack's only NIC: the WireGuard device.
const NICID tcpip.NICID = 1

// Defaults of Options; each applies when its field is left zero.
const (
	// DefaultQueueLen is how many packets the stack may queue for
	// WireGuard; with segmentation offload one queued packet carries up to
	// 64 KiB of one TCP connection's data.
	DefaultQueueLen = 1024
	// DefaultTCPBufferSize bounds each TCP connection's send and receive
	// buffers. Through a WireGuard tunnel on loopback more is no faster
	// (test/integration BenchmarkEdgeTCPBuffer), and each byte in flight
	// costs wireguard-go ~50 bytes of pooled buffers at a 1280-byte MTU.
	DefaultTCPBufferSize = 256 << 10
)

// Options describe a Stack. MTU is required; the zero value of every other
// field is a default.
type Options struct {
	// MTU of the link: the tunnel's MTU.
	MTU int
	// QueueLen is how many packets may wait for WireGuard to read them
	// (DefaultQueueLen); the stack's packets past it are dropped, as on a
	// full NIC ring, and TCP retransmits them.
	QueueLen int
	// TCPBufferSize caps each TCP connection's send and receive buffer
	// (DefaultTCPBufferSize); receive buffers start smaller and grow up to
	// it as the connection needs (receive buffer moderation).
	TCPBufferSize int
	// Addresses are assigned to the NIC: the device's own addresses, which
	// connections are dialed from, or an address a server binds to.
	Addresses []netip.Addr
	// Promiscuous makes the NIC accept packets for every destination and
	// send from any source, so that forwarders can terminate flows to any
	// address (the edge).
	Promiscuous bool
	// DisableOffload turns off segmentation offload in both directions, so
	// that the stack sends and receives MTU-sized packets one by one as
	// wireguard-go's netstack does; it exists to measure what offload buys.
	DisableOffload bool
	// Name is what the Device reports as its interface name.
	Name string
}

// Stack is a gVisor network stack with one NIC whose other end is a
// tun.Device for wireguard-go.
type Stack struct {
	st   *stack.Stack
	link *link
	dev  *Device
}

// New returns a running Stack. Close and Wait release it.
func New(o Options) (*Stack, error) {
	if o.MTU <= 0 {
		return nil, fmt.Errorf("network stack: MTU %d must be positive", o.MTU)
	}
	if o.QueueLen <= 0 {
		o.QueueLen = DefaultQueueLen
	}
	if o.TCPBufferSize <= 0 {
		o.TCPBufferSize = DefaultTCPBufferSize
	}
	st := stack.New(stack.Options{
		NetworkProtocols:   []stack.NetworkProtocolFactory{ipv4.NewProtocol, ipv6.NewProtocol},
		TransportProtocols: []stack.TransportProtocolFactory{tcp.NewProtocol, udp.NewProtocol, icmp.NewProtocol4, icmp.NewProtocol6},
	})
	l := newLink(uint32(o.MTU), o.QueueLen, !o.DisableOffload)
	s := &Stack{st: st, link: l}
	if err := s.configure(o); err != nil {
		st.Close()
		st.Wait()
		l.Close()
		return nil, err
	}
	s.dev = newDevice(l, o.MTU, o.Name)
	return s, nil
}

func (s *Stack) configure(o Options) error {
	fail := func(what string, err tcpip.Error) error {
		return fmt.Errorf("network stack: %s: %v", what, err)
	}
	tcpOpts := []struct {
		what string
		opt  tcpip.SettableTransportProtocolOption
	}{
		{"enable SACK", ptr(tcpip.TCPSACKEnabled(true))},
		// Reno, as gVisor's cubic has overflowed its congestion window
		// arithmetic under load (google/gvisor#11632).
		{"set congestion control", ptr(tcpip.CongestionControlOption("reno"))},
		{"moderate receive buffers", ptr(tcpip.TCPModerateReceiveBufferOption(true))},
		{"bound TCP receive buffers", &tcpip.TCPReceiveBufferSizeRangeOption{Min: 4096, Default: min(o.TCPBufferSize, 256<<10), Max: o.TCPBufferSize}},
		{"bound TCP send buffers", &tcpip.TCPSendBufferSizeRangeOption{Min: 4096, Default: o.TCPBufferSize, Max: o.TCPBufferSize}},
	}
	for _, t := range tcpOpts {
		if err := s.st.SetTransportProtocolOption(tcp.ProtocolNumber, t.opt); err != nil {
			return fail(t.what, err)
		}
	}
	if err := s.st.CreateNIC(NICID, s.link); err != nil {
		return fail("create NIC", err)
	}
	if o.Promiscuous {
		if err := s.st.SetPromiscuousMode(NICID, true); err != nil {
			return fail("promiscuous mode", err)
		}
		if err := s.st.SetSpoofing(NICID, true); err != nil {
			return fail("spoofing", err)
		}
	}
	s.st.SetRouteTable([]tcpip.Route{
		{Destination: header.IPv4EmptySubnet, NIC: NICID},
		{Destination: header.IPv6EmptySubnet, NIC: NICID},
	})
	for _, a := range o.Addresses {
		pa := tcpip.ProtocolAddress{
			Protocol:          ProtocolOf(a),
			AddressWithPrefix: tcpip.AddrFromSlice(a.Unmap().AsSlice()).WithPrefix(),
		}
		if err := s.st.AddProtocolAddress(NICID, pa, stack.AddressProperties{}); err != nil {
			return fail(fmt.Sprintf("assign address %v", a), err)
		}
	}
	return nil
}

func ptr[T any](v T) *T { return &v }

// Stack returns the gVisor stack, for forwarders and protocol handlers.
func (s *Stack) Stack() *stack.Stack { return s.st }

// Device returns the tun.Device wireguard-go reads and writes. Closing it
// (the wireguard-go device does) stops Read; the stack keeps running until
// Close.
func (s *Stack) Device() *Device { return s.dev }

// DialTCP connects to dst; ctx bounds the handshake.
func (s *Stack) DialTCP(ctx context.Context, dst netip.AddrPort) (*gonet.TCPConn, error) {
	c, err := gonet.DialContextTCP(ctx, s.st, FullAddr(dst), ProtocolOf(dst.Addr()))
	if err != nil {
		return nil, err
	}
	return c, nil
}

// ListenTCP listens on local, an address of the NIC's (or any address on a
// promiscuous NIC).
func (s *Stack) ListenTCP(local netip.AddrPort) (*gonet.TCPListener, error) {
	return gonet.ListenTCP(s.st, FullAddr(local), ProtocolOf(local.Addr()))
}

// ListenUDP opens an unconnected UDP socket bound to local (port 0 picks
// one).
func (s *Stack) ListenUDP(local netip.AddrPort) (*gonet.UDPConn, error) {
	a := FullAddr(local)
	return gonet.DialUDP(s.st, &a, nil, ProtocolOf(local.Addr()))
}

// DialUDP opens a UDP socket connected to dst, from the address the route
// to dst picks.
func (s *Stack) DialUDP(dst netip.AddrPort) (*gonet.UDPConn, error) {
	a := FullAddr(dst)
	return gonet.DialUDP(s.st, nil, &a, ProtocolOf(dst.Addr()))
}

// Close closes every endpoint of the stack and the stack itself, without
// waiting; Wait does. The Device stops reading when wireguard-go closes it.
func (s *Stack) Close() {
	s.st.Close()
}

// Wait waits for the stack's goroutines to end once Close was called, then
// releases the NIC and every packet still queued for WireGuard.
func (s *Stack) Wait() {
	s.st.Wait()
	s.st.RemoveNIC(NICID)
	s.link.Close()
}

// ProtocolOf returns the network protocol number of a's family.
func ProtocolOf(a netip.Addr) tcpip.NetworkProtocolNumber {
	if a.Unmap().Is4() {
		return ipv4.ProtocolNumber
	}
	return ipv6.ProtocolNumber
}

// FullAddr returns ap as a gVisor address on the NIC.
func FullAddr(ap netip.AddrPort) tcpip.FullAddress {
	return tcpip.FullAddress{NIC: NICID, Addr: tcpip.AddrFromSlice(ap.Addr().Unmap().AsSlice()), Port: ap.Port()}
}

// AddrFrom returns a gVisor address as a netip.Addr (IPv4-mapped IPv6
// addresses unmapped); the zero Addr when a is neither 4 nor 16 bytes.
func AddrFrom(a tcpip.Address) netip.Addr {
	switch a.Len() {
	case 4:
		return netip.AddrFrom4(a.As4())
	case 16:
		return netip.AddrFrom16(a.As16()).Unmap()
	}
	return netip.Addr{}
}

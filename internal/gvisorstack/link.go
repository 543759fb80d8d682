package gvisorstack

import (
	"sync"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

// gsoMaxSize is the largest TCP packet the stack hands the link with
// segmentation offload; the Device cuts it into MTU-sized packets.
const gsoMaxSize = 1 << 16

// link is the stack's NIC: outbound packets wait in a bounded queue for the
// Device to read them, and the Device delivers inbound packets to the
// dispatcher. It is gVisor's channel.Endpoint with what that one lacks:
// host-style segmentation offload of 64 KiB and checksum offload on
// receive, and a queue that hands packets over without cloning them.
type link struct {
	mtu     uint32
	offload bool
	queue   chan *stack.PacketBuffer

	mu         sync.RWMutex
	dispatcher stack.NetworkDispatcher
	closed     bool // no packet is queued once set
}

func newLink(mtu uint32, queueLen int, offload bool) *link {
	return &link{mtu: mtu, offload: offload, queue: make(chan *stack.PacketBuffer, queueLen)}
}

// WritePackets queues pkts for the Device. Past the queue's length the
// rest are dropped, as by a NIC with a full ring: the stack learns how many
// were queued (ErrNoBufferSpace when none), and TCP retransmits the rest.
func (l *link) WritePackets(pkts stack.PacketBufferList) (int, tcpip.Error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return 0, &tcpip.ErrClosedForSend{}
	}
	n := 0
	for _, pkt := range pkts.AsSlice() {
		select {
		case l.queue <- pkt.IncRef():
			n++
		default:
			pkt.DecRef()
			if n == 0 {
				return 0, &tcpip.ErrNoBufferSpace{}
			}
			return n, nil
		}
	}
	return n, nil
}

// deliverer returns the stack's dispatcher for inbound packets, nil before
// the NIC is attached.
func (l *link) deliverer() stack.NetworkDispatcher {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.dispatcher
}

func (l *link) MTU() uint32 { return l.mtu }

// SetMTU does nothing: the tunnel's MTU is fixed for the device's life.
func (l *link) SetMTU(uint32) {}

func (l *link) MaxHeaderLength() uint16 { return 0 }

func (l *link) LinkAddress() tcpip.LinkAddress { return "" }

func (l *link) SetLinkAddress(tcpip.LinkAddress) {}

// Capabilities offloads checksum verification on receive: every packet
// that reaches the link was authenticated by WireGuard (Poly1305), which is
// also why the Linux kernel's WireGuard marks decrypted packets
// CHECKSUM_UNNECESSARY. gVisor's GRO needs it too, since it does not
// recompute the IPv4 header checksum of the packets it merges. Checksums on
// send stay: the peer may be a standard WireGuard whose stack checks them.
func (l *link) Capabilities() stack.LinkEndpointCapabilities {
	return stack.CapabilityRXChecksumOffload
}

// GSOMaxSize and SupportedGSO make TCP hand over up to 64 KiB per packet,
// with partial checksums, for the Device to segment.
func (l *link) GSOMaxSize() uint32 {
	if !l.offload {
		return 0
	}
	return gsoMaxSize
}

func (l *link) SupportedGSO() stack.SupportedGSO {
	if !l.offload {
		return stack.GSONotSupported
	}
	return stack.HostGSOSupported
}

func (l *link) Attach(d stack.NetworkDispatcher) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.dispatcher = d
}

func (l *link) IsAttached() bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.dispatcher != nil
}

func (l *link) Wait() {}

func (l *link) ARPHardwareType() header.ARPHardwareType { return header.ARPHardwareNone }

func (l *link) AddHeader(*stack.PacketBuffer) {}

func (l *link) ParseHeader(*stack.PacketBuffer) bool { return true }

func (l *link) SetOnCloseAction(func()) {}

// Close stops queueing and releases every queued packet. The stack calls
// it when the NIC is removed; Stack.Wait calls it again, harmlessly.
func (l *link) Close() {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	for {
		select {
		case pkt := <-l.queue:
			pkt.DecRef()
		default:
			return
		}
	}
}

var (
	_ stack.LinkEndpoint = (*link)(nil)
	_ stack.GSOEndpoint  = (*link)(nil)
)

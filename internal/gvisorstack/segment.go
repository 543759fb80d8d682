package gvisorstack

import (
	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/checksum"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

// writeSegments writes pkt into bufs (each from offset on), starting at
// segment first, and returns how many bufs it filled, the next segment to
// write and whether that was the last. A packet without segmentation
// offload is one segment. A packet that cannot fit in a buffer (the MTU
// forbids it) is dropped: it counts as complete with nothing written.
func writeSegments(bufs [][]byte, sizes []int, offset int, pkt *stack.PacketBuffer, first int) (n, next int, complete bool) {
	gso := pkt.GSOOptions
	if gso.Type != stack.GSOTCPv4 && gso.Type != stack.GSOTCPv6 {
		if len(bufs) == 0 {
			return 0, first, false
		}
		dst := bufs[0][offset:]
		if pkt.Size() > len(dst) {
			return 0, 0, true
		}
		c := newCursor(pkt)
		sizes[0] = c.copyTo(dst[:pkt.Size()])
		return 1, 0, true
	}

	nh, th := pkt.NetworkHeader().Slice(), pkt.TransportHeader().Slice()
	hdrLen := len(nh) + len(th)
	payload := pkt.Data().Size()
	mss := int(gso.MSS)
	if mss <= 0 || payload <= mss {
		mss = max(payload, 1)
	}
	segs := max((payload+mss-1)/mss, 1)

	c := newCursor(pkt)
	c.skip(hdrLen + first*mss)
	for seg := first; seg < segs; seg++ {
		if n == len(bufs) {
			return n, seg, false
		}
		start := seg * mss
		size := min(mss, payload-start)
		dst := bufs[n][offset:]
		if hdrLen+size > len(dst) {
			return n, 0, true
		}
		copy(dst, nh)
		copy(dst[len(nh):], th)
		c.copyTo(dst[hdrLen : hdrLen+size])
		fixHeaders(dst[:hdrLen+size], len(nh), seg, segs, uint32(start))
		sizes[n] = hdrLen + size
		n++
	}
	return n, 0, true
}

// fixHeaders makes pkt, a copy of the big packet's headers followed by one
// segment's payload, a packet of its own: lengths, IPv4 ID and checksum,
// TCP sequence number, flags and full checksum (the stack left only the
// pseudo-header's in it).
func fixHeaders(pkt []byte, l3 int, seg, segs int, off uint32) {
	var src, dst tcpip.Address
	if pkt[0]>>4 == 4 {
		ip := header.IPv4(pkt)
		ip.SetTotalLength(uint16(len(pkt)))
		ip.SetID(ip.ID() + uint16(seg))
		ip.SetChecksum(0)
		ip.SetChecksum(^ip.CalculateChecksum())
		src, dst = ip.SourceAddress(), ip.DestinationAddress()
	} else {
		ip := header.IPv6(pkt)
		ip.SetPayloadLength(uint16(len(pkt) - header.IPv6MinimumSize))
		src, dst = ip.SourceAddress(), ip.DestinationAddress()
	}
	t := header.TCP(pkt[l3:])
	t.SetSequenceNumber(t.SequenceNumber() + off)
	flags := t.Flags()
	if seg > 0 {
		flags &^= header.TCPFlagCwr
	}
	if seg < segs-1 {
		flags &^= header.TCPFlagFin | header.TCPFlagPsh
	}
	t.SetFlags(uint8(flags))
	t.SetChecksum(0)
	xsum := header.PseudoHeaderChecksum(header.TCPProtocolNumber, src, dst, uint16(len(t)))
	t.SetChecksum(^checksum.Checksum(t, xsum))
}

// cursor reads a packet's bytes in order across the views that hold them,
// without cloning them.
type cursor struct {
	v   *buffer.View
	off int // into v's bytes
}

func newCursor(pkt *stack.PacketBuffer) cursor {
	vl, off := pkt.AsViewList()
	c := cursor{v: vl.Front()}
	c.skip(off)
	return c
}

func (c *cursor) skip(n int) {
	for c.v != nil && n > 0 {
		left := c.v.Size() - c.off
		if n < left {
			c.off += n
			return
		}
		n -= left
		c.v, c.off = c.v.Next(), 0
	}
}

// copyTo fills dst from the cursor on and returns how much it copied.
func (c *cursor) copyTo(dst []byte) int {
	n := 0
	for c.v != nil && n < len(dst) {
		s := c.v.AsSlice()[c.off:]
		if len(s) == 0 {
			c.v, c.off = c.v.Next(), 0
			continue
		}
		k := copy(dst[n:], s)
		n += k
		c.off += k
	}
	return n
}

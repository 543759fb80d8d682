package wg

import (
	"context"
	"os"
	"sync"
	"syscall"

	"golang.zx2c4.com/wireguard/conn"
	"golang.zx2c4.com/wireguard/tun"
	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/link/channel"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

// linkTUN is the tun.Device wireguard-go reads and writes: packets the
// device decrypts are injected into the gVisor stack, and packets the stack
// sends wait in the channel endpoint's bounded queue until the device reads
// them.
type linkTUN struct {
	ep     *channel.Endpoint
	mtu    int
	events chan tun.Event

	ctx    context.Context // done once Close is called; unblocks Read
	cancel context.CancelFunc
	once   sync.Once
}

func newLinkTUN(ep *channel.Endpoint, mtu int) *linkTUN {
	ctx, cancel := context.WithCancel(context.Background())
	// No EventUp: wireguard-go would bring the device up on its own,
	// before its listen port is set; the Server calls Up itself.
	return &linkTUN{ep: ep, mtu: mtu, events: make(chan tun.Event), ctx: ctx, cancel: cancel}
}

// Read blocks for the first packet, then takes whatever else is queued, up
// to len(bufs), so that wireguard-go encrypts and sends in batches.
func (t *linkTUN) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	pkt := t.ep.ReadContext(t.ctx)
	if pkt == nil {
		return 0, os.ErrClosed
	}
	n := 0
	for pkt != nil {
		if size := copyPacket(bufs[n][offset:], pkt); size > 0 {
			sizes[n] = size
			n++
		}
		pkt.DecRef()
		if n == len(bufs) {
			break
		}
		pkt = t.ep.Read()
	}
	return n, nil
}

// copyPacket copies pkt into dst and returns its size, or 0 when it does
// not fit (it cannot, with the MTU the stack was given; it is dropped).
func copyPacket(dst []byte, pkt *stack.PacketBuffer) int {
	if pkt.Size() > len(dst) {
		return 0
	}
	n := 0
	for _, s := range pkt.AsSlices() {
		n += copy(dst[n:], s)
	}
	return n
}

// Write injects packets into the stack. The stack copies each one, since
// wireguard-go reuses its buffers.
func (t *linkTUN) Write(bufs [][]byte, offset int) (int, error) {
	for _, b := range bufs {
		p := b[offset:]
		if len(p) == 0 {
			continue
		}
		var proto = header.IPv4ProtocolNumber
		switch p[0] >> 4 {
		case 4:
		case 6:
			proto = header.IPv6ProtocolNumber
		default:
			return 0, syscall.EAFNOSUPPORT
		}
		pkt := stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: buffer.MakeWithData(p)})
		t.ep.InjectInbound(proto, pkt)
		pkt.DecRef()
	}
	return len(bufs), nil
}

func (t *linkTUN) File() *os.File           { return nil }
func (t *linkTUN) MTU() (int, error)        { return t.mtu, nil }
func (t *linkTUN) Name() (string, error)    { return "ztagent-edge", nil }
func (t *linkTUN) Events() <-chan tun.Event { return t.events }

// BatchSize lets wireguard-go hand over as many packets per call as its
// bind handles.
func (t *linkTUN) BatchSize() int { return conn.IdealBatchSize }

// Close unblocks Read and closes the event channel; the stack and its
// endpoint are closed by the Server.
func (t *linkTUN) Close() error {
	t.once.Do(func() {
		t.cancel()
		close(t.events)
	})
	return nil
}

package gvisorstack

import (
	"os"
	"sync"
	"syscall"

	"golang.zx2c4.com/wireguard/conn"
	"golang.zx2c4.com/wireguard/tun"
	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/stack/gro"
)

// Device is the tun.Device side of a Stack, for wireguard-go.
//
// Both directions work in batches, which is where the throughput comes
// from: wireguard-go costs the same per packet whatever its size, and so
// does gVisor, so the fewer packets each side handles the better.
//   - Read cuts the stack's 64 KiB TCP packets (segmentation offload) into
//     MTU-sized ones straight into wireguard-go's buffers, so the stack's TCP
//     sender handles one packet where the tunnel carries up to fifty.
//   - Write merges consecutive TCP segments of one flow within the batch
//     wireguard-go decrypted (gVisor's GRO) before the stack sees them, so
//     the stack processes, and acknowledges, one segment per merged run.
type Device struct {
	link   *link
	mtu    int
	name   string
	events chan tun.Event

	done      chan struct{} // closed by Close; unblocks Read
	closeOnce sync.Once

	rmu     sync.Mutex // Read's state; wireguard-go reads from one goroutine
	held    *stack.PacketBuffer
	heldSeg int // the next segment of held to read

	gros sync.Pool // of *gro.GRO; Write runs in one goroutine per peer
}

func newDevice(l *link, mtu int, name string) *Device {
	if name == "" {
		name = "gvisor"
	}
	// No EventUp: wireguard-go would bring the device up on its own,
	// before it is configured; the owner calls Up itself.
	return &Device{link: l, mtu: mtu, name: name, events: make(chan tun.Event), done: make(chan struct{})}
}

// Read blocks for the first packet the stack sends, then takes whatever
// else is queued, up to len(bufs) packets once segmented, so that
// wireguard-go encrypts and sends in batches.
func (d *Device) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	d.rmu.Lock()
	defer d.rmu.Unlock()
	if d.held == nil {
		select {
		case d.held = <-d.link.queue:
			d.heldSeg = 0
		case <-d.done:
			return 0, os.ErrClosed
		}
	}
	n := 0
	for n < len(bufs) {
		if d.held == nil {
			select {
			case d.held = <-d.link.queue:
				d.heldSeg = 0
			default:
				return n, nil
			}
		}
		wrote, next, complete := writeSegments(bufs[n:], sizes[n:], offset, d.held, d.heldSeg)
		n += wrote
		if !complete {
			d.heldSeg = next
			return n, nil
		}
		d.held.DecRef()
		d.held = nil
	}
	return n, nil
}

// Write hands packets wireguard-go decrypted to the stack. The stack copies
// each one, since wireguard-go reuses its buffers.
func (d *Device) Write(bufs [][]byte, offset int) (int, error) {
	disp := d.link.deliverer()
	if disp == nil {
		return len(bufs), nil
	}
	var g *gro.GRO
	if d.link.offload {
		if v, ok := d.gros.Get().(*gro.GRO); ok {
			g = v
		} else {
			g = new(gro.GRO)
			g.Init(true)
		}
		g.Dispatcher = disp
		defer func() {
			g.Flush()
			g.Dispatcher = nil
			d.gros.Put(g)
		}()
	}
	for _, b := range bufs {
		p := b[offset:]
		if len(p) == 0 {
			continue
		}
		proto := header.IPv4ProtocolNumber
		switch p[0] >> 4 {
		case 4:
		case 6:
			proto = header.IPv6ProtocolNumber
		default:
			return 0, syscall.EAFNOSUPPORT
		}
		pkt := stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: buffer.MakeWithData(p)})
		pkt.NetworkProtocolNumber = proto
		pkt.RXChecksumValidated = true // see link.Capabilities
		if g != nil {
			g.Enqueue(pkt)
		} else {
			disp.DeliverNetworkPacket(proto, pkt)
		}
		pkt.DecRef()
	}
	return len(bufs), nil
}

// File returns nil: there is no file descriptor behind the device.
func (d *Device) File() *os.File { return nil }

// MTU returns the link's MTU.
func (d *Device) MTU() (int, error) { return d.mtu, nil }

// Name returns the name given in Options.
func (d *Device) Name() (string, error) { return d.name, nil }

// Events returns a channel that carries no event and is closed by Close.
func (d *Device) Events() <-chan tun.Event { return d.events }

// BatchSize lets wireguard-go hand over as many packets per call as its
// bind handles; a 64 KiB packet cut at the smallest MTU fits in one batch.
func (d *Device) BatchSize() int { return conn.IdealBatchSize }

// Close unblocks Read and closes the event channel; the stack itself is
// closed by Stack.Close.
func (d *Device) Close() error {
	d.closeOnce.Do(func() {
		close(d.done)
		close(d.events)
		d.rmu.Lock()
		if d.held != nil {
			d.held.DecRef()
			d.held = nil
		}
		d.rmu.Unlock()
	})
	return nil
}

var _ tun.Device = (*Device)(nil)

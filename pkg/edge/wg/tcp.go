package wg

import (
	"context"
	"net"
	"sync"

	"go.uber.org/zap"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/waiter"

	"github.com/ztagent/ztagent/internal/relay"
)

// pendingSYNs are the TCP connection attempts between their SYN and the
// verdict (plus the upstream dial). Tracking them here, not only inside
// gVisor's forwarder, bounds them, in total and per device, and lets the
// flow table count the forwarder's handler goroutines exactly.
type pendingSYNs struct {
	quota *quota
	mu    sync.Mutex
	ids   map[stack.TransportEndpointID]string // → the device it counts against
}

func newPendingSYNs(l Limits) *pendingSYNs {
	return &pendingSYNs{
		quota: newQuota(l.MaxPendingTCP, l.MaxPendingTCPPerDevice),
		ids:   make(map[stack.TransportEndpointID]string),
	}
}

// admit reports whether a SYN from device starts a new attempt: false for
// a retransmission of one under way, or, with the bound it hit, when the
// device or all devices together have too many.
func (p *pendingSYNs) admit(id stack.TransportEndpointID, device string) (bool, limitHit) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, dup := p.ids[id]; dup {
		return false, withinLimits
	}
	if hit := p.quota.acquire(device); hit != withinLimits {
		return false, hit
	}
	p.ids[id] = device
	return true, withinLimits
}

func (p *pendingSYNs) done(id stack.TransportEndpointID) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if device, ok := p.ids[id]; ok {
		delete(p.ids, id)
		p.quota.release(device)
	}
}

// handleTCP sees every TCP segment no endpoint claimed. SYNs become
// forwarder requests; anything else goes to the forwarder too, which
// declines it so that the stack answers with a RST.
func (s *Server) handleTCP(id stack.TransportEndpointID, pkt *stack.PacketBuffer) bool {
	h := header.TCP(pkt.TransportHeader().Slice())
	if len(h) < header.TCPMinimumSize || h.Flags()&(header.TCPFlagSyn|header.TCPFlagAck) != header.TCPFlagSyn {
		return s.tcpFwd.HandlePacket(id, pkt)
	}
	src, dst := endpoints(id)
	device := s.deviceAt(src.Addr())
	if ok, hit := s.tcpWait.admit(id, device); !ok {
		if hit != withinLimits {
			if ce := s.log.Check(zap.DebugLevel, "TCP SYN dropped: too many pending connections"); ce != nil {
				ce.Write(zap.String("device_id", device), zap.Stringer("limit", hit),
					zap.Stringer("src", src), zap.Stringer("dst", dst))
			}
		}
		return true // dropped: the client retransmits the SYN
	}
	if !s.flows.enter() {
		s.tcpWait.done(id)
		return true
	}
	if !s.tcpFwd.HandlePacket(id, pkt) {
		// Malformed: no handler goroutine was started.
		s.tcpWait.done(id)
		s.flows.leave()
		return false
	}
	return true
}

// acceptTCP runs in the goroutine gVisor's forwarder starts for each SYN
// handleTCP admitted; it calls the hook, then refuses, forwards or hands
// over the connection.
func (s *Server) acceptTCP(r *tcp.ForwarderRequest) {
	defer s.flows.leave()
	id := r.ID()
	completed := false
	complete := func(reset bool) {
		r.Complete(reset)
		s.tcpWait.done(id)
		completed = true
	}
	defer func() {
		if !completed {
			complete(true)
		}
	}()

	f, ok := s.newFlow(TCP, id)
	if !ok {
		src, dst := endpoints(id)
		s.log.Debug("TCP flow from no peer refused", zap.Stringer("src", src), zap.Stringer("dst", dst))
		return
	}
	v := s.decide(f)
	switch {
	case v.Action == Forward && f.Upstream == "":
		s.logFlow("flow refused", f, zap.Error(errNoUpstream))
		return
	case v.Action == Handle && v.Handler == nil:
		s.logFlow("flow refused: Handle verdict without a handler", f, zap.String("reason", v.Reason))
		return
	case v.Action != Forward && v.Action != Handle:
		s.logFlow("flow refused", f, zap.String("reason", v.Reason))
		return
	}
	lf, err := s.openFlow(f)
	if err != nil {
		s.logFlow("flow refused", f, zap.Error(err))
		return
	}
	defer s.flows.finish(lf)

	if v.Action == Forward {
		// Dial before accepting, so that a dead upstream is a RST to the
		// device rather than an accepted connection that dies at once.
		up, err := s.dialUpstream(lf.ctx, lf, "tcp")
		if err != nil {
			s.logFlow("upstream dial failed; flow refused", f, zap.Error(err))
			return
		}
		client := s.acceptConn(r, lf, complete)
		if client == nil {
			return
		}
		s.logFlow("flow forwarded", f, zap.String("upstream", f.Upstream), zap.String("reason", v.Reason))
		st := relay.Splice(client, up)
		s.logFlow("flow ended", f, zap.Int64("bytes_up", st.Up), zap.Int64("bytes_down", st.Down))
		return
	}
	client := s.acceptConn(r, lf, complete)
	if client == nil {
		return
	}
	s.logFlow("flow handled", f, zap.String("reason", v.Reason))
	v.Handler(lf.ctx, client, func(ctx context.Context) (net.Conn, error) {
		return s.dialUpstream(ctx, lf, "tcp")
	})
}

// acceptConn completes the device's TCP handshake and returns the
// connection, attached to lf; nil (after a RST) when that fails.
func (s *Server) acceptConn(r *tcp.ForwarderRequest, lf *liveFlow, complete func(bool)) net.Conn {
	var wq waiter.Queue
	ep, terr := r.CreateEndpoint(&wq)
	if terr != nil {
		s.logFlow("TCP handshake with the device failed", lf.flow, zap.String("error", terr.String()))
		complete(true)
		return nil
	}
	complete(false)
	// Keepalives end connections whose device vanished without a FIN.
	ep.SocketOptions().SetKeepAlive(true)
	c := gonet.NewTCPConn(&wq, ep)
	if !lf.attach(c) {
		return nil
	}
	return c
}

// dialUpstream dials lf's upstream and attaches the connection to lf.
func (s *Server) dialUpstream(ctx context.Context, lf *liveFlow, network string) (net.Conn, error) {
	if lf.flow.Upstream == "" {
		return nil, errNoUpstream
	}
	d := net.Dialer{Timeout: s.limits.DialTimeout}
	c, err := d.DialContext(ctx, network, lf.flow.Upstream)
	if err != nil {
		return nil, err
	}
	c = s.flows.trackUpstream(lf, c)
	if !lf.attach(c) {
		return nil, errClosed
	}
	return c, nil
}

package wg

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"

	"go.uber.org/zap"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/waiter"
)

// pendingSYNs are the TCP connection attempts between their SYN and the
// verdict (plus the upstream dial). Tracking them here, not only inside
// gVisor's forwarder, bounds them and lets the flow table count the
// forwarder's handler goroutines exactly.
type pendingSYNs struct {
	max int
	mu  sync.Mutex
	ids map[stack.TransportEndpointID]struct{}
}

func newPendingSYNs(max int) *pendingSYNs {
	return &pendingSYNs{max: max, ids: make(map[stack.TransportEndpointID]struct{})}
}

// admit reports whether a SYN starts a new attempt: false for a
// retransmission of one under way, or when too many are.
func (p *pendingSYNs) admit(id stack.TransportEndpointID) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, dup := p.ids[id]; dup || len(p.ids) >= p.max {
		return false
	}
	p.ids[id] = struct{}{}
	return true
}

func (p *pendingSYNs) done(id stack.TransportEndpointID) {
	p.mu.Lock()
	delete(p.ids, id)
	p.mu.Unlock()
}

// handleTCP sees every TCP segment no endpoint claimed. SYNs become
// forwarder requests; anything else goes to the forwarder too, which
// declines it so that the stack answers with a RST.
func (s *Server) handleTCP(id stack.TransportEndpointID, pkt *stack.PacketBuffer) bool {
	h := header.TCP(pkt.TransportHeader().Slice())
	if len(h) < header.TCPMinimumSize || h.Flags()&(header.TCPFlagSyn|header.TCPFlagAck) != header.TCPFlagSyn {
		return s.tcpFwd.HandlePacket(id, pkt)
	}
	if !s.tcpWait.admit(id) {
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
		splice(client, up)
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

// spliceBufSize is the copy buffer per direction of a forwarded TCP flow.
const spliceBufSize = 32 << 10

var spliceBufs = sync.Pool{New: func() any { b := make([]byte, spliceBufSize); return &b }}

// splice copies both ways until both directions have ended, passing each
// direction's end on as a half-close.
func splice(client, up net.Conn) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		pipe(up, client)
	}()
	pipe(client, up)
	<-done
}

// pipe copies src to dst; at EOF it half-closes dst, and on an error it
// closes both so that the other direction ends too.
func pipe(dst, src net.Conn) {
	bp := spliceBufs.Get().(*[]byte)
	defer spliceBufs.Put(bp)
	// The wrappers hide ReadFrom and WriteTo, which would bypass the
	// bounded buffer with one of their own.
	_, err := io.CopyBuffer(struct{ io.Writer }{dst}, struct{ io.Reader }{src}, *bp)
	if err == nil || errors.Is(err, io.EOF) {
		if cw, ok := dst.(interface{ CloseWrite() error }); ok && cw.CloseWrite() == nil {
			return
		}
	}
	dst.Close()
	src.Close()
}

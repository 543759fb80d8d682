package wg

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"
	"gvisor.dev/gvisor/pkg/waiter"

	"github.com/ztagent/ztagent/internal/clock"
)

// udpState is what the UDP path keeps between datagrams: flows whose
// verdict is in and whose endpoint is being created, and refused flows,
// remembered for the idle timeout so that the hook decides each flow once.
type udpState struct {
	starting sync.Map // stack.TransportEndpointID → *udpStart

	mu      sync.Mutex
	max     int
	refused map[stack.TransportEndpointID]time.Time // → when the refusal is forgotten
}

type udpStart struct {
	lf *liveFlow
	up net.Conn
}

func newUDPState(max int) *udpState {
	return &udpState{max: max, refused: make(map[stack.TransportEndpointID]time.Time)}
}

func (u *udpState) isRefused(id stack.TransportEndpointID, now time.Time) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	until, ok := u.refused[id]
	if ok && !now.Before(until) {
		delete(u.refused, id)
		return false
	}
	return ok
}

func (u *udpState) refuse(id stack.TransportEndpointID, until, now time.Time) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.refused) >= u.max {
		for k, t := range u.refused {
			if !now.Before(t) {
				delete(u.refused, k)
			}
		}
	}
	for k := range u.refused {
		if len(u.refused) < u.max {
			break
		}
		delete(u.refused, k) // full of live refusals: forget any one
	}
	u.refused[id] = until
}

// forgetSources drops the refusals of a removed peer's addresses, which a
// new device may be given.
func (u *udpState) forgetSources(pfxs []netip.Prefix) {
	u.mu.Lock()
	defer u.mu.Unlock()
	for id := range u.refused {
		src, _ := endpoints(id)
		for _, p := range pfxs {
			if p.Contains(src.Addr()) {
				delete(u.refused, id)
				break
			}
		}
	}
}

// handleUDP sees every datagram no flow's endpoint claimed: the first one
// of a flow. It decides there, on the packet path, so that returning false
// makes the stack answer a refusal with ICMP port unreachable.
func (s *Server) handleUDP(id stack.TransportEndpointID, pkt *stack.PacketBuffer) bool {
	now := s.clock.Now()
	if s.udp.isRefused(id, now) {
		return false
	}
	f, ok := s.newFlow(UDP, id)
	if !ok {
		return false
	}
	v := s.decide(f)
	if v.Action != Forward || f.Upstream == "" {
		reason := v.Reason
		if v.Action == Forward {
			reason = errNoUpstream.Error()
		} else if v.Action == Handle {
			reason = "UDP flows cannot be handled: " + reason
		}
		s.udp.refuse(id, now.Add(s.limits.UDPIdleTimeout), now)
		s.logFlow("flow refused", f, zap.String("reason", reason))
		return false
	}
	lf, err := s.openFlow(f)
	if err != nil {
		// Remembered like a hook's refusal, so the hook is not asked
		// again for every datagram of this flow (S7: once per flow).
		s.udp.refuse(id, now.Add(s.limits.UDPIdleTimeout), now)
		s.logFlow("flow refused", f, zap.Error(err))
		return false
	}
	// A UDP dial sends nothing and does not block.
	up, err := s.dialUpstream(lf.ctx, lf, "udp")
	if err != nil {
		s.logFlow("upstream dial failed; flow refused", f, zap.Error(err))
		s.flows.finish(lf)
		s.udp.refuse(id, now.Add(s.limits.UDPIdleTimeout), now)
		return false
	}
	st := &udpStart{lf: lf, up: up}
	s.udp.starting.Store(id, st)
	s.udpFwd.HandlePacket(id, pkt) // calls acceptUDP before it returns
	if _, left := s.udp.starting.LoadAndDelete(id); left {
		s.flows.finish(lf) // acceptUDP did not run: nothing serves the flow
	}
	s.logFlow("flow forwarded", f, zap.String("upstream", f.Upstream), zap.String("reason", v.Reason))
	return true
}

// acceptUDP creates the flow's endpoint in the stack, which from then on
// receives the flow's datagrams (the first one included), and starts the
// relay.
func (s *Server) acceptUDP(r *udp.ForwarderRequest) {
	v, ok := s.udp.starting.LoadAndDelete(r.ID())
	if !ok {
		return
	}
	st := v.(*udpStart)
	var wq waiter.Queue
	ep, terr := r.CreateEndpoint(&wq)
	if terr != nil {
		s.logFlow("UDP endpoint creation failed", st.lf.flow, zap.String("error", terr.String()))
		s.flows.finish(st.lf)
		return
	}
	client := gonet.NewUDPConn(&wq, ep)
	if !st.lf.attach(client) {
		s.flows.finish(st.lf)
		return
	}
	if !s.flows.goRun(func() { s.relayUDP(st.lf, client, st.up) }) {
		s.flows.finish(st.lf)
	}
}

// maxDatagram is the largest UDP payload, which the stack may hand over
// after reassembling fragments.
const maxDatagram = 65535

var datagramBufs = sync.Pool{New: func() any { b := make([]byte, maxDatagram); return &b }}

// relayUDP copies datagrams both ways until the flow is idle for
// UDPIdleTimeout or ends otherwise.
func (s *Server) relayUDP(lf *liveFlow, client, up net.Conn) {
	defer s.flows.finish(lf)
	w := startIdleWatch(s.clock, s.limits.UDPIdleTimeout, func() {
		s.logFlow("UDP flow idle; ended", lf.flow)
		lf.end()
	})
	defer w.stop()
	done := make(chan struct{})
	go func() {
		defer close(done)
		copyDatagrams(client, up, w.touch)
		lf.end()
	}()
	copyDatagrams(up, client, w.touch)
	lf.end()
	<-done
}

// idleWatch calls onIdle once nothing has touched it for idle on its
// clock. It keeps one timer, re-armed for the remaining quiet time when it
// fires early, rather than resetting a timer on every datagram.
type idleWatch struct {
	clk    clock.Clock
	idle   time.Duration
	onIdle func()
	last   atomic.Int64 // UnixNano of the last touch

	mu      sync.Mutex
	timer   clock.Timer
	stopped bool
}

func startIdleWatch(clk clock.Clock, idle time.Duration, onIdle func()) *idleWatch {
	w := &idleWatch{clk: clk, idle: idle, onIdle: onIdle}
	w.touch()
	w.mu.Lock()
	w.timer = clk.AfterFunc(idle, w.fire)
	w.mu.Unlock()
	return w
}

func (w *idleWatch) touch() { w.last.Store(w.clk.Now().UnixNano()) }

func (w *idleWatch) fire() {
	quiet := w.clk.Now().Sub(time.Unix(0, w.last.Load()))
	if quiet >= w.idle {
		w.onIdle()
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.stopped {
		w.timer = w.clk.AfterFunc(w.idle-quiet, w.fire)
	}
}

func (w *idleWatch) stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.stopped = true
	w.timer.Stop()
}

// copyDatagrams copies datagrams from src to dst until either fails.
func copyDatagrams(dst, src net.Conn, touch func()) {
	bp := datagramBufs.Get().(*[]byte)
	defer datagramBufs.Put(bp)
	buf := *bp
	for {
		n, err := src.Read(buf)
		if err != nil {
			return
		}
		touch()
		if _, err := dst.Write(buf[:n]); err != nil {
			return
		}
	}
}

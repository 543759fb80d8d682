package wg

import (
	"errors"
	"net"
	"net/netip"
	"sync"
	"time"

	"go.uber.org/zap"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"
	"gvisor.dev/gvisor/pkg/waiter"

	"github.com/ztagent/ztagent/internal/relay"
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
		// again for every datagram of this flow (S7: once per flow);
		// unless the peer changed under it, when the next datagram is
		// the new identity's to be decided.
		if !errors.Is(err, errPeerChanged) {
			s.udp.refuse(id, now.Add(s.limits.UDPIdleTimeout), now)
		}
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

// relayUDP copies datagrams both ways until the flow is idle for
// UDPIdleTimeout or ends otherwise.
func (s *Server) relayUDP(lf *liveFlow, client, up net.Conn) {
	defer s.flows.finish(lf)
	idle := relay.NewIdleTimer(s.clock, s.limits.UDPIdleTimeout, func() {
		s.logFlow("UDP flow idle; ended", lf.flow)
		lf.end()
	})
	defer idle.Stop()
	var st relay.Stats
	done := make(chan struct{})
	go func() {
		defer close(done)
		st.Down = relay.CopyDatagrams(client, up, idle.Touch)
		lf.end()
	}()
	st.Up = relay.CopyDatagrams(up, client, idle.Touch)
	lf.end()
	<-done
	s.logFlow("flow ended", lf.flow, zap.Int64("bytes_up", st.Up), zap.Int64("bytes_down", st.Down))
}

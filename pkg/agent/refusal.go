package agent

import (
	"context"

	"go.uber.org/zap"

	"github.com/ztagent/ztagent/pkg/control"
	"github.com/ztagent/ztagent/pkg/tunnel"
)

// explainRefusal is the tunnel's Options.ExplainRefusal: it asks the edge
// how it decides a new flow to addr now, and explains the refusal as an
// expired session only when the edge's network (l4) policies block that
// flow for session_expired. The session_expired event cannot tell: the
// edge's reset can reach the proxy before the event reaches the agent, and
// the event names a policy, not a flow, so while the session is expired a
// closed port elsewhere would be taken for a block.
//
// Only the L4 stage counts: a TCP connection is refused while it opens,
// which is when the L4 policies decide it; an HTTP policy blocks with the
// edge's own 403 page (or by closing a TLS connection) after it opened.
func (a *Agent) explainRefusal(ctx context.Context, network, addr string) (tunnel.Refusal, bool) {
	a.mu.Lock()
	reg, err := a.registrationLocked()
	knows := a.knowsExpiryLocked()
	a.mu.Unlock()
	if err != nil || !knows {
		// Only while the agent knows a session expired (by the edge's
		// signal or its clock): every other refusal would cost the edge
		// a request, a port scan through the proxy one per port.
		return tunnel.Refusal{}, false
	}
	proto := "tcp"
	if network == "udp" {
		proto = "udp"
	}
	ctx, cancel := context.WithTimeout(ctx, a.opts.EdgeTimeout)
	defer cancel()
	tr, err := a.client(reg).Explain(ctx, reg.DeviceID, addr, proto)
	if err != nil {
		// The client is told the network error it saw; why the edge
		// did not answer (or answered unreadably) is for the logs.
		a.log.Debug("cannot ask the edge why a connection was refused", zap.String("dst", addr), zap.Error(err))
		return tunnel.Refusal{}, false
	}
	for _, st := range tr.Stages {
		if st.Filter != control.FilterL4 {
			continue
		}
		if st.Action != control.ActionBlock || st.Reason != control.ReasonSessionExpired {
			return tunnel.Refusal{}, false
		}
		return tunnel.Refusal{Reason: tunnel.RefusalSessionExpired, PolicyName: st.PolicyName}, true
	}
	return tunnel.Refusal{}, false
}

// knowsExpiryLocked reports whether the agent knows that a session of its
// user expired: the edge signalled it, or a deadline passed by the edge's
// clock.
func (a *Agent) knowsExpiryLocked() bool {
	return len(a.snap.expiredNames) > 0 || (a.snap.broker != nil && a.snap.broker.Pending())
}

package tunnel

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// RefusalReason says why the edge's policy refused a flow.
type RefusalReason string

// RefusalSessionExpired is a refusal by an allow policy whose check_session
// duration the user's session has outlived: signing in again lets the flow
// through.
const RefusalSessionExpired RefusalReason = "session_expired"

// Refusal is why a flow the tunnel carried was refused, as
// Options.ExplainRefusal tells it.
type Refusal struct {
	// Reason is why; the proxy acts on RefusalSessionExpired only and
	// reports any other reason as the network error it saw.
	Reason RefusalReason
	// PolicyName names the policy that refused the flow, shown to the
	// user; it may be empty.
	PolicyName string
}

// explainRefusalTimeout bounds asking why a flow was refused (the rest of
// the dial's deadline bounds it too): the client is waiting for its answer,
// and a network error without the reason is better than a long wait for it.
const explainRefusalTimeout = 3 * time.Second

// explainRefusal asks Options.ExplainRefusal about a dial that the
// destination, or the edge's policy, refused, and returns err or, when the
// reason is an expired session, an error that says so.
//
// Only refusals are explained: the edge answers a flow its policy blocks
// with a reset at once, so a timeout or an unreachable host is never a
// policy's refusal, and a dial that timed out has no time left to ask.
func (p *proxy) explainRefusal(ctx context.Context, err error) error {
	var de *dialError
	if p.opts.ExplainRefusal == nil || !errors.As(err, &de) || de.kind != failRefused || !de.dst.IsValid() {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, explainRefusalTimeout)
	defer cancel()
	// The address actually refused, not the name the client gave: a name
	// may have several addresses, and the edge decided this one's flow.
	r, ok := p.opts.ExplainRefusal(ctx, "tcp", de.dst.String())
	if !ok || r.Reason != RefusalSessionExpired {
		return err
	}
	msg := "session expired: run agentctl reauth"
	if r.PolicyName != "" {
		// %q keeps the reason on one line whatever the name holds.
		msg = fmt.Sprintf("session expired (policy %q): run agentctl reauth", r.PolicyName)
	}
	return &dialError{kind: failSessionExpired, msg: msg, dst: de.dst}
}

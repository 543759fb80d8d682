package wg

import (
	"context"
	"net"
	"net/netip"

	"github.com/ztagent/ztagent/internal/wgkey"
)

// Protocol is a transport protocol of the virtual network.
type Protocol uint8

// The protocols flows use.
const (
	TCP Protocol = iota + 1
	UDP
)

// String returns "tcp" or "udp", as Cloudflare's net.protocol field spells
// them.
func (p Protocol) String() string {
	switch p {
	case TCP:
		return "tcp"
	case UDP:
		return "udp"
	}
	return "unknown"
}

// ParseProtocol returns the Protocol named "tcp" or "udp" (any case).
func ParseProtocol(s string) (Protocol, bool) {
	switch s {
	case "tcp", "TCP":
		return TCP, true
	case "udp", "UDP":
		return UDP, true
	}
	return 0, false
}

// Flow is a new TCP connection or UDP flow as the FlowHook sees it.
type Flow struct {
	// ID is unique among the flows of one Server, for logs.
	ID       uint64
	Protocol Protocol
	// Src is the device's tunnel address and port.
	Src netip.AddrPort
	// Dst is the virtual destination the device asked for.
	Dst netip.AddrPort
	// DeviceID and Peer name the WireGuard peer the flow came through.
	DeviceID string
	Peer     wgkey.Public
	// Upstream is the host:port the virtual network maps Dst to, "" when
	// it has none (Forward then refuses the flow).
	Upstream string
	// Service is the name of the edge service (S15) the flow goes to; such
	// flows never reach the FlowHook.
	Service string
}

// Action is what happens to a new flow.
type Action uint8

// The actions a FlowHook chooses from. The zero Action refuses, so a
// forgotten field fails closed.
const (
	// Refuse resets a TCP connection, or answers a UDP datagram with ICMP
	// port unreachable.
	Refuse Action = iota
	// Forward splices the flow to its upstream, or refuses it when the
	// virtual network has none.
	Forward
	// Handle accepts the TCP connection and gives it to Verdict.Handler
	// (for example to read HTTP requests on it). UDP flows cannot be
	// handled and are refused.
	Handle
)

// String returns the action's lower-case name.
func (a Action) String() string {
	switch a {
	case Refuse:
		return "refuse"
	case Forward:
		return "forward"
	case Handle:
		return "handle"
	}
	return "unknown"
}

// Verdict is a FlowHook's decision on a new flow.
type Verdict struct {
	Action Action
	// Reason is logged with the decision (a policy name, "session_expired").
	Reason string
	// Handler serves a flow whose Action is Handle.
	Handler ConnHandler
}

// DialFunc dials the flow's upstream. Connections it returns are counted as
// the flow's, closed when the Server closes, and known to FlowByUpstream.
type DialFunc func(ctx context.Context) (net.Conn, error)

// ConnHandler serves an accepted TCP connection in the flow's goroutine.
// It owns client, which is closed after it returns, and must return soon
// after ctx is done (the Server is closing or the peer was removed). dial
// reaches the flow's upstream.
type ConnHandler func(ctx context.Context, client net.Conn, dial DialFunc)

// FlowHook decides each new flow once (the Gateway's L4 and HTTP policies).
// DecideFlow may be called from many goroutines at once.
type FlowHook interface {
	DecideFlow(ctx context.Context, f Flow) Verdict
}

// FlowHookFunc adapts a function to FlowHook.
type FlowHookFunc func(ctx context.Context, f Flow) Verdict

// DecideFlow returns h(ctx, f).
func (h FlowHookFunc) DecideFlow(ctx context.Context, f Flow) Verdict { return h(ctx, f) }

// DNSQuery is one question asked of the edge resolver.
type DNSQuery struct {
	// Src is the device's tunnel address and port.
	Src      netip.AddrPort
	DeviceID string
	Peer     wgkey.Public
	// Name is lower case, without the trailing dot.
	Name string
	// Type is the query type (1 for A, 28 for AAAA, as in
	// github.com/miekg/dns).
	Type uint16
	// Addresses are the name's addresses in the virtual network, of every
	// type: what the resolver answers unless the hook blocks.
	Addresses []netip.Addr
}

// DNSAction is what the resolver does with a query.
type DNSAction uint8

// The DNS actions. The zero DNSAction resolves (S6: DNS never waits for a
// session).
const (
	// Resolve answers from the virtual network's records.
	Resolve DNSAction = iota
	// Block answers 0.0.0.0 for A and :: for AAAA, and no records for
	// other types, as Cloudflare Gateway does without a block page.
	Block
)

// String returns the action's lower-case name.
func (a DNSAction) String() string {
	if a == Block {
		return "block"
	}
	return "resolve"
}

// DNSDecision is a DNSHook's decision on a query.
type DNSDecision struct {
	Action DNSAction
	// Reason is logged with the decision.
	Reason string
}

// DNSHook decides DNS queries (the Gateway's DNS policies). Queries for
// edge service names never reach it. DecideDNS may be called from many
// goroutines at once.
type DNSHook interface {
	DecideDNS(ctx context.Context, q DNSQuery) DNSDecision
}

// DNSHookFunc adapts a function to DNSHook.
type DNSHookFunc func(ctx context.Context, q DNSQuery) DNSDecision

// DecideDNS returns h(ctx, q).
func (h DNSHookFunc) DecideDNS(ctx context.Context, q DNSQuery) DNSDecision { return h(ctx, q) }

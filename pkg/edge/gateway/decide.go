package gateway

import (
	"context"
	"net/netip"
	"time"

	"go.uber.org/zap"

	"github.com/ztagent/ztagent/pkg/edge/wg"
	"github.com/ztagent/ztagent/pkg/policy"
)

// DecideFlow decides a new TCP connection or UDP flow with the L4 policies
// (S3, S4), and picks how it is carried: spliced, parsed as HTTP, or peeked
// at for its TLS SNI. pkg/edge/wg asks once per flow, so an established
// flow is never decided again (S7).
func (g *Gateway) DecideFlow(ctx context.Context, f wg.Flow) wg.Verdict {
	if f.Service != "" {
		return wg.Verdict{Action: wg.Forward, Reason: ReasonEdgeService}
	}
	if f.Protocol == wg.TCP {
		// wg answers edge services itself; this only matters should a
		// network map and this view disagree during a reload.
		if _, ok := g.network.Load().service(f.Dst); ok {
			return wg.Verdict{Action: wg.Forward, Reason: ReasonEdgeService}
		}
	}
	id, ok := g.identify(ctx, f.DeviceID, flowRecord(f))
	if !ok {
		return wg.Verdict{Action: wg.Refuse, Reason: ReasonUnknownDevice}
	}
	rs := g.rules.Load()
	pf := g.l4Flow(f, id, g.clock.Now())
	d := rs.decide(pf)
	if f.Protocol == wg.TCP && rs.needsPeek(d) {
		return wg.Verdict{Action: wg.Handle, Reason: "reading the first bytes", Handler: g.tlsHandler(f, true)}
	}
	g.conclude(ctx, withIdentity(flowRecord(f), id, pf.Now), policy.FilterL4, d)
	if d.Action == policy.ActionBlock {
		return wg.Verdict{Action: wg.Refuse, Reason: string(d.Reason)}
	}
	if f.Protocol == wg.TCP {
		switch {
		case g.isHTTPPort(f.Dst.Port()) && (rs.httpActive || g.requests != nil):
			return wg.Verdict{Action: wg.Handle, Reason: string(d.Reason), Handler: g.httpHandler(f)}
		case g.isTLSPort(f.Dst.Port()) && rs.httpActive:
			return wg.Verdict{Action: wg.Handle, Reason: string(d.Reason), Handler: g.tlsHandler(f, false)}
		}
	}
	return wg.Verdict{Action: wg.Forward, Reason: string(d.Reason)}
}

// DecideDNS decides a query with the DNS policies, which never look at the
// session (S6). A blocked name answers 0.0.0.0 or :: (see the package
// documentation).
func (g *Gateway) DecideDNS(ctx context.Context, q wg.DNSQuery) wg.DNSDecision {
	rec := Decision{DeviceID: q.DeviceID, Src: q.Src, Query: q.Name, Protocol: "dns"}
	id, ok := g.identify(ctx, q.DeviceID, rec)
	if !ok {
		return wg.DNSDecision{Action: wg.Block, Reason: ReasonUnknownDevice}
	}
	pf := g.dnsFlow(q.Name, answerOf(q), id, g.clock.Now())
	d := g.rules.Load().decide(pf)
	g.conclude(ctx, withIdentity(rec, id, pf.Now), policy.FilterDNS, d)
	if d.Action == policy.ActionBlock {
		return wg.DNSDecision{Action: wg.Block, Reason: string(d.Reason)}
	}
	return wg.DNSDecision{Action: wg.Resolve, Reason: string(d.Reason)}
}

// identify looks up the device; on failure it records the refusal, since
// the Gateway fails closed for devices it cannot name.
func (g *Gateway) identify(ctx context.Context, deviceID string, rec Decision) (Identity, bool) {
	id, err := g.devices.DeviceIdentity(ctx, deviceID)
	if err == nil {
		return id, true
	}
	rec.Time = g.clock.Now()
	rec.Action, rec.Reason = policy.ActionBlock, ReasonUnknownDevice
	g.out.record(rec)
	g.log.Debug("traffic of an unknown device refused", zap.String("device_id", deviceID), zap.Error(err))
	return Identity{}, false
}

// conclude records a decision and, for the first session_expired block of
// its device, policy and auth_time, signals the device.
func (g *Gateway) conclude(ctx context.Context, rec Decision, filter policy.Filter, d policy.Decision) {
	rec.Filter = filter
	rec.Action, rec.Reason = d.Action, string(d.Reason)
	if d.Rule != nil {
		rec.PolicyID, rec.PolicyName = d.Rule.ID, d.Rule.Name
	}
	if ce := g.log.Check(zap.DebugLevel, "gateway decision"); ce != nil {
		ce.Write(zap.String("device_id", rec.DeviceID), zap.String("filter", string(filter)),
			zap.Stringer("dst", rec.Dst), zap.String("query", rec.Query), zap.String("host", rec.Host),
			zap.String("action", string(rec.Action)), zap.String("reason", rec.Reason), zap.String("policy", rec.PolicyName))
	}
	g.out.record(rec)
	if d.Reason != policy.ReasonSessionExpired || d.Rule == nil {
		return
	}
	s := SessionExpired{DeviceID: rec.DeviceID, AuthTime: rec.AuthTime, PolicyID: d.Rule.ID, PolicyName: d.Rule.Name, Filter: filter}
	if g.signals.first(s) {
		g.out.notify(ctx, s)
	}
}

func flowRecord(f wg.Flow) Decision {
	return Decision{DeviceID: f.DeviceID, FlowID: f.ID, Protocol: f.Protocol.String(), Src: f.Src, Dst: f.Dst}
}

func withIdentity(rec Decision, id Identity, now time.Time) Decision {
	rec.Time, rec.User, rec.AuthTime = now, id.Email, id.AuthTime
	return rec
}

// l4Flow is the network policies' view of f: its source is the device's
// tunnel address (the identity's when f has none, as in Explain) and it
// arrives on the site's virtual network.
func (g *Gateway) l4Flow(f wg.Flow, id Identity, now time.Time) policy.Flow {
	pf := id.Flow(policy.FilterL4, now)
	pf.DstIP, pf.DstPort, pf.Protocol = f.Dst.Addr(), f.Dst.Port(), f.Protocol.String()
	pf.SrcIP = f.Src.Addr()
	if !pf.SrcIP.IsValid() {
		pf.SrcIP = id.Address
	}
	pf.VNetID = g.site.Load().VNetID
	return pf
}

// httpFlow is the HTTP policies' view of a request to host, with the
// host's categories.
func (g *Gateway) httpFlow(host string, id Identity, now time.Time) policy.Flow {
	pf := id.Flow(policy.FilterHTTP, now)
	pf.Host = host
	pf.ContentCategories, pf.SecurityCategories = g.site.Load().categories(host)
	return pf
}

// dnsFlow is the DNS policies' view of a query for name, answered with
// addrs (of the query's type), with the name's categories.
func (g *Gateway) dnsFlow(name string, addrs []netip.Addr, id Identity, now time.Time) policy.Flow {
	pf := id.Flow(policy.FilterDNS, now)
	pf.FQDN, pf.ResolvedIPs = name, addrs
	pf.ContentCategories, pf.SecurityCategories = g.site.Load().categories(name)
	return pf
}

// answerOf returns the addresses the resolver answers q with: those of
// its type among the name's (A: IPv4, AAAA: IPv6, others none).
func answerOf(q wg.DNSQuery) []netip.Addr {
	var out []netip.Addr
	for _, a := range q.Addresses {
		if (q.Type == dnsTypeA && a.Unmap().Is4()) || (q.Type == dnsTypeAAAA && a.Is6() && !a.Is4In6()) {
			out = append(out, a.Unmap())
		}
	}
	return out
}

// The DNS query types with addresses in their answers.
const (
	dnsTypeA    = 1
	dnsTypeAAAA = 28
)

package gateway

import (
	"net/netip"
	"strings"
	"sync"

	"github.com/ztagent/ztagent/pkg/edge/wg"
	"github.com/ztagent/ztagent/pkg/policy"
	"github.com/ztagent/ztagent/pkg/session"
)

// ruleSet is one compiled generation of the policies, with what the hooks
// need to know about it precomputed. It is never modified once stored.
type ruleSet struct {
	engine *policy.Engine
	// l4Pos is each L4 rule's position in evaluation order.
	l4Pos map[*policy.Rule]int
	// firstPeek is the position of the first enabled allow or block L4
	// rule whose traffic reads the flow's first bytes (the SNI, or the
	// detected protocol); -1 when there is none. A decision made without
	// them stands when it was made by an earlier rule.
	firstPeek int
	// httpActive: some enabled HTTP policy can decide or exempt a request.
	httpActive bool
	// limits are the enforced check_session requirements, one per policy.
	limits []session.Requirement
}

func compileRules(p Policies) (*ruleSet, error) {
	e, err := policy.NewEngine(p.Rules, p.Lists)
	if err != nil {
		return nil, compileErr(err)
	}
	rs := &ruleSet{engine: e, l4Pos: make(map[*policy.Rule]int), firstPeek: -1}
	for i, r := range e.Rules(policy.FilterL4) {
		rs.l4Pos[r] = i
		if rs.firstPeek < 0 && deciding(r) && e.ReadsFirstBytes(r) {
			rs.firstPeek = i
		}
	}
	for _, r := range e.Rules(policy.FilterHTTP) {
		if r.Enabled && (deciding(r) || r.Action == policy.ActionOff) {
			rs.httpActive = true
		}
	}
	seen := make(map[string]bool)
	for _, f := range []policy.Filter{policy.FilterL4, policy.FilterHTTP} {
		for _, r := range e.Rules(f) {
			if !r.Enabled || r.Action != policy.ActionAllow || !r.Limited() || seen[r.ID] {
				continue
			}
			seen[r.ID] = true
			rs.limits = append(rs.limits, session.Requirement{
				PolicyID: r.ID, Name: r.Name, Filter: sessionFilters(r), Duration: r.Session.Duration,
			})
		}
	}
	return rs, nil
}

func deciding(r *policy.Rule) bool {
	return r.Enabled && (r.Action == policy.ActionAllow || r.Action == policy.ActionBlock)
}

// sessionFilters names the filters of r that check the session: "l4",
// "http", or "l4,http".
func sessionFilters(r *policy.Rule) string {
	var fs []string
	for _, f := range r.Filters {
		if f != policy.FilterDNS {
			fs = append(fs, string(f))
		}
	}
	return strings.Join(fs, ",")
}

// flowPool recycles the flows handed to the engine, which keeps a pointer
// to each in its own pooled state: a local policy.Flow would escape to the
// heap on every decision.
var flowPool = sync.Pool{New: func() any { return new(policy.Flow) }}

// decide returns the engine's decision on pf.
func (rs *ruleSet) decide(pf policy.Flow) policy.Decision {
	p := flowPool.Get().(*policy.Flow)
	*p = pf
	d := rs.engine.Decide(p)
	*p = policy.Flow{} // keep no identity alive in the pool
	flowPool.Put(p)
	return d
}

// needsPeek reports whether an L4 decision made without the flow's first
// bytes could change once they are known: a rule that reads them comes
// before the deciding one, or is it.
func (rs *ruleSet) needsPeek(d policy.Decision) bool {
	if rs.firstPeek < 0 {
		return false
	}
	if d.Rule == nil {
		return true
	}
	return rs.l4Pos[d.Rule] >= rs.firstPeek
}

// netView is the part of the virtual network the Gateway looks at: names
// for Explain, and the edge services' addresses (S15).
type netView struct {
	names    map[string][]netip.Addr
	services map[netip.AddrPort]string // TCP address → service name
}

func newNetView(n wg.Network) *netView {
	v := &netView{names: make(map[string][]netip.Addr), services: make(map[netip.AddrPort]string)}
	for _, r := range n.Records {
		v.names[normalName(r.Name)] = r.Addresses
	}
	for _, s := range n.Services {
		if len(s.Names) == 0 {
			continue
		}
		addr := netip.AddrPortFrom(s.Address.Addr().Unmap(), s.Address.Port())
		v.services[addr] = normalName(s.Names[0])
		for _, name := range s.Names {
			v.names[normalName(name)] = []netip.Addr{addr.Addr()}
		}
	}
	return v
}

// service returns the name of the edge service at dst, if it is one.
func (v *netView) service(dst netip.AddrPort) (string, bool) {
	name, ok := v.services[netip.AddrPortFrom(dst.Addr().Unmap(), dst.Port())]
	return name, ok
}

func normalName(n string) string { return strings.TrimSuffix(strings.ToLower(n), ".") }

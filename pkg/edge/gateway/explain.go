package gateway

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"time"

	"github.com/ztagent/ztagent/pkg/edge/wg"
	"github.com/ztagent/ztagent/pkg/policy"
	"github.com/ztagent/ztagent/pkg/session"
)

// Explanation is the Gateway's decision on a hypothetical flow of a device,
// stage by stage, for GET /v1/registrations/{id}/explain and agentctl why.
type Explanation struct {
	DeviceID   string    `json:"device_id"`
	User       string    `json:"user"`
	Groups     []string  `json:"groups"`
	Dst        string    `json:"dst"`
	Protocol   string    `json:"proto"`
	AuthTime   time.Time `json:"auth_time"`
	ServerTime time.Time `json:"server_time"`
	// SessionAge is server_time − auth_time, as Go writes durations;
	// "none" for a device that never signed in (a service token's).
	SessionAge string `json:"session_age"`
	// Action, Reason and the policy are the overall outcome: the first
	// stage that blocks, else the last stage a policy decided.
	Action     policy.Action `json:"action"`
	Reason     string        `json:"reason"`
	PolicyID   string        `json:"policy_id,omitempty"`
	PolicyName string        `json:"policy_name,omitempty"`
	Stages     []Stage       `json:"stages"`
}

// Stage is one filter's decision within an Explanation.
type Stage struct {
	Filter policy.Filter `json:"filter"`
	// Flow is what the stage evaluated, in the rule language's field
	// names, such as "net.dst.ip=10.0.0.10 net.dst.port=22 net.protocol=tcp".
	Flow       string        `json:"flow"`
	Action     policy.Action `json:"action"`
	Reason     string        `json:"reason"`
	PolicyID   string        `json:"policy_id,omitempty"`
	PolicyName string        `json:"policy_name,omitempty"`
	// Note says what the stage assumed or why it is special.
	Note  string       `json:"note,omitempty"`
	Trace policy.Trace `json:"trace"`
}

// Explain returns the decision the Gateway would make now on a new flow of
// device deviceID to dst ("host:port" with a name of the virtual network,
// or "ip:port") over proto ("tcp" or "udp"; "" is tcp). A name is first
// decided as a DNS query; then the L4 policies decide the flow (a name on a
// TLS port is taken as its SNI); then, for TCP to an HTTP or TLS port, the
// HTTP policies decide a GET of / (the host only on a TLS port). Errors
// about dst and proto wrap ErrBadDestination; a device the lookup does not
// know returns the lookup's error.
func (g *Gateway) Explain(ctx context.Context, deviceID, dst, proto string) (Explanation, error) {
	p := wg.TCP
	if proto != "" {
		var ok bool
		if p, ok = wg.ParseProtocol(proto); !ok {
			return Explanation{}, fmt.Errorf("%w: protocol %q is not tcp or udp", ErrBadDestination, proto)
		}
	}
	host, portText, err := net.SplitHostPort(dst)
	if err != nil {
		return Explanation{}, fmt.Errorf("%w: %q is not host:port; write it as wiki.acme.internal:443 or 10.0.0.10:22", ErrBadDestination, dst)
	}
	port, err := strconv.ParseUint(portText, 10, 16)
	if err != nil || port == 0 {
		return Explanation{}, fmt.Errorf("%w: port %q of %q is not a number from 1 to 65535", ErrBadDestination, portText, dst)
	}
	id, err := g.devices.DeviceIdentity(ctx, deviceID)
	if err != nil {
		return Explanation{}, err
	}
	rs, view, now := g.rules.Load(), g.network.Load(), g.clock.Now()
	ex := Explanation{
		DeviceID: deviceID, User: id.Email, Groups: id.Groups, Dst: dst, Protocol: p.String(),
		AuthTime: id.AuthTime, ServerTime: now,
		SessionAge: sessionAge(id.AuthTime, now),
		Stages:     []Stage{},
	}
	if ex.Groups == nil {
		ex.Groups = []string{}
	}

	addr, err := netip.ParseAddr(host)
	name := ""
	if err != nil {
		name = normalName(host)
		answer := answerOf(wg.DNSQuery{Type: dnsTypeA, Addresses: view.names[name]})
		if len(answer) == 0 {
			answer = answerOf(wg.DNSQuery{Type: dnsTypeAAAA, Addresses: view.names[name]})
		}
		pf := g.dnsFlow(name, answer, id, now)
		st := stageOf(rs, &pf, "dns.fqdn="+name)
		st.Note = "DNS policies never check the client session"
		if st.Action == policy.ActionBlock {
			st.Note += "; the name answers 0.0.0.0 and ::"
		}
		ex.Stages = append(ex.Stages, st)
		if st.Action == policy.ActionBlock {
			return ex.conclude(), nil
		}
		addrs := view.names[name]
		if len(addrs) == 0 {
			return Explanation{}, fmt.Errorf("%w: %s is not a name of the virtual network; give an ip:port or a name from the simulator file's records", ErrBadDestination, name)
		}
		addr = preferIPv4(addrs)
	}
	to := netip.AddrPortFrom(addr.Unmap(), uint16(port))
	if svc, ok := view.service(to); ok && p == wg.TCP {
		ex.Action, ex.Reason = policy.ActionAllow, ReasonEdgeService
		ex.Stages = append(ex.Stages, Stage{Filter: policy.FilterL4, Flow: l4Text(to, p, ""), Action: policy.ActionAllow,
			Reason: ReasonEdgeService, Note: svc + " is an edge service: it always passes, whatever the policies say, so that re-authentication stays possible", Trace: policy.Trace{}})
		return ex, nil
	}

	sni := ""
	if name != "" && p == wg.TCP && g.isTLSPort(to.Port()) {
		sni = name
	}
	pf := g.l4Flow(wg.Flow{Protocol: p, Dst: to}, id, now)
	pf.SNI = sni
	st := stageOf(rs, &pf, l4Text(to, p, sni))
	if sni != "" {
		st.Note = "the client is assumed to send the name as its TLS SNI"
	}
	ex.Stages = append(ex.Stages, st)
	if st.Action == policy.ActionBlock || p != wg.TCP || !rs.httpActive {
		return ex.conclude(), nil
	}

	reqHost := name
	if reqHost == "" {
		reqHost = addr.String()
	}
	switch {
	case g.isHTTPPort(to.Port()):
		pf := g.httpFlow(reqHost, id, now)
		pf.Method, pf.Path, pf.URI = "GET", "/", "http://"+reqHost+"/"
		st := stageOf(rs, &pf, "http.request.host="+reqHost+" http.request.method=GET http.request.uri.path=/")
		st.Note = "a GET of / is assumed; every request on the connection is decided on its own"
		ex.Stages = append(ex.Stages, st)
	case g.isTLSPort(to.Port()):
		pf := g.httpFlow(sni, id, now)
		st := stageOf(rs, &pf, "http.request.host="+sni)
		st.Note = "TLS is not intercepted: HTTP policies see the SNI host only"
		ex.Stages = append(ex.Stages, st)
	}
	return ex.conclude(), nil
}

// stageOf explains one filter's decision on pf.
func stageOf(rs *ruleSet, pf *policy.Flow, flowText string) Stage {
	d, trace := rs.engine.Explain(pf)
	if trace == nil {
		trace = policy.Trace{}
	}
	st := Stage{Filter: pf.Filter, Flow: flowText, Action: d.Action, Reason: string(d.Reason), Trace: trace}
	if d.Rule != nil {
		st.PolicyID, st.PolicyName = d.Rule.ID, d.Rule.Name
	}
	return st
}

// conclude sets the overall outcome from the stages.
func (ex Explanation) conclude() Explanation {
	ex.Action, ex.Reason = policy.ActionAllow, string(policy.ReasonNoMatch)
	for _, st := range ex.Stages {
		if st.Action == policy.ActionBlock || st.PolicyID != "" {
			ex.Action, ex.Reason, ex.PolicyID, ex.PolicyName = st.Action, st.Reason, st.PolicyID, st.PolicyName
		}
		if st.Action == policy.ActionBlock {
			break
		}
	}
	return ex
}

func l4Text(to netip.AddrPort, p wg.Protocol, sni string) string {
	s := "net.dst.ip=" + to.Addr().String() + " net.dst.port=" + strconv.Itoa(int(to.Port())) + " net.protocol=" + p.String()
	if sni != "" {
		s += " net.sni.host=" + sni
	}
	return s
}

func preferIPv4(addrs []netip.Addr) netip.Addr {
	for _, a := range addrs {
		if a.Unmap().Is4() {
			return a.Unmap()
		}
	}
	return addrs[0]
}

// Session is a device's per-policy expiry map, for
// GET /v1/registrations/{id}/session.
type Session struct {
	DeviceID   string    `json:"device_id"`
	AuthTime   time.Time `json:"auth_time"`
	ServerTime time.Time `json:"server_time"`
	// Gateway lists every enabled allow policy with an enforced
	// check_session, earliest expiry first (S4: policies without one set
	// no limit and are left out).
	Gateway []session.Expiry `json:"gateway"`
}

// Session returns the device's session limits under the current policies,
// as of the edge's clock now. A device the lookup does not know returns the
// lookup's error.
func (g *Gateway) Session(ctx context.Context, deviceID string) (Session, error) {
	id, err := g.devices.DeviceIdentity(ctx, deviceID)
	if err != nil {
		return Session{}, err
	}
	now := g.clock.Now()
	// At the edge, the edge's clock is the local clock: no offset.
	m := session.ExpiryMap(g.rules.Load().limits, id.AuthTime, session.EdgeClock{}, now)
	return Session{DeviceID: deviceID, AuthTime: id.AuthTime, ServerTime: now, Gateway: m}, nil
}

func sessionAge(authTime, now time.Time) string {
	if authTime.IsZero() {
		return "none"
	}
	return session.Age(authTime, now).Truncate(time.Second).String()
}

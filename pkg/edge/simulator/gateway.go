package simulator

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/ztagent/ztagent/pkg/control"
	"github.com/ztagent/ztagent/pkg/edge/accessgate"
	"github.com/ztagent/ztagent/pkg/edge/controlapi"
	"github.com/ztagent/ztagent/pkg/edge/gateway"
	"github.com/ztagent/ztagent/pkg/edge/internal/httpapi"
	"github.com/ztagent/ztagent/pkg/edge/registry"
	"github.com/ztagent/ztagent/pkg/edge/wg"
	"github.com/ztagent/ztagent/pkg/policy"
	"github.com/ztagent/ztagent/pkg/tfconfig"
)

// gatewayHooks connects the Gateway to the registry (who a device is, where
// its signals go, the audit log), the WireGuard server (its hooks) and the
// control API (session and explain), and puts the Access gate (S9, S10) on
// its plain-HTTP requests.
type gatewayHooks struct {
	s      *Simulator
	gw     *gateway.Gateway
	access *accessgate.Gate
	ids    *identityCache
	// idExprs caches the policies' identity expressions for the session
	// view's applies_to_user.
	idExprs atomic.Pointer[identityExprs]
}

// newGatewayHooks needs the team domain started: the Access gate sends
// logins there.
func newGatewayHooks(s *Simulator, cfg *config) (*gatewayHooks, error) {
	g := &gatewayHooks{s: s, ids: newIdentityCache(s)}
	network, err := cfg.network()
	if err != nil {
		return nil, err
	}
	apps, err := accessgate.Compile(cfg.tf)
	if err != nil {
		return nil, err
	}
	g.access, err = accessgate.New(accessgate.Options{
		Apps:                   apps,
		TeamDomain:             s.team.TeamDomain,
		Clock:                  s.clock,
		OnDeviceSessionExpired: g.accessExpired,
		Audit:                  g.auditAccess,
		Logger:                 s.log.Named("accessgate"),
	})
	if err != nil {
		return nil, fmt.Errorf("start the Access gate: %w", err)
	}
	g.gw, err = gateway.New(gateway.Options{
		Policies:           gateway.PoliciesFrom(cfg.tf),
		Network:            network,
		Site:               cfg.site(),
		Devices:            g.ids,
		Clock:              s.clock,
		Signal:             g.signal,
		Audit:              g.audit,
		RefreshIdentityURL: cfg.refreshIdentityURL(),
		Requests:           g.access,
		Logger:             s.log.Named("gateway"),
	})
	if err != nil {
		return nil, fmt.Errorf("start the Gateway: %w", err)
	}
	return g, nil
}

func (g *gatewayHooks) flowHook() wg.FlowHook { return g.gw }
func (g *gatewayHooks) dnsHook() wg.DNSHook   { return g.gw }

// decisions returns the control API's view of the Gateway.
func (g *gatewayHooks) decisions() controlapi.Decisions { return g }

// prepare checks a reload's policies and returns the function that swaps
// them in. SetPolicies compiles before it swaps, so a compile error here
// leaves the running policies alone.
func (g *gatewayHooks) prepare(cfg *config) (func(), error) {
	network, err := cfg.network()
	if err != nil {
		return nil, err
	}
	pol := gateway.PoliciesFrom(cfg.tf)
	check, err := gateway.New(gateway.Options{Policies: pol, Devices: g.ids})
	if err != nil {
		return nil, err
	}
	_ = check.Close()
	apps, err := accessgate.Compile(cfg.tf)
	if err != nil {
		return nil, err
	}
	return func() {
		if err := g.gw.SetPolicies(pol); err != nil {
			g.s.log.Error("swapping in the reloaded Gateway policies", zap.Error(err))
		}
		g.gw.SetNetwork(network)
		g.gw.SetSite(cfg.site())
		g.access.SetApps(apps)
	}, nil
}

func (g *gatewayHooks) close() error {
	if g == nil || g.gw == nil {
		return nil
	}
	return g.gw.Close()
}

// signal appends session_expired to the device's stream (S3, S16).
func (g *gatewayHooks) signal(ctx context.Context, se gateway.SessionExpired) error {
	_, err := g.s.reg.Append(ctx, se.DeviceID, control.EventSessionExpired,
		control.SessionExpired{PolicyID: se.PolicyID, PolicyName: se.PolicyName, Filter: string(se.Filter)})
	return err
}

// accessExpired appends session_expired for an Access application whose
// device session expired (S10): the application stands where a Gateway
// policy would, with filter "access".
func (g *gatewayHooks) accessExpired(ctx context.Context, e accessgate.DeviceSessionExpired) error {
	_, err := g.s.reg.Append(ctx, e.DeviceID, control.EventSessionExpired,
		control.SessionExpired{PolicyID: e.AppID, PolicyName: e.AppName, Filter: accessFilter})
	return err
}

// accessFilter is the filter of an Access application's session_expired.
const accessFilter = "access"

func (g *gatewayHooks) auditAccess(ctx context.Context, ev accessgate.Event) {
	if _, err := g.s.reg.Audit(ctx, "access_"+ev.Type, ev.User, ev.DeviceID, ev); err != nil {
		g.s.log.Error("writing the audit log", zap.Error(err))
	}
}

func (g *gatewayHooks) audit(ctx context.Context, d gateway.Decision) error {
	_, err := g.s.reg.Audit(ctx, "gateway_decision", d.User, d.DeviceID, d)
	return err
}

// identityExprs are the compiled identity expressions of one loaded
// configuration's policies, by policy ID.
type identityExprs struct {
	tf   *tfconfig.Config
	byID map[string]*policy.Expr
}

// identities returns the identity expressions of the configuration in
// force, compiling them once per configuration.
func (g *gatewayHooks) identities() *identityExprs {
	tf := g.s.cfg.Load().tf
	if c := g.idExprs.Load(); c != nil && c.tf == tf {
		return c
	}
	pol := gateway.PoliciesFrom(tf)
	c := &identityExprs{tf: tf, byID: make(map[string]*policy.Expr, len(pol.Rules))}
	for _, r := range pol.Rules {
		// The Gateway compiled the same expressions when it loaded the
		// policies; one that fails here is left out, and counts as
		// applying (see appliesTo).
		if e, err := policy.CompileIdentity(r.Identity, pol.Lists); err == nil {
			c.byID[r.ID] = e
		}
	}
	g.idExprs.Store(c)
	return c
}

// appliesTo reports whether the policy's identity conditions match id.
// A policy it does not know (the policies were reloaded in between)
// counts as applying: saying a limit applies when it does not costs a
// needless warning, the other way round a surprise block.
func (c *identityExprs) appliesTo(policyID string, id gateway.Identity) bool {
	e, ok := c.byID[policyID]
	if !ok {
		return true
	}
	f := id.Flow("", time.Time{})
	return e.Match(&f)
}

// Session returns the device's expiry map as the control API's Session:
// each policy says whether it applies to the device's user (a policy for
// another group or domain never blocks them, so its deadline is not
// theirs to meet), and the Access device session.
func (g *gatewayHooks) Session(ctx context.Context, deviceID string) (any, error) {
	sess, err := g.gw.Session(ctx, deviceID)
	if err != nil {
		return nil, err
	}
	id, err := g.ids.DeviceIdentity(ctx, deviceID)
	if err != nil {
		return nil, err
	}
	v := control.Session{DeviceID: sess.DeviceID, AuthTime: sess.AuthTime, ServerTime: sess.ServerTime,
		Gateway: make([]control.PolicySession, 0, len(sess.Gateway))}
	exprs := g.identities()
	for _, e := range sess.Gateway {
		applies := exprs.appliesTo(e.PolicyID, id)
		v.Gateway = append(v.Gateway, control.PolicySession{
			PolicyID: e.PolicyID, Name: e.Name, Filter: e.Filter, Duration: e.DurationText,
			ExpiresAt: e.ExpiresAt, ExpiresAtLocal: e.ExpiresAtLocal, Expired: e.Expired, AppliesToUser: &applies,
			NoIdPSession: e.NoIdPSession,
		})
	}
	if org := g.s.cfg.Load().tf.Organization; org != nil && org.WarpAuthSessionDuration > 0 && !sess.AuthTime.IsZero() {
		exp := sess.AuthTime.Add(org.WarpAuthSessionDuration)
		v.Access = &control.AccessSession{Duration: org.WarpAuthSessionDuration.String(), ExpiresAt: exp, Expired: !sess.ServerTime.Before(exp)}
	}
	return v, nil
}

// Explain returns the decision trace of a hypothetical flow.
func (g *gatewayHooks) Explain(ctx context.Context, deviceID, dst, proto string) (any, error) {
	ex, err := g.gw.Explain(ctx, deviceID, dst, proto)
	if errors.Is(err, gateway.ErrBadDestination) {
		return nil, httpapi.Errorf(http.StatusBadRequest, control.CodeBadRequest,
			"pass ?dst=host:port&proto=tcp|udp, e.g. dst=wiki.acme.internal:80", "%v", err)
	}
	if err != nil {
		return nil, err
	}
	return explanationOf(ex), nil
}

// explanationOf is the Gateway's trace in the control API's terms.
func explanationOf(ex gateway.Explanation) control.Explanation {
	out := control.Explanation{
		DeviceID: ex.DeviceID, User: ex.User, Groups: ex.Groups, Dst: ex.Dst, Protocol: ex.Protocol,
		AuthTime: ex.AuthTime, ServerTime: ex.ServerTime, SessionAge: ex.SessionAge,
		Action: string(ex.Action), Reason: ex.Reason, PolicyID: ex.PolicyID, PolicyName: ex.PolicyName,
		Stages: make([]control.ExplainStage, 0, len(ex.Stages)),
	}
	for _, st := range ex.Stages {
		cs := control.ExplainStage{
			Filter: string(st.Filter), Flow: st.Flow, Action: string(st.Action), Reason: st.Reason,
			PolicyID: st.PolicyID, PolicyName: st.PolicyName, Note: st.Note,
			Trace: make([]control.ExplainStep, 0, len(st.Trace)),
		}
		for _, step := range st.Trace {
			cs.Trace = append(cs.Trace, control.ExplainStep{
				PolicyID: step.RuleID, Name: step.Name, Precedence: step.Precedence,
				Action: string(step.Action), Outcome: step.Outcome, Session: step.Session, Unsimulated: step.Unsimulated,
			})
		}
		out.Stages = append(out.Stages, cs)
	}
	return out
}

// identityCache answers the Gateway's per-flow identity lookups from
// memory: a SQLite read per flow would sit on every device's packet path
// for UDP. Entries are dropped whenever the registry changes a device
// (registration, login, departure, revocation), all of which pass through
// the simulator.
type identityCache struct {
	s   *Simulator
	mu  sync.Mutex
	m   map[string]gateway.Identity
	gen uint64 // bumped by forget, so that a lookup racing it stores nothing stale
}

func newIdentityCache(s *Simulator) *identityCache {
	return &identityCache{s: s, m: make(map[string]gateway.Identity)}
}

// DeviceIdentity returns who an active device belongs to.
func (c *identityCache) DeviceIdentity(ctx context.Context, deviceID string) (gateway.Identity, error) {
	c.mu.Lock()
	id, ok := c.m[deviceID]
	gen := c.gen
	c.mu.Unlock()
	if ok {
		return id, nil
	}
	d, err := c.s.reg.Get(ctx, deviceID)
	if err != nil {
		return gateway.Identity{}, err
	}
	if d.State != registry.StateActive {
		return gateway.Identity{}, fmt.Errorf("device %s is %s", d.ID, d.State)
	}
	cfg := c.s.cfg.Load()
	id = gateway.Identity{Email: d.UserEmail, Name: d.UserName, Groups: d.Groups, AuthTime: d.AuthTime, ServiceTokenID: d.ServiceTokenID}
	if cfg.namesIdPs() {
		id.IdPID = d.IdPID // several IdPs: links name the device's
	}
	if len(d.Addresses) > 0 {
		id.Address = d.Addresses[0].Addr()
	}
	id = cfg.directory(id)
	if len(d.Claims) > 0 {
		// The IdP's own claims, from the last sign-in, over the
		// simulator file's.
		id.OIDCClaims = d.Claims
	}
	c.mu.Lock()
	if c.gen == gen {
		c.m[deviceID] = id
	}
	c.mu.Unlock()
	return id, nil
}

// forget drops the cached identities of the given devices, or of every
// device when none is given.
func (c *identityCache) forget(ids ...string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	if len(ids) == 0 {
		clear(c.m)
		return
	}
	for _, id := range ids {
		delete(c.m, id)
	}
}

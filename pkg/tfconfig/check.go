package tfconfig

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/ztagent/ztagent/pkg/policy"
)

// check runs the validations that need every resource loaded: precedence,
// the rule-language expressions (which reference lists), and the policy
// references of applications.
func (l *loader) check() {
	l.checkPrecedence()
	l.compileExpressions()
	l.resolveAppPolicies()
	l.checkAllowedIdPs()
	l.checkServiceTokenRefs()
	l.checkEnrollmentApps()
	l.checkDeviceIdentity()
}

// checkPrecedence reports duplicate precedences and places policies without
// one after all the others, in file order.
func (l *loader) checkPrecedence() {
	first := map[int]*gwMeta{}
	highest := 0
	for _, m := range l.gw {
		if m.precedence == nil {
			continue
		}
		p := m.p.Precedence
		highest = max(highest, p)
		if prev, ok := first[p]; ok {
			l.d.errorf(m.precedence.keyRng, "precedence %d of %s is also the precedence of %s at %s; Gateway evaluates policies in precedence order, so give each policy its own", p, m.p.Address(), prev.p.Address(), posOf(prev.precedence.keyRng))
			continue
		}
		first[p] = m
	}
	for _, m := range l.gw {
		if m.precedence == nil {
			highest++
			m.p.Precedence = highest
		}
	}
}

func (l *loader) compileExpressions() {
	l.declareExternalLists()
	lists := l.cfg.PolicyLists()
	l.compileProfiles(lists)
	for _, m := range l.gw {
		if !m.valid || !m.p.Simulated() {
			continue
		}
		if m.traffic != nil && m.trafficOK {
			e, err := policy.CompileTraffic(m.p.Traffic, m.p.Filters, lists)
			l.exprError(m.traffic, m.p.Traffic, "traffic", err)
			l.warnUnsimulated(m.traffic, e, "Gateway field")
		}
		if m.identity != nil && m.identityOK {
			e, err := policy.CompileIdentity(m.p.Identity, lists)
			l.exprError(m.identity, m.p.Identity, "identity", err)
			l.warnUnsimulated(m.identity, e, "Gateway field")
		}
	}
}

// warnUnsimulated warns once per use of a Gateway field that the simulator
// does not evaluate, saying how it evaluates it instead.
func (l *loader) warnUnsimulated(f *field, e *policy.Expr, what string) {
	if e == nil {
		return
	}
	for _, u := range e.Unsimulated() {
		pos, _ := l.exprPos(f, u.Offset)
		l.d.at(Warning, pos, "%s is a %s the simulator does not simulate: it has no value here, so every comparison on it is false", u.Name, what)
	}
}

// exprError reports a rule-language error at its place in the file, with
// a hint for the usual ways of getting a list reference wrong, and where
// the text was set when it came from a variable.
func (l *loader) exprError(f *field, expr, part string, err error) {
	if err == nil {
		return
	}
	var pe *policy.Error
	if !errors.As(err, &pe) {
		f.errorf("%s expression: %v", part, err)
		return
	}
	hint, reported := l.listRefHint(expr, pe)
	if reported {
		return
	}
	pos, from := l.exprPos(f, pe.Offset)
	origin := f.origin()
	if from != nil {
		origin = l.origin(from, 0)
	}
	l.d.at(Error, pos, "%s expression: %s%s%s", part, pe.Msg, hint, origin)
}

// listRefRE matches a list reference written as "$${type.name.id}" (HCL
// turns "$${" into a literal "${", so no reference is made) or as
// "$type.name.id" (a literal "$" followed by text).
var listRefRE = regexp.MustCompile(`^\$\{?\s*(cloudflare_[a-z0-9_]+)\.([A-Za-z0-9_-]+)`)

// listRefHint returns what to add to a rule-language error about a list
// reference: how to write one in HCL, or which resource an unknown list ID
// belongs to. reported is true when the error follows from one reported
// already (a reference to a provider v4 list resource).
func (l *loader) listRefHint(expr string, pe *policy.Error) (hint string, reported bool) {
	off := min(max(pe.Offset, 0), len(expr))
	start := off
	for start > 0 && isListByte(expr[start-1]) {
		start--
	}
	if start > 0 && expr[start-1] == '$' {
		start--
	}
	tok := expr[start:]
	if m := listRefRE.FindStringSubmatch(tok); m != nil {
		return fmt.Sprintf(`; to reference a list, write ${"$"}${%s.%s.id} in the HCL string (a literal "$" followed by the list's ID)`, m[1], m[2]), false
	}
	if !strings.HasPrefix(pe.Msg, "unknown list $") || !strings.HasPrefix(tok, "$") {
		return "", false
	}
	end := 1
	for end < len(tok) && isListByte(tok[end]) {
		end++
	}
	rd := l.resourceByID(tok[1:end])
	switch {
	case rd == nil || rd.Type == TypeList:
		return "", false
	case renamedInV5[rd.Type] != "":
		return "", true
	}
	return fmt.Sprintf(`: that is the ID of %s, not of a list; reference a list as ${"$"}${%s.NAME.id}`, rd.Address(), TypeList), false
}

func isListByte(c byte) bool {
	return c == '_' || c == '-' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// resourceByID returns the declared resource with that synthetic ID, or
// nil.
func (l *loader) resourceByID(id string) *resourceDecl {
	for _, rd := range l.decls {
		if rd.ID == id {
			return rd
		}
	}
	return nil
}

func (l *loader) resolveAppPolicies() {
	byID := map[string]*AccessPolicy{}
	for _, p := range l.cfg.AccessPolicies {
		byID[p.ID] = p
	}
	for _, m := range l.apps {
		for i := range m.app.Policies {
			ap := &m.app.Policies[i]
			if ap.Policy != nil || ap.ID == "" {
				continue
			}
			if p, ok := byID[ap.ID]; ok {
				ap.Policy = p
				continue
			}
			switch {
			case i >= len(m.refs) || m.refs[i] == nil:
			case cloudflareID.MatchString(ap.ID):
				// A policy made in the dashboard or in another module,
				// referenced by its Cloudflare ID: real, but not here.
				l.d.warnf(m.refs[i].rng, "no %s in %s has the ID %q (a policy made in the dashboard or in another module): the simulator leaves it out of %s's policies", TypeAccessPolicy, l.dir, ap.ID, m.app.Address())
			default:
				l.d.errorf(m.refs[i].rng, "no %s has the ID %q; reference one as %s.NAME.id", TypeAccessPolicy, ap.ID, TypeAccessPolicy)
			}
		}
	}
}

// checkDeviceIdentity warns when an application asks for device identity
// that cannot apply (S9), and when the organization enables it without a
// duration.
func (l *loader) checkDeviceIdentity() {
	org := l.cfg.Organization
	if org != nil && org.AllowAuthenticateViaWARP && !l.orgWarpSet {
		l.d.at(Warning, org.Pos, "%s sets allow_authenticate_via_warp but no warp_auth_session_duration, so device identity never applies; add warp_auth_session_duration = \"24h\"", org.Address())
	}
	// A warp_auth_session_duration that could not be read was reported
	// where it is written; applications need not say so again.
	badDuration := org != nil && l.orgWarpSet && org.WarpAuthSessionDuration == 0
	for _, m := range l.apps {
		if m.warpField == nil || !*m.app.AllowAuthenticateViaWARP {
			continue
		}
		if di := l.cfg.DeviceIdentity(m.app); !di.Enabled && !(badDuration && di.Reason == reasonNoWarpDuration) {
			l.d.warnf(m.warpField.keyRng, "allow_authenticate_via_warp is on, but device identity cannot apply to %s: %s", m.app.Address(), di.Reason)
		}
	}
}

// PolicyLists returns every list keyed by ID, as expressions reference
// them.
func (c *Config) PolicyLists() policy.Lists {
	lists := make(policy.Lists, len(c.Lists))
	for _, l := range c.Lists {
		lists[l.ID] = l.PolicyList()
	}
	return lists
}

// Rules returns the simulated gateway policies (filters among dns, l4 and
// http) as rules for policy.NewEngine, in precedence order. Disabled
// policies are included: the engine skips them and its trace can say so.
func (c *Config) Rules() []policy.Rule {
	var rules []policy.Rule
	for _, p := range c.GatewayPolicies {
		if p.Simulated() {
			rules = append(rules, p.Rule())
		}
	}
	slices.SortStableFunc(rules, func(a, b policy.Rule) int { return a.Precedence - b.Precedence })
	return rules
}

const reasonNoWarpDuration = "the organization has no warp_auth_session_duration"

// DeviceIdentity is whether an Access application authenticates requests
// from registered devices by their client session (S9).
type DeviceIdentity struct {
	Enabled bool
	// Duration is the organization's warp_auth_session_duration when
	// Enabled.
	Duration time.Duration
	// Source says where allow_authenticate_via_warp came from
	// ("application" or "organization"); Reason, when not Enabled, why not.
	Source string
	Reason string
}

// DeviceIdentity returns whether device identity applies to app: allowed by
// the application's allow_authenticate_via_warp or else the organization's,
// the binding cookie off, only allow and deny (block) policies, and a
// warp_auth_session_duration set (S9).
func (c *Config) DeviceIdentity(app *AccessApplication) DeviceIdentity {
	org := c.Organization
	di := DeviceIdentity{Source: "organization"}
	allowed := org != nil && org.AllowAuthenticateViaWARP
	if app.AllowAuthenticateViaWARP != nil {
		allowed, di.Source = *app.AllowAuthenticateViaWARP, "application"
	}
	switch {
	case !allowed:
		di.Reason = fmt.Sprintf("allow_authenticate_via_warp is off (%s setting)", di.Source)
	case app.EnableBindingCookie:
		di.Reason = "its binding cookie is enabled, and device identity does not work with the binding cookie"
	case org == nil || org.WarpAuthSessionDuration == 0:
		di.Reason = reasonNoWarpDuration
	default:
		for _, ap := range app.Policies {
			if ap.Policy != nil && ap.Policy.Decision != "allow" && ap.Policy.Decision != "deny" {
				di.Reason = fmt.Sprintf("its policy %q has decision %q, and device identity needs allow or block (deny) policies only", ap.Policy.Name, ap.Policy.Decision)
				return di
			}
		}
		di.Enabled, di.Duration = true, org.WarpAuthSessionDuration
	}
	return di
}

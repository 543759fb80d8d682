package tfconfig

import (
	"slices"
	"strings"
	"time"

	"github.com/ztagent/ztagent/pkg/policy"
)

// gwMeta keeps where a gateway policy's checked attributes were written.
type gwMeta struct {
	p          *GatewayPolicy
	precedence *field // nil when the policy has none
	traffic    *field
	identity   *field
	// trafficOK and identityOK say the expression strings are known, so
	// compiling them is meaningful.
	trafficOK  bool
	identityOK bool
	// valid is false when a field the expressions depend on (filters,
	// action) was wrong, so compiling them would only add noise.
	valid bool
	// actionOK and filtersOK say the action and the filters were read
	// and are Gateway values, so that rules about them (S5) may apply.
	actionOK  bool
	filtersOK bool
}

// gatewayActions are the actions of the provider v5 schema.
var gatewayActions = []string{
	"allow", "block", "on", "off", "scan", "noscan", "safesearch", "ytrestricted", "isolate",
	"noisolate", "override", "l4_override", "egress", "resolve", "quarantine", "redirect",
}

// ruleSettingsIgnored are rule_settings keys of the v5 schema that do not
// change what the simulator decides.
var ruleSettingsIgnored = []string{
	"add_headers", "allow_child_bypass", "audit_ssh", "biso_admin_controls", "block_page",
	"block_page_enabled", "bypass_parent_rule", "dns_resolvers", "egress", "forensic_copy",
	"ignore_cname_category_matches", "insecure_disable_dnssec_validation", "ip_categories",
	"ip_indicator_feeds", "l4override", "notification_settings", "override_host", "override_ips",
	"payload_log", "quarantine", "redirect", "resolve_dns_internally", "resolve_dns_through_cloudflare",
	"untrusted_cert",
}

func (l *loader) decodeGatewayPolicy(res Resource, o *object) {
	p := &GatewayPolicy{Resource: res}
	m := &gwMeta{p: p, valid: true}
	o.ignore("schedule", "expiration")
	p.Name, _ = o.required("name", `"Allow wiki"`)
	p.Description = o.str("description")
	p.DevicePosture = o.str("device_posture")
	if p.DevicePosture != "" {
		l.d.warnf(o.get("device_posture").keyRng, "device_posture is not simulated: every device passes it")
	}

	action, af := o.required("action", `"allow"`)
	m.actionOK = af != nil && action != ""
	if af != nil && action == "" && af.value().IsWhollyKnown() {
		// Found by FuzzLoadTerraform: an empty action was accepted, the
		// policy's expressions were then never checked, and the rule
		// engine refused what the loader had accepted.
		af.errorf("action is empty or null; use one of %s", strings.Join(gatewayActions, ", "))
	}
	if m.actionOK {
		action, m.actionOK = af.oneOf(action, gatewayActions, "action")
	}
	if af != nil && action != "" && !m.actionOK {
		af.errorf("action %q is not a Gateway action%s; use one of %s", action, suggest(action, gatewayActions), strings.Join(gatewayActions, ", "))
		m.actionOK = false
	}
	if m.actionOK {
		p.Action = policy.Action(action)
	} else {
		m.valid = false
	}

	l.decodeFilters(p, m, o)

	enabledField := o.get("enabled")
	enabledOK := true
	if enabledField != nil {
		p.Enabled, enabledOK = enabledField.boolean()
	}
	if f := o.get("precedence"); f != nil {
		if n, ok := f.integer(); ok {
			p.Precedence = n
			m.precedence = f
		}
	}
	m.traffic, m.trafficOK = o.get("traffic"), true
	m.identity, m.identityOK = o.get("identity"), true
	if m.traffic != nil {
		p.Traffic, m.trafficOK = m.traffic.str()
	}
	if m.identity != nil {
		p.Identity, m.identityOK = m.identity.str()
	}

	var checkSessionKey *field
	if rs := o.get("rule_settings"); rs != nil {
		checkSessionKey = l.decodeRuleSettings(p, m, rs)
	}

	switch {
	case enabledField == nil && checkSessionKey != nil:
		l.d.warnf(checkSessionKey.keyRng, "%s has check_session but no enabled attribute, and the provider's default is enabled = false: the policy is never evaluated and the session is never checked; add enabled = true", res.Address())
	case enabledField == nil:
		l.d.warnf(o.rng, "%s has no enabled attribute, and the provider's default is enabled = false: the policy is never evaluated; add enabled = true (or enabled = false to say so)", res.Address())
	case enabledOK && !p.Enabled && checkSessionKey != nil: // a bad value was reported already
		l.d.warnf(enabledField.keyRng, "%s is disabled (enabled = false), so its check_session never applies", res.Address())
	}

	l.cfg.GatewayPolicies = append(l.cfg.GatewayPolicies, p)
	l.gw = append(l.gw, m)
}

func (l *loader) decodeFilters(p *GatewayPolicy, m *gwMeta, o *object) {
	ff := o.get("filters")
	if ff == nil {
		if !o.hasBlock("filters") {
			l.d.errorf(o.rng, `%s has no filters; add filters = ["l4"] (or "dns", "http")`, p.Address())
		}
		m.valid = false
		return
	}
	elems, ok := ff.list()
	if !ok {
		m.valid = false
		return
	}
	if len(elems) == 0 {
		ff.errorf(`filters is empty; name the traffic the policy applies to: filters = ["l4"] (or "dns", "http")`)
		m.valid = false
	}
	m.filtersOK = len(elems) > 0
	if len(elems) > 1 {
		// The provider's schema says filters "can only contain a single
		// value", and Cloudflare's API holds it to that.
		ff.errorf(`filters has %d values, and a Gateway policy takes one: write one policy per filter (filters = ["l4"], filters = ["http"])`, len(elems))
		m.valid, m.filtersOK = false, false
	}
	for _, e := range elems {
		s, ok := e.str()
		if !ok {
			m.valid, m.filtersOK = false, false
			continue
		}
		s, _ = e.oneOf(s, gatewayFilters, "filter")
		switch policy.Filter(s) {
		case policy.FilterDNS, policy.FilterL4, policy.FilterHTTP:
		case "egress", "dns_resolver":
			l.d.warnf(e.rng, "%s policies are not simulated; this policy is loaded but never evaluated", s)
			m.valid = false
		default:
			e.errorf(`filter %q is not a Gateway filter%s; use "dns", "l4" or "http"`, s, suggest(s, gatewayFilters))
			m.valid, m.filtersOK = false, false
			continue
		}
		if slices.Contains(p.Filters, policy.Filter(s)) {
			e.errorf("filter %q is listed twice; list it once", s)
			continue
		}
		p.Filters = append(p.Filters, policy.Filter(s))
	}
}

// gatewayFilters are the filters of the provider v5 schema.
var gatewayFilters = []string{"dns", "l4", "http", "egress", "dns_resolver"}

// decodeRuleSettings reads block_reason and check_session; it returns the
// check_session field, for the enabled warnings, or nil.
func (l *loader) decodeRuleSettings(p *GatewayPolicy, m *gwMeta, rs *field) *field {
	o, ok := rs.object()
	if !ok {
		return nil
	}
	o.ignore(ruleSettingsIgnored...)
	p.BlockReason = o.str("block_reason")
	cs := o.get("check_session")
	if cs != nil {
		l.decodeCheckSession(p, m, cs)
	}
	o.finish()
	return cs
}

// decodeCheckSession applies S5: only allow policies with l4 or http
// filters may check the session, for a positive Go duration. Each rule
// applies only to values that were read: a misspelt action is reported
// once, as a misspelt action.
func (l *loader) decodeCheckSession(p *GatewayPolicy, m *gwMeta, cs *field) {
	if m.filtersOK && slices.Contains(p.Filters, policy.FilterDNS) {
		l.d.errorf(cs.keyRng, "check_session is only allowed on l4 and http policies: DNS policies never check the client session; remove check_session from %s or change its filters", p.Address())
	}
	if m.actionOK && p.Action != policy.ActionAllow {
		l.d.errorf(cs.keyRng, "check_session is only allowed on allow policies, and the action of %s is %q; remove check_session or set action = \"allow\"", p.Address(), p.Action)
	}
	o, ok := cs.object()
	if !ok {
		return
	}
	c := &policy.CheckSession{}
	ef := o.get("enforce")
	enforceOK := true
	if ef != nil {
		c.Enforce, enforceOK = ef.boolean()
	}
	if df := o.get("duration"); df != nil {
		if s, _ := df.str(); enforceOK && !c.Enforce && isZeroDuration(s) {
			// enforce = false with duration "0s" is a check that is off,
			// as the provider writes it back and cf-terraforming exports it.
		} else {
			c.Duration, _ = df.duration()
		}
	} else if c.Enforce {
		l.d.errorf(cs.keyRng, `check_session has enforce = true but no duration; add duration = "1h30m0s" (a positive Go duration)`)
	}
	if !c.Enforce && enforceOK {
		rng := cs.keyRng
		if ef != nil {
			rng = ef.keyRng
		}
		l.d.warnf(rng, "check_session of %s does not set enforce = true, so the session is not checked; add enforce = true or remove check_session", p.Address())
	}
	o.finish()
	p.CheckSession = c
}

// isZeroDuration reports whether s is a Go duration of zero, such as "0s".
func isZeroDuration(s string) bool {
	d, err := time.ParseDuration(s)
	return err == nil && d == 0
}

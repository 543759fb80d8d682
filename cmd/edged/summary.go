package main

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ztagent/ztagent/pkg/edge/access"
	"github.com/ztagent/ztagent/pkg/edge/accessgate"
	"github.com/ztagent/ztagent/pkg/policy"
	"github.com/ztagent/ztagent/pkg/tfconfig"
)

// writeSummary prints what the edge would enforce: one headline, then the
// policies per filter, the client-session duration of each l4/http allow
// policy (S8), Access device identity (S9), the identity providers with
// their prompt (S11) and the simulator's endpoints.
func writeSummary(w io.Writer, cfg *tfconfig.Config, sim *tfconfig.Sim) {
	if sim == nil {
		fmt.Fprintf(w, "valid: %s (%s); Terraform alone (pass --sim FILE to check it with a simulator file too)\n", cfg.Dir, resourceCounts(cfg))
	} else {
		fmt.Fprintf(w, "valid: %s (%s) and %s (team %s, %s)\n", cfg.Dir, resourceCounts(cfg), sim.File, sim.Team, plural(len(sim.IdP.Users), "user"))
	}

	fmt.Fprintf(w, "\nGateway policies: %s\n", filterCounts(cfg.GatewayPolicies))
	writeSessions(w, cfg.GatewayPolicies)
	writeDeviceIdentity(w, cfg)
	writeEnrollment(w, cfg)
	writeServiceTokens(w, cfg)
	writeProfiles(w, cfg)
	writeIdPs(w, cfg, sim)
	if sim == nil {
		return
	}

	fmt.Fprintf(w, "\nSimulator: team domain %s (listening on %s), IdP %s (%s), API %s, WireGuard udp %s;\n",
		sim.TeamDomainURL(), sim.Listen.TeamDomain, sim.IdPURL(), sim.Listen.IdP, sim.Listen.API, sim.Listen.WireGuard)
	fmt.Fprintf(w, "  resolver %s, address pool %s, %s, %s\n",
		sim.Network.Resolver, sim.Network.AddressPool, plural(len(sim.Network.Records), "DNS record"), plural(len(sim.Network.Upstreams), "upstream"))
}

func resourceCounts(cfg *tfconfig.Config) string {
	parts := []string{
		plural(len(cfg.GatewayPolicies), "gateway policy"),
		plural(declaredLists(cfg), "list"),
		plural(len(cfg.IdentityProviders), "identity provider"),
		plural(len(cfg.AccessApplications), "Access application"),
		plural(len(cfg.AccessPolicies), "Access policy"),
	}
	if cfg.Organization != nil {
		parts = append(parts, "organization")
	}
	if cfg.DeviceProfile != nil {
		parts = append(parts, "device profile")
	}
	if n := len(cfg.CustomProfiles); n > 0 {
		parts = append(parts, plural(n, "custom device profile"))
	}
	if n := len(cfg.ServiceTokens); n > 0 {
		parts = append(parts, plural(n, "service token"))
	}
	return strings.Join(parts, ", ")
}

// declaredLists counts the lists the directory declares, not the external
// ones it references by ID.
func declaredLists(cfg *tfconfig.Config) int {
	n := 0
	for _, l := range cfg.Lists {
		if !l.External {
			n++
		}
	}
	return n
}

// filterCounts returns "dns 1, l4 1, http 1", with the disabled and
// unsimulated policies counted apart.
func filterCounts(policies []*tfconfig.GatewayPolicy) string {
	counts := map[policy.Filter]int{}
	disabled, other := 0, 0
	for _, p := range policies {
		switch {
		case !p.Simulated():
			other++
		case !p.Enabled:
			disabled++
		default:
			for _, f := range p.Filters {
				counts[f]++
			}
		}
	}
	parts := []string{}
	for _, f := range []policy.Filter{policy.FilterDNS, policy.FilterL4, policy.FilterHTTP} {
		parts = append(parts, fmt.Sprintf("%s %d", f, counts[f]))
	}
	s := strings.Join(parts, ", ")
	if disabled > 0 {
		s += fmt.Sprintf("; %d disabled", disabled)
	}
	if other > 0 {
		s += fmt.Sprintf("; %d not simulated (egress or resolver filters)", other)
	}
	return s
}

// sessionPolicies returns the l4/http allow policies, the ones a
// check_session may limit, in precedence order.
func sessionPolicies(policies []*tfconfig.GatewayPolicy) []*tfconfig.GatewayPolicy {
	var out []*tfconfig.GatewayPolicy
	for _, p := range policies {
		if p.Simulated() && p.Action == policy.ActionAllow && !slices.Contains(p.Filters, policy.FilterDNS) {
			out = append(out, p)
		}
	}
	slices.SortStableFunc(out, func(a, b *tfconfig.GatewayPolicy) int { return a.Precedence - b.Precedence })
	return out
}

func writeSessions(w io.Writer, policies []*tfconfig.GatewayPolicy) {
	ps := sessionPolicies(policies)
	fmt.Fprintln(w, "Client session per l4/http allow policy (precedence, filter, name, duration):")
	if len(ps) == 0 {
		fmt.Fprintln(w, "  none: no policy limits the client session")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, p := range ps {
		d := "no limit"
		if lim := p.SessionLimit(); lim > 0 {
			d = lim.String()
		}
		if !p.Enabled {
			d += " (disabled)"
		}
		fmt.Fprintf(tw, "  %d\t%s\t%q\t%s\n", p.Precedence, joinFilters(p.Filters), p.Name, d)
	}
	tw.Flush()
	fmt.Fprintf(w, "  %s\n", globalTimeout(ps))
}

// globalTimeout says whether the enabled l4/http allow policies share one
// duration, which is how Cloudflare enforces a global timeout (S8).
func globalTimeout(ps []*tfconfig.GatewayPolicy) string {
	var durations []time.Duration
	for _, p := range ps {
		if p.Enabled {
			durations = append(durations, p.SessionLimit())
		}
	}
	switch {
	case len(durations) == 0:
		return "no enabled policy here, so nothing limits the client session"
	case slices.Min(durations) != slices.Max(durations):
		return "durations differ, so there is no global timeout: each policy asks for re-authentication on its own schedule"
	case durations[0] == 0:
		return "no enabled policy limits the client session"
	default:
		return fmt.Sprintf("every enabled policy uses %s: a global timeout", durations[0])
	}
}

func joinFilters(fs []policy.Filter) string {
	s := make([]string, len(fs))
	for i, f := range fs {
		s[i] = string(f)
	}
	return strings.Join(s, ",")
}

func writeDeviceIdentity(w io.Writer, cfg *tfconfig.Config) {
	header := "Access device identity"
	if org := cfg.Organization; org != nil && org.WarpAuthSessionDuration > 0 {
		header += fmt.Sprintf(" (warp_auth_session_duration %s, organization default %s)", org.WarpAuthSessionDuration, onOff(org.AllowAuthenticateViaWARP))
	}
	fmt.Fprintf(w, "%s:\n", header)
	if len(cfg.AccessApplications) == 0 {
		fmt.Fprintln(w, "  no Access applications")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, app := range cfg.AccessApplications {
		if !app.ServedAtHostname() {
			continue
		}
		di := cfg.DeviceIdentity(app)
		state := fmt.Sprintf("on, %s (%s setting)", di.Duration, di.Source)
		if !di.Enabled {
			state = "off: " + di.Reason
		}
		fmt.Fprintf(tw, "  %q\t%s\t%s\n", app.Name, strings.Join(app.Hostnames(), " "), state)
	}
	tw.Flush()
}

// writeEnrollment prints the device enrollment permissions: the type
// "warp" application's policies and the IdPs its login offers.
func writeEnrollment(w io.Writer, cfg *tfconfig.Config) {
	app := cfg.EnrollmentApp()
	if app == nil {
		fmt.Fprintln(w, "Device enrollment permissions: none (no type \"warp\" application), so everyone who signs in may register a device")
		return
	}
	var ps []string
	for _, ap := range app.Policies {
		if ap.Policy != nil {
			ps = append(ps, fmt.Sprintf("%q (%s)", ap.Policy.Name, ap.Policy.Decision))
		}
	}
	who := "no policy, so no one may register a device"
	if len(ps) > 0 {
		who = "policies " + strings.Join(ps, ", ")
	}
	idps := "every identity provider"
	if len(app.AllowedIdPs) > 0 {
		var names []string
		for _, id := range app.AllowedIdPs {
			names = append(names, fmt.Sprintf("%q", cfg.IdentityProviderName(id)))
		}
		idps = strings.Join(names, ", ")
	}
	fmt.Fprintf(w, "Device enrollment permissions (%q): %s; sign-in with %s\n", app.Name, who, idps)
}

// writeServiceTokens prints the service tokens and which enrollment
// policy admits each: a token no Service Auth policy includes cannot
// enroll a device.
func writeServiceTokens(w io.Writer, cfg *tfconfig.Config) {
	if len(cfg.ServiceTokens) == 0 {
		return
	}
	enroll := accessgate.CompileEnrollment(cfg)
	fmt.Fprintln(w, "Service tokens (credentials in <state-dir>/service-tokens.json once edged runs):")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, t := range cfg.ServiceTokens {
		v := enroll.PermitServiceToken(t.ID, t.Name)
		what := "enrolls devices: policy " + strconv.Quote(v.Policy)
		if !v.Allowed {
			what = "cannot enroll a device: " + v.Reason
		}
		fmt.Fprintf(tw, "  %q\tvalid %s\t%s\n", t.Name, t.Duration, what)
	}
	_ = tw.Flush()
}

// writeProfiles prints the device profiles in the order they are
// matched, with the setting the simulator applies (allowed_to_leave, S13).
func writeProfiles(w io.Writer, cfg *tfconfig.Config) {
	leave := func(ok bool) string {
		if ok {
			return "users may leave"
		}
		return "users may not leave"
	}
	def := cfg.DeviceProfile == nil || cfg.DeviceProfile.AllowedToLeave
	if len(cfg.CustomProfiles) == 0 {
		fmt.Fprintf(w, "Device profiles: the default profile only (%s)\n", leave(def))
		return
	}
	fmt.Fprintln(w, "Device profiles, first match applies (precedence, name, match, setting):")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, p := range cfg.ProfilesInOrder() {
		fmt.Fprintf(tw, "  %d\t%q\t%s\t%s\n", p.Precedence, p.Name, p.Match, leave(p.AllowedToLeave))
	}
	fmt.Fprintf(tw, "  -\tdefault\t(every other device)\t%s\n", leave(def))
	tw.Flush()
	if n := len(cfg.CustomProfiles) - len(cfg.ProfilesInOrder()); n > 0 {
		fmt.Fprintf(w, "  %s disabled\n", plural(n, "profile"))
	}
}

func writeIdPs(w io.Writer, cfg *tfconfig.Config, sim *tfconfig.Sim) {
	fmt.Fprintln(w, "Identity providers:")
	if len(cfg.IdentityProviders) == 0 {
		fmt.Fprintln(w, "  none in Terraform: the built-in IdP acts as a plain OIDC provider")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, idp := range cfg.IdentityProviders {
		prompt := "no prompt: an IdP browser session re-authenticates silently"
		if idp.Config.Prompt != "" {
			prompt = "prompt=" + idp.Config.Prompt
		}
		if sim != nil {
			prompt += "; " + signIn(idp, sim)
		}
		fmt.Fprintf(tw, "  %q\t%s\t%s\n", idp.Name, idp.Type, prompt)
	}
	tw.Flush()
}

// signIn says how the team domain signs in with idp: through the built-in
// IdP, or at which URLs of an external provider, or why it cannot.
func signIn(idp *tfconfig.IdentityProvider, sim *tfconfig.Sim) string {
	if sim.IdP.Provider == idp {
		return "played by the built-in IdP"
	}
	base := ""
	if e := sim.IdP.ExternalFor(idp.Label); e != nil {
		base = e.BaseURL
	}
	p, err := access.ExternalIdP(idp, base)
	if err != nil {
		return "not signed in with: " + err.Error()
	}
	if p.AuthURL != "" {
		s := fmt.Sprintf("external: auth %s, token %s, certs %s", p.AuthURL, p.TokenURL, p.JWKSURL)
		if p.Issuer != "" {
			s += ", issuer " + p.Issuer
		}
		return s
	}
	return "external: issuer " + p.Issuer + " (discovery)"
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

// plural returns "1 user", "2 users", "2 gateway policies".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	if strings.HasSuffix(noun, "y") {
		return fmt.Sprintf("%d %sies", n, strings.TrimSuffix(noun, "y"))
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

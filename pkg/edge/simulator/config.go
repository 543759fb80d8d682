package simulator

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/ztagent/ztagent/pkg/control"
	"github.com/ztagent/ztagent/pkg/edge/access"
	"github.com/ztagent/ztagent/pkg/edge/accessgate"
	"github.com/ztagent/ztagent/pkg/edge/controlapi"
	"github.com/ztagent/ztagent/pkg/edge/gateway"
	"github.com/ztagent/ztagent/pkg/edge/wg"
	"github.com/ztagent/ztagent/pkg/tfconfig"
)

// ConfigError is a configuration that cannot be used: Diagnostics lists
// every problem (REL7), as file:line:col: message.
type ConfigError struct {
	Diagnostics tfconfig.Diagnostics
}

// Error returns every error, one per line.
func (e *ConfigError) Error() string {
	errs := e.Diagnostics.Errors()
	return fmt.Sprintf("the configuration has %d error(s):\n%s", len(errs), errs.String())
}

// config is one loaded and linked configuration: the Terraform directory
// and the simulator file.
type config struct {
	tf         *tfconfig.Config
	sim        *tfconfig.Sim
	diags      tfconfig.Diagnostics // warnings and infos of a successful load
	enrollment *accessgate.Enrollment
	profiles   []profile // the enabled custom device profiles, in match order
	// external are the identity providers signed in with besides the
	// played one; unusable says why each other one is not.
	external []access.IdP
	unusable map[string]string
}

// loadConfig loads both files the way edged validate does, applying the
// listener overrides of the command line.
func loadConfig(tfDir, simFile string, listen Listeners) (*config, error) {
	cfg, diags := tfconfig.Load(tfDir)
	sim, simDiags := tfconfig.LoadSim(simFile)
	diags = append(diags, simDiags...)
	if !diags.HasErrors() {
		diags = append(diags, tfconfig.Link(cfg, sim)...)
	}
	if diags.HasErrors() {
		return nil, &ConfigError{Diagnostics: diags}
	}
	listen.applyTo(&sim.Listen)
	if sim.IdP.Provider == nil {
		return nil, &ConfigError{Diagnostics: tfconfig.Diagnostics{{
			Severity: tfconfig.Error,
			Pos:      tfconfig.Pos{File: simFile, Line: 1, Column: 1},
			Message:  "the built-in IdP plays no identity provider: declare a cloudflare_zero_trust_access_identity_provider in the Terraform directory and name it in idp { plays = \"…\" }",
		}}}
	}
	profiles, err := compileProfiles(cfg)
	if err != nil {
		return nil, err
	}
	external, unusable := externalIdPs(cfg, sim)
	return &config{tf: cfg, sim: sim, diags: diags, enrollment: accessgate.CompileEnrollment(cfg), profiles: profiles,
		external: external, unusable: unusable}, nil
}

// Listeners override the simulator file's listening addresses; zero fields
// keep the file's.
type Listeners struct {
	API        netip.AddrPort
	TeamDomain netip.AddrPort
	IdP        netip.AddrPort
	WireGuard  netip.AddrPort
}

func (l Listeners) applyTo(dst *tfconfig.Listeners) {
	for _, o := range []struct {
		src netip.AddrPort
		dst *netip.AddrPort
	}{{l.API, &dst.API}, {l.TeamDomain, &dst.TeamDomain}, {l.IdP, &dst.IdP}, {l.WireGuard, &dst.WireGuard}} {
		if o.src.IsValid() {
			*o.dst = o.src
		}
	}
}

// idpInfo is the identity provider as the agent is told about it.
func (c *config) idpInfo() control.IdP {
	p := c.sim.IdP.Provider
	return control.IdP{Type: p.Type, Prompt: p.Config.Prompt}
}

// clientID is the team domain's client ID at the IdP: the Terraform
// provider's, or a fixed one when the configuration leaves it out.
func (c *config) clientID() string {
	if id := c.sim.IdP.Provider.Config.ClientID; id != "" {
		return id
	}
	return "ztagent-team-domain"
}

func (c *config) allowedToLeave() bool {
	return c.tf.DeviceProfile == nil || c.tf.DeviceProfile.AllowedToLeave
}

func (c *config) refreshIdentityURL() string {
	return strings.TrimSuffix(c.sim.TeamDomainURL(), "/") + "/cdn-cgi/access/refresh-identity"
}

// network returns the virtual network the WireGuard server simulates,
// with the team domain and the IdP reachable through the tunnel (S15).
func (c *config) network() (wg.Network, error) {
	sim := c.sim
	n := wg.Network{Resolver: sim.Network.Resolver}
	for _, r := range sim.Network.Records {
		n.Records = append(n.Records, wg.Record{Name: r.Name, Addresses: r.Addresses})
	}
	for _, u := range sim.Network.Upstreams {
		p, ok := wg.ParseProtocol(u.Protocol)
		if !ok {
			return wg.Network{}, fmt.Errorf("%v: upstream %v has protocol %q; use tcp or udp", u.Pos, u.Address, u.Protocol)
		}
		n.Upstreams = append(n.Upstreams, wg.Upstream{Address: u.Address, Protocol: p, Target: u.Target})
	}
	for _, svc := range []struct {
		url    string
		listen netip.AddrPort
	}{{sim.TeamDomainURL(), sim.Listen.TeamDomain}, {sim.IdPURL(), sim.Listen.IdP}} {
		s, err := wg.ServiceForURL(svc.url, sim.Network.Resolver, svc.listen)
		if err != nil {
			return wg.Network{}, err
		}
		n.Services = append(n.Services, s)
	}
	return n, nil
}

// site is what the Gateway knows besides the virtual network's records:
// the hosts' categories and the network's ID.
func (c *config) site() gateway.Site {
	n := c.sim.Network
	st := gateway.Site{VNetID: n.VNetID, Categories: make(map[string]gateway.Categories, len(n.Hosts))}
	for _, h := range n.Hosts {
		st.Categories[h.Name] = gateway.Categories{Content: h.Content, Security: h.Security}
	}
	return st
}

// directory adds to a device's identity what the built-in IdP's directory
// knows of its user and groups: the groups' IDs and e-mails (by group
// name, as the login named them) and the user's SAML attributes and OIDC
// claims (by e-mail). A user the file does not know (a login through
// another IdP) keeps the identity the login gave.
func (c *config) directory(id gateway.Identity) gateway.Identity {
	idp := &c.sim.IdP
	for _, name := range id.Groups {
		if g := idp.Group(name); g != nil {
			if g.ID != "" {
				id.GroupIDs = append(id.GroupIDs, g.ID)
			}
			if g.Email != "" {
				id.GroupEmails = append(id.GroupEmails, g.Email)
			}
		}
	}
	for _, u := range idp.Users {
		if strings.EqualFold(u.Email, id.Email) {
			id.SAMLAttributes, id.OIDCClaims = u.SAMLAttributes, u.OIDCClaims
			break
		}
	}
	return id
}

// allowedIPs are the prefixes a device routes into the tunnel: the address
// pool (which holds the resolver and the edge's services) and every
// address of the virtual network. A split tunnel, so that a TUN-mode agent
// keeps its route to the edge's endpoint.
func (c *config) allowedIPs() []string {
	seen := map[netip.Prefix]bool{}
	var out []string
	add := func(p netip.Prefix) {
		p = p.Masked()
		if !seen[p] {
			seen[p] = true
			out = append(out, p.String())
		}
	}
	add(c.sim.Network.AddressPool)
	for _, r := range c.sim.Network.Records {
		for _, a := range r.Addresses {
			if !c.sim.Network.AddressPool.Contains(a) {
				add(netip.PrefixFrom(a, a.BitLen()))
			}
		}
	}
	for _, u := range c.sim.Network.Upstreams {
		if a := u.Address.Addr(); !c.sim.Network.AddressPool.Contains(a) {
			add(netip.PrefixFrom(a, a.BitLen()))
		}
	}
	return out
}

// settings is what the control API tells devices under this configuration.
func (c *config) settings(srv *wg.Server) controlapi.Settings {
	endpoint := c.sim.Listen.WireGuard
	if a := srv.Addr(); a.IsValid() {
		endpoint = a
	}
	if endpoint.Addr().IsUnspecified() {
		endpoint = netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), endpoint.Port())
	}
	return controlapi.Settings{
		Team: control.Team{
			Name:   c.sim.Team,
			Domain: c.sim.TeamDomainURL(),
			IdP:    c.idpInfo(),
		},
		RefreshIdentityURL: c.refreshIdentityURL(),
		NameIdP:            c.namesIdPs(),
		Tunnel: control.Tunnel{
			Endpoint:      endpoint.String(),
			EdgePublicKey: srv.PublicKey().String(),
			DNS:           []string{c.sim.Network.Resolver.String()},
			AllowedIPs:    c.allowedIPs(),
			MTU:           srv.MTU(),
		},
	}
}

// loopbackAddrs maps the browser-facing host:port of the team domain and the
// IdP to their loopback listeners.
func (c *config) loopbackAddrs() map[string]string {
	m := map[string]string{}
	for _, o := range []struct {
		origin string
		listen netip.AddrPort
	}{{c.sim.TeamDomainURL(), c.sim.Listen.TeamDomain}, {c.sim.IdPURL(), c.sim.Listen.IdP}} {
		host := strings.TrimPrefix(strings.TrimPrefix(o.origin, "http://"), "https://")
		m[host] = o.listen.String()
	}
	return m
}

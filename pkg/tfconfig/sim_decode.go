package tfconfig

import (
	"net"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/ztagent/ztagent/internal/secret"
)

var (
	simRootSchema = &hcl.BodySchema{
		Attributes: []hcl.AttributeSchema{{Name: "team"}},
		Blocks: []hcl.BlockHeaderSchema{{Type: "listen"}, {Type: "idp"}, {Type: "network"}, {Type: "list", LabelNames: []string{"id"}},
			{Type: "service_token", LabelNames: []string{"label"}}},
	}
	simListenSchema = &hcl.BodySchema{
		Attributes: []hcl.AttributeSchema{{Name: "api"}, {Name: "team_domain"}, {Name: "idp"}, {Name: "wireguard"}},
	}
	simIdPSchema = &hcl.BodySchema{
		Attributes: []hcl.AttributeSchema{{Name: "plays"}},
		Blocks: []hcl.BlockHeaderSchema{
			{Type: "user", LabelNames: []string{"email"}}, {Type: "group", LabelNames: []string{"name"}},
			{Type: "external", LabelNames: []string{"provider"}},
		},
	}
	simUserSchema = &hcl.BodySchema{
		Attributes: []hcl.AttributeSchema{{Name: "name"}, {Name: "password"}, {Name: "groups"}, {Name: "saml_attributes"}, {Name: "oidc_claims"}},
	}
	simNetworkSchema = &hcl.BodySchema{
		Attributes: []hcl.AttributeSchema{{Name: "resolver"}, {Name: "address_pool"}, {Name: "vnet_id"}},
		Blocks: []hcl.BlockHeaderSchema{
			{Type: "record", LabelNames: []string{"name"}},
			{Type: "host", LabelNames: []string{"name"}},
			{Type: "upstream", LabelNames: []string{"address"}},
		},
	}
	simRecordSchema   = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "addresses"}, {Name: "content_categories"}, {Name: "security_categories"}}}
	simUpstreamSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "target"}, {Name: "protocol"}}}

	teamRE     = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	hostnameRE = regexp.MustCompile(`^([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
)

// MaxPasswordBytes is the longest password of a built-in IdP user:
// bcrypt, which hashes them, takes at most 72 bytes. validate checks it so
// that edged run does not refuse to start over it without a file and line.
const MaxPasswordBytes = 72

// loadSim parses and validates a simulator file held in memory.
func loadSim(src []byte, filename string) (sim *Sim, ds Diagnostics) {
	l := &loader{parser: hclparse.NewParser(), static: true}
	s := &Sim{
		File: filename,
		Listen: Listeners{
			API: DefaultAPIAddr, TeamDomain: DefaultTeamDomainAddr, IdP: DefaultIdPAddr, WireGuard: DefaultWireGuardAddr,
		},
		Network: Network{Resolver: DefaultResolver, AddressPool: DefaultAddressPool, VNetID: DefaultVNetID},
	}
	defer func() {
		if r := recover(); r != nil {
			sim, ds = s, l.d.recovered(r, Pos{File: filename, Line: 1, Column: 1})
		}
	}()
	f, ok := l.parseHCL(src, filename)
	if !ok {
		return s, l.d.finish()
	}
	content := l.content(f.Body, simRootSchema)
	if a := content.Attributes["team"]; a != nil {
		s.Team = l.simTeam(a)
	} else {
		l.d.at(Error, Pos{File: filename, Line: 1, Column: 1}, `the simulator file has no team; add team = "acme" (the team name users enroll with)`)
	}
	blocks := map[string]*hcl.Block{}
	lists := map[string]*SimList{}
	for _, b := range content.Blocks {
		switch b.Type {
		case "list":
			l.simList(s, b, lists)
			continue
		case "service_token":
			l.simServiceToken(s, b)
			continue
		}
		if prev, ok := blocks[b.Type]; ok {
			l.d.errorf(b.TypeRange, "a second %s block (the first is at %s); merge them into one", b.Type, posOf(prev.TypeRange))
			continue
		}
		blocks[b.Type] = b
		switch b.Type {
		case "listen":
			l.simListen(s, b)
		case "idp":
			l.simIdP(s, b)
		case "network":
			l.simNetwork(s, b)
		}
	}
	if len(s.IdP.Users) == 0 {
		l.d.at(Warning, Pos{File: filename, Line: 1, Column: 1}, `the built-in IdP has no users, so nobody can log in; add idp { user "alice@example.com" { password = "..." } }`)
	}
	return s, l.d.finish()
}

// content applies a schema, reporting unknown attributes and blocks (the
// simulator file is ztagent's own format, so a misspelling is an error).
func (l *loader) content(body hcl.Body, schema *hcl.BodySchema) *hcl.BodyContent {
	c, hd := body.Content(schema)
	l.d.hcl(hd, body.MissingItemRange())
	return c
}

func (l *loader) attrField(a *hcl.Attribute, path string) *field {
	return &field{l: l, path: path, keyRng: a.NameRange, rng: a.Expr.Range(), expr: a.Expr}
}

func (l *loader) simTeam(a *hcl.Attribute) string {
	team, ok := l.attrField(a, "team").str()
	if ok && !teamRE.MatchString(team) {
		l.d.errorf(a.Expr.Range(), "team %q must be a DNS label (lower-case letters, digits and '-', at most 63), because browsers reach the team domain as http://<team>.localhost", team)
	}
	return team
}

func (l *loader) simListen(s *Sim, b *hcl.Block) {
	c := l.content(b.Body, simListenSchema)
	targets := []struct {
		name string
		dst  *netip.AddrPort
		tcp  bool
	}{
		{"api", &s.Listen.API, true}, {"team_domain", &s.Listen.TeamDomain, true},
		{"idp", &s.Listen.IdP, true}, {"wireguard", &s.Listen.WireGuard, false},
	}
	used := map[netip.AddrPort]string{}
	for _, t := range targets {
		a := c.Attributes[t.name]
		if a != nil {
			if ap, ok := l.addrPort(l.attrField(a, "listen."+t.name), `"127.0.0.1:8780"`); ok {
				*t.dst = ap
				if !ap.Addr().IsLoopback() {
					l.d.warnf(a.Expr.Range(), "listen.%s %s is not a loopback address: the simulator will be reachable from other machines", t.name, ap)
				}
			}
		}
		if !t.tcp {
			continue
		}
		if prev, ok := used[*t.dst]; ok && a != nil {
			l.d.errorf(a.Expr.Range(), "listen.%s uses %s, like listen.%s; give each HTTP listener its own port (distinct origins matter for cookies)", t.name, *t.dst, prev)
			continue
		}
		used[*t.dst] = t.name
	}
}

// addrPort parses an IP:port with a non-zero port.
func (l *loader) addrPort(f *field, example string) (netip.AddrPort, bool) {
	s, ok := f.str()
	if !ok {
		return netip.AddrPort{}, false
	}
	ap, err := netip.ParseAddrPort(s)
	if err != nil || ap.Port() == 0 {
		l.d.errorf(f.rng, "%s %q is not an IP address and port such as %s", f.path, s, example)
		return netip.AddrPort{}, false
	}
	return ap, true
}

func (l *loader) simIdP(s *Sim, b *hcl.Block) {
	c := l.content(b.Body, simIdPSchema)
	if a := c.Attributes["plays"]; a != nil {
		if v, ok := l.attrField(a, "idp.plays").str(); ok {
			s.IdP.Plays = strings.TrimPrefix(v, TypeIdentityProvider+".")
			s.IdP.playsPos = posOf(a.Expr.Range())
		}
	}
	seen := map[string]*User{}
	groups := map[string]*Group{}
	for _, gb := range c.Blocks {
		switch gb.Type {
		case "group":
			l.simGroup(s, gb, groups)
		case "external":
			l.simExternal(s, gb)
		}
	}
	for _, ub := range c.Blocks {
		if ub.Type != "user" {
			continue
		}
		u := l.simUser(ub)
		if u == nil {
			continue
		}
		key := strings.ToLower(u.Email)
		if prev, ok := seen[key]; ok {
			l.d.errorf(ub.LabelRanges[0], "user %s is defined twice (first at %s); keep one", u.Email, prev.Pos)
			continue
		}
		seen[key] = u
		s.IdP.Users = append(s.IdP.Users, u)
	}
}

func (l *loader) simUser(b *hcl.Block) *User {
	c := l.content(b.Body, simUserSchema)
	email := b.Labels[0]
	at := strings.IndexByte(email, '@')
	if at <= 0 || at == len(email)-1 || strings.Count(email, "@") != 1 || strings.ContainsAny(email, " \t\r\n<>") {
		l.d.errorf(b.LabelRanges[0], "user %q is not an email address; label the block with the user's email: user \"alice@example.com\" { ... }", email)
		return nil
	}
	u := &User{Email: email, Name: email[:at], Pos: posOf(b.LabelRanges[0])}
	if a := c.Attributes["name"]; a != nil {
		if n, ok := l.attrField(a, "name").str(); ok && n != "" {
			u.Name = n
		}
	}
	if a := c.Attributes["password"]; a != nil {
		if p, ok := l.attrField(a, "password").str(); ok {
			switch {
			case p == "":
				l.d.errorf(a.Expr.Range(), "the password of user %s is empty; set one", email)
			case len(p) > MaxPasswordBytes:
				l.d.errorf(a.Expr.Range(), "the password of user %s is %d bytes long; the built-in IdP hashes passwords with bcrypt, which takes at most %d bytes: choose a shorter one", email, len(p), MaxPasswordBytes)
			}
			u.Password = secret.New(p)
		}
	} else {
		l.d.errorf(b.DefRange, "user %s has no password; add password = \"...\" so that the user can log in to the built-in IdP", email)
	}
	if a := c.Attributes["groups"]; a != nil {
		for _, g := range l.nonEmptyStrings(l.attrField(a, "groups"), "user "+email+" has an empty group name") {
			if !slices.Contains(u.Groups, g) {
				u.Groups = append(u.Groups, g)
			}
		}
	}
	if a := c.Attributes["saml_attributes"]; a != nil {
		u.SAMLAttributes = l.nameValues(l.attrField(a, "saml_attributes"), email)
	}
	if a := c.Attributes["oidc_claims"]; a != nil {
		u.OIDCClaims = l.nameValues(l.attrField(a, "oidc_claims"), email)
	}
	return u
}

func (l *loader) simNetwork(s *Sim, b *hcl.Block) {
	c := l.content(b.Body, simNetworkSchema)
	n := &s.Network
	if a := c.Attributes["resolver"]; a != nil {
		if v, ok := l.attrField(a, "network.resolver").str(); ok {
			ip, err := netip.ParseAddr(v)
			if err != nil || ip.Zone() != "" {
				l.d.errorf(a.Expr.Range(), "network.resolver %q is not an IP address such as \"100.96.0.1\"", v)
			} else {
				n.Resolver = ip
			}
		}
	}
	if a := c.Attributes["address_pool"]; a != nil {
		if v, ok := l.attrField(a, "network.address_pool").str(); ok {
			p, err := netip.ParsePrefix(v)
			switch {
			case err != nil:
				l.d.errorf(a.Expr.Range(), "network.address_pool %q is not a CIDR such as \"100.96.0.0/12\"", v)
			case p.Masked() != p:
				l.d.errorf(a.Expr.Range(), "network.address_pool %q has host bits set; write %q", v, p.Masked().String())
			case p.Addr().BitLen()-p.Bits() < 2:
				l.d.errorf(a.Expr.Range(), "network.address_pool %q is too small to hand out device addresses; use a prefix such as \"100.96.0.0/12\"", v)
			default:
				n.AddressPool = p
			}
		}
	}
	if a := c.Attributes["vnet_id"]; a != nil {
		n.VNetID = l.simVNetID(l.attrField(a, "network.vnet_id"))
	}
	records := map[string]*Record{}
	upstreams := map[string]*Upstream{}
	hosts := map[string]*HostCategories{}
	for _, blk := range c.Blocks {
		switch blk.Type {
		case "host":
			l.simHost(n, blk, hosts)
		case "record":
			if r := l.simRecord(blk); r != nil {
				if prev, ok := records[r.Name]; ok {
					l.d.errorf(blk.LabelRanges[0], "record %s is defined twice (first at %s); list all its addresses in one", r.Name, prev.Pos)
					continue
				}
				records[r.Name] = r
				n.Records = append(n.Records, r)
				if r.Categories != nil {
					if prev, ok := hosts[r.Name]; ok {
						l.d.errorf(blk.LabelRanges[0], "%s has categories here and in the host block at %s; keep one", r.Name, prev.Pos)
						continue
					}
					hosts[r.Name] = r.Categories
					n.Hosts = append(n.Hosts, r.Categories)
				}
			}
		case "upstream":
			if u := l.simUpstream(blk, n.AddressPool); u != nil {
				key := u.Protocol + " " + u.Address.String()
				if prev, ok := upstreams[key]; ok {
					l.d.errorf(blk.LabelRanges[0], "upstream %s/%s is defined twice (first at %s); keep one", u.Address, u.Protocol, prev.Pos)
					continue
				}
				upstreams[key] = u
				n.Upstreams = append(n.Upstreams, u)
			}
		}
	}
}

func (l *loader) simRecord(b *hcl.Block) *Record {
	c := l.content(b.Body, simRecordSchema)
	name := strings.TrimSuffix(strings.ToLower(b.Labels[0]), ".")
	if !hostnameRE.MatchString(name) || len(name) > 253 {
		l.d.errorf(b.LabelRanges[0], "record %q is not a DNS name such as \"wiki.acme.internal\"", b.Labels[0])
		return nil
	}
	r := &Record{Name: name, Pos: posOf(b.LabelRanges[0])}
	r.Categories = l.simCategories(c, name, posOf(b.LabelRanges[0]))
	a := c.Attributes["addresses"]
	if a == nil {
		l.d.errorf(b.DefRange, "record %s has no addresses; add addresses = [\"10.0.0.10\"]", name)
		return nil
	}
	f := l.attrField(a, "addresses")
	elems, _ := f.list()
	for _, e := range elems {
		v, ok := e.str()
		if !ok {
			continue
		}
		ip, err := netip.ParseAddr(v)
		if err != nil || ip.Zone() != "" {
			l.d.errorf(e.rng, "%q is not an IP address such as \"10.0.0.10\"", v)
			continue
		}
		r.Addresses = append(r.Addresses, ip)
	}
	if len(elems) == 0 {
		l.d.errorf(f.rng, "record %s has no addresses; list at least one", name)
	}
	return r
}

func (l *loader) simUpstream(b *hcl.Block, pool netip.Prefix) *Upstream {
	c := l.content(b.Body, simUpstreamSchema)
	ap, err := netip.ParseAddrPort(b.Labels[0])
	if err != nil || ap.Port() == 0 {
		l.d.errorf(b.LabelRanges[0], "upstream %q is not an address of the virtual network with a port, such as \"10.0.0.10:80\"", b.Labels[0])
		return nil
	}
	if pool.Contains(ap.Addr()) {
		l.d.errorf(b.LabelRanges[0], "upstream %s is inside network.address_pool %s, where device addresses come from; use an address outside it", ap, pool)
		return nil
	}
	u := &Upstream{Address: ap, Protocol: "tcp", Pos: posOf(b.LabelRanges[0])}
	if a := c.Attributes["protocol"]; a != nil {
		if p, ok := l.attrField(a, "protocol").str(); ok {
			if p != "tcp" && p != "udp" {
				l.d.errorf(a.Expr.Range(), "protocol %q is not \"tcp\" or \"udp\"", p)
			}
			u.Protocol = p
		}
	}
	a := c.Attributes["target"]
	if a == nil {
		l.d.errorf(b.DefRange, "upstream %s has no target; add target = \"127.0.0.1:9080\" (the real host:port the edge dials)", ap)
		return nil
	}
	t, ok := l.attrField(a, "target").str()
	if !ok {
		return nil
	}
	host, port, err := net.SplitHostPort(t)
	pn, perr := strconv.Atoi(port)
	if err != nil || host == "" || perr != nil || pn < 1 || pn > 65535 {
		l.d.errorf(a.Expr.Range(), "target %q is not a host:port such as \"127.0.0.1:9080\"", t)
		return nil
	}
	u.Target = t
	return u
}

// Link resolves the simulator file's references into the Terraform
// configuration: the identity provider the built-in IdP plays (the only
// one, when the file does not name it), and warns about Access
// applications whose domain has no record in the virtual network. Call it
// only when Load and LoadSim reported no errors: after a failure it would
// report what is merely unread.
func Link(cfg *Config, sim *Sim) Diagnostics {
	var d diags
	idps := cfg.IdentityProviders
	switch {
	case sim.IdP.Plays != "":
		for _, idp := range idps {
			if idp.Label == sim.IdP.Plays {
				sim.IdP.Provider = idp
			}
		}
		if sim.IdP.Provider == nil {
			names := make([]string, len(idps))
			for i, idp := range idps {
				names[i] = idp.Label
			}
			d.at(Error, sim.IdP.playsPos, "idp.plays names %q, but no %s %q is declared in %s%s", sim.IdP.Plays, TypeIdentityProvider, sim.IdP.Plays, cfg.Dir, suggest(sim.IdP.Plays, names))
		}
	case len(idps) == 1:
		sim.IdP.Provider = idps[0]
	case len(idps) > 1:
		d.at(Error, Pos{File: sim.File, Line: 1, Column: 1}, "the Terraform configuration declares %d identity providers; say which one the built-in IdP plays: idp { plays = %q }", len(idps), idps[0].Label)
	}
	linkLists(cfg, sim, &d)
	linkExternal(cfg, sim, &d)
	linkServiceTokens(cfg, sim, &d)
	names := map[string]bool{}
	for _, r := range sim.Network.Records {
		names[r.Name] = true
	}
	for _, app := range cfg.AccessApplications {
		if p := sim.IdP.Provider; p != nil && !offersAnySignIn(cfg, sim, app) {
			what := "nobody can sign in to it"
			if app.Type == TypeWARPApp {
				what = "nobody can enroll a device"
			}
			d.at(Warning, app.Pos, "%s's allowed_idps leave out %s, the identity provider the built-in IdP plays, and every external one the simulator signs in with (type oidc or azureAD), so %s in the simulator; add %s.id to allowed_idps or make idp.plays name one it allows", app.Address(), p.Address(), what, p.Address())
		}
		if !app.ServedAtHostname() {
			continue
		}
		for _, host := range app.Hosts() {
			if !names[host] {
				d.at(Warning, app.Pos, "%s has the hostname %s, which has no record in the simulator's network, so it cannot be reached through the tunnel; add network { record %q { addresses = [...] } } to %s", app.Address(), host, host, sim.File)
			}
		}
	}
	d.list.sort()
	return d.list
}

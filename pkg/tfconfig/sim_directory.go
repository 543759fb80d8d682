package tfconfig

import (
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/ztagent/ztagent/pkg/policy"
)

var (
	simGroupSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "id"}, {Name: "email"}}}
	simHostSchema  = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "content_categories"}, {Name: "security_categories"}}}
	simListSchema  = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "items", Required: true}}}
)

// simGroup reads idp { group "name" { id = "...", email = "..." } }.
func (l *loader) simGroup(s *Sim, b *hcl.Block, seen map[string]*Group) {
	c := l.content(b.Body, simGroupSchema)
	name := b.Labels[0]
	if strings.TrimSpace(name) == "" {
		l.d.errorf(b.LabelRanges[0], "a group has an empty name; label the block with the group's name: group \"engineering\" { ... }")
		return
	}
	key := strings.ToLower(name)
	if prev, ok := seen[key]; ok {
		l.d.errorf(b.LabelRanges[0], "group %s is defined twice (first at %s); keep one", name, prev.Pos)
		return
	}
	g := &Group{Name: name, Pos: posOf(b.LabelRanges[0])}
	if a := c.Attributes["id"]; a != nil {
		if v, ok := l.attrField(a, "id").str(); ok {
			if strings.TrimSpace(v) == "" {
				l.d.errorf(a.Expr.Range(), "group %s has an empty id; give its IdP object ID, such as \"61503835-b6fe-4630-af88-de551dd59a2f\", or leave id out", name)
			}
			g.ID = v
		}
	}
	if a := c.Attributes["email"]; a != nil {
		if v, ok := l.attrField(a, "email").str(); ok {
			if at := strings.IndexByte(v, '@'); at <= 0 || at == len(v)-1 {
				l.d.errorf(a.Expr.Range(), "group %s: email %q is not an e-mail address such as \"engineering@acme.example\"", name, v)
			}
			g.Email = v
		}
	}
	if c.Attributes["id"] == nil && c.Attributes["email"] == nil {
		l.d.warnf(b.DefRange, "group %s has neither id nor email, so the block changes nothing; add id = \"...\" (identity.groups.id) or email = \"...\" (identity.groups.email)", name)
	}
	seen[key] = g
	s.IdP.Groups = append(s.IdP.Groups, g)
}

// nameValues reads an object of attribute (or claim) names, each with a
// string or a list of strings, as "name=value" elements in name order.
func (l *loader) nameValues(f *field, email string) []string {
	v := f.value()
	if !v.IsWhollyKnown() || v.IsNull() {
		return nil
	}
	if !v.Type().IsObjectType() && !v.Type().IsMapType() {
		f.errorf("%s of user %s must be an object such as { department = \"Engineering\", groups = [\"eng\", \"all\"] }, not %s", f.path, email, v.Type().FriendlyName())
		return nil
	}
	var out []string
	for it := v.ElementIterator(); it.Next(); {
		k, ev := it.Element()
		name := k.AsString()
		switch {
		case ev.IsNull():
		case ev.Type() == cty.String:
			out = append(out, name+"="+ev.AsString())
		case (ev.Type().IsTupleType() || ev.Type().IsListType()) && allStrings(ev):
			for ei := ev.ElementIterator(); ei.Next(); {
				_, s := ei.Element()
				out = append(out, name+"="+s.AsString())
			}
		default:
			f.errorf("%s.%s of user %s must be a string or a list of strings, not %s", f.path, name, email, ev.Type().FriendlyName())
		}
	}
	return out
}

func allStrings(v cty.Value) bool {
	for it := v.ElementIterator(); it.Next(); {
		if _, e := it.Element(); e.IsNull() || e.Type() != cty.String {
			return false
		}
	}
	return true
}

// simVNetID reads network.vnet_id, which Cloudflare writes as a UUID.
func (l *loader) simVNetID(f *field) string {
	v, ok := f.str()
	if !ok {
		return DefaultVNetID
	}
	if !cloudflareID.MatchString(v) {
		f.errorf("network.vnet_id %q is not a virtual network ID such as %q (a UUID, as Cloudflare gives them)", v, DefaultVNetID)
		return DefaultVNetID
	}
	return strings.ToLower(v)
}

// simHost reads network { host "name" { content_categories = [...] } }:
// the categories of a name that has no record (a public site).
func (l *loader) simHost(n *Network, b *hcl.Block, seen map[string]*HostCategories) {
	c := l.content(b.Body, simHostSchema)
	name := strings.TrimSuffix(strings.ToLower(b.Labels[0]), ".")
	if !hostnameRE.MatchString(name) || len(name) > 253 {
		l.d.errorf(b.LabelRanges[0], "host %q is not a DNS name such as \"news.example\"", b.Labels[0])
		return
	}
	h := l.simCategories(c, name, posOf(b.LabelRanges[0]))
	if h == nil {
		l.d.errorf(b.DefRange, "host %s has no categories; add content_categories = [...] or security_categories = [...] (Cloudflare's category IDs)", name)
		return
	}
	if prev, ok := seen[name]; ok {
		l.d.errorf(b.LabelRanges[0], "%s has categories here and at %s; keep one", name, prev.Pos)
		return
	}
	seen[name] = h
	n.Hosts = append(n.Hosts, h)
}

// simCategories reads the category attributes of a record or host block;
// nil when it has none.
func (l *loader) simCategories(c *hcl.BodyContent, name string, pos Pos) *HostCategories {
	h := &HostCategories{Name: name, Pos: pos}
	set := false
	for attr, dst := range map[string]*[]int{"content_categories": &h.Content, "security_categories": &h.Security} {
		a := c.Attributes[attr]
		if a == nil {
			continue
		}
		set = true
		elems, _ := l.attrField(a, attr).list()
		for _, e := range elems {
			if id, ok := e.integer(); ok {
				if id < 0 || id > 65535 {
					l.d.errorf(e.rng, "%s of %s: %d is not a category ID (Cloudflare's are small positive numbers, such as 7 or 80)", attr, name, id)
					continue
				}
				*dst = append(*dst, id)
			}
		}
	}
	if !set {
		return nil
	}
	return h
}

// simList reads list "<id>" { items = [...] }.
func (l *loader) simList(s *Sim, b *hcl.Block, seen map[string]*SimList) {
	c := l.content(b.Body, simListSchema)
	id := strings.ToLower(b.Labels[0])
	if !cloudflareID.MatchString(id) {
		l.d.errorf(b.LabelRanges[0], "list %q is not a list ID such as \"01302951-49f9-47c9-a400-0297e60b6a10\": label the block with the ID the policies reference as $<id>", b.Labels[0])
		return
	}
	if prev, ok := seen[id]; ok {
		l.d.errorf(b.LabelRanges[0], "list %s is defined twice (first at %s); keep one", id, prev.Pos)
		return
	}
	sl := &SimList{ID: id, Pos: posOf(b.LabelRanges[0])}
	if a := c.Attributes["items"]; a != nil {
		sl.Items = l.nonEmptyStrings(l.attrField(a, "items"), "list "+id+" has an empty item")
	}
	seen[id] = sl
	s.Lists = append(s.Lists, sl)
}

// nonEmptyStrings returns the strings of a list attribute, reporting each
// blank one with what, followed by "; remove it".
func (l *loader) nonEmptyStrings(f *field, what string) []string {
	all, _ := f.strings()
	var out []string
	for _, s := range all {
		if strings.TrimSpace(s) == "" {
			l.d.errorf(f.rng, "%s; remove it", what)
			continue
		}
		out = append(out, s)
	}
	return out
}

// linkLists gives the lists Terraform references without declaring them
// their items from the simulator file, and checks that the items fit the
// fields the policies compare them with.
func linkLists(cfg *Config, sim *Sim, d *diags) {
	byID := map[string]*List{}
	for _, l := range cfg.Lists {
		byID[strings.ToLower(l.ID)] = l
	}
	filled := false
	for _, sl := range sim.Lists {
		l := byID[sl.ID]
		switch {
		case l == nil:
			d.at(Warning, sl.Pos, "no Gateway policy in %s references list $%s, so its items are unused; check the ID", cfg.Dir, sl.ID)
		case !l.External:
			d.at(Error, sl.Pos, "list %s is declared in Terraform as %s at %s, which gives its items; remove this block", sl.ID, l.Address(), l.Pos)
		default:
			l.Items = l.Items[:0]
			for _, it := range sl.Items {
				l.Items = append(l.Items, ListItem{Value: it})
			}
			filled = true
		}
	}
	if !filled {
		return
	}
	if _, err := policy.NewEngine(cfg.Rules(), cfg.PolicyLists()); err != nil {
		pos := sim.Lists[0].Pos
		for _, sl := range sim.Lists {
			if strings.Contains(err.Error(), sl.ID) {
				pos = sl.Pos
			}
		}
		d.at(Error, pos, "the items of the simulator file's lists do not fit the policies that use them: %v", err)
	}
}

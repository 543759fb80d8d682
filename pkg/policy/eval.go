package policy

import (
	"encoding/binary"
	"net/netip"
	"regexp"
	"strings"
)

// evalCtx is one flow prepared for evaluation: case-insensitive fields are
// folded once, without allocating when they already are lower-case.
type evalCtx struct {
	f        *Flow
	ip       netip.Addr // DstIP without a v4-in-v6 mapping
	ip4      uint32     // ip as an integer, when is4
	is4      bool
	fqdn     string
	sni      string
	host     string
	protocol string
	method   string
	email    string
}

func newEvalCtx(f *Flow) *evalCtx {
	c := new(evalCtx)
	c.reset(f)
	return c
}

func (c *evalCtx) reset(f *Flow) {
	*c = evalCtx{
		f:        f,
		ip:       f.DstIP.Unmap(),
		fqdn:     strings.ToLower(strings.TrimSuffix(f.FQDN, ".")),
		sni:      strings.ToLower(strings.TrimSuffix(f.SNI, ".")),
		host:     strings.ToLower(hostOnly(f.Host)),
		protocol: strings.ToLower(f.Protocol),
		method:   strings.ToLower(f.Method),
		email:    strings.ToLower(f.Email),
	}
	if c.ip.Is4() {
		a := c.ip.As4()
		c.ip4, c.is4 = binary.BigEndian.Uint32(a[:]), true
	}
}

// hostOnly returns the host of a Host header value: without a port, without
// the brackets of an IPv6 literal, and without a trailing dot, so that
// "blocked.test.:443" cannot slip past a policy on "blocked.test".
func hostOnly(h string) string {
	if strings.HasPrefix(h, "[") {
		if end := strings.IndexByte(h, ']'); end > 0 {
			return h[1:end]
		}
		return h
	}
	if i := strings.IndexByte(h, ':'); i >= 0 && strings.IndexByte(h[i+1:], ':') < 0 {
		h = h[:i] // host:port; a bare IPv6 address has several colons and no port
	}
	return strings.TrimSuffix(h, ".")
}

func (c *evalCtx) str(id fieldID) string {
	switch id {
	case fDNSFQDN:
		return c.fqdn
	case fNetProtocol:
		return c.protocol
	case fNetSNIHost:
		return c.sni
	case fHTTPHost:
		return c.host
	case fHTTPURI:
		return c.f.URI
	case fHTTPPath:
		return c.f.Path
	case fHTTPMethod:
		return c.method
	case fIdentityEmail:
		return c.email
	case fIdentityName:
		return c.f.Name
	case fNetDetectedProtocol:
		// Folded here rather than in reset, which runs for every flow:
		// few policies read these, and ToLower does not allocate for the
		// lower-case values the Gateway gives.
		return strings.ToLower(c.f.DetectedProtocol)
	case fNetVNetID:
		return strings.ToLower(c.f.VNetID)
	case fOSName:
		return strings.ToLower(c.f.OS)
	}
	return ""
}

// strs returns the elements of a string array field that is not derived
// from a host name.
func (c *evalCtx) strs(id fieldID) []string {
	switch id {
	case fIdentityGroups:
		return c.f.Groups
	case fIdentityGroupIDs:
		return c.f.GroupIDs
	case fIdentityGroupEmails:
		return c.f.GroupEmails
	case fSAMLAttributes:
		return c.f.SAMLAttributes
	case fOIDCClaims:
		return c.f.OIDCClaims
	}
	return nil
}

type node interface {
	eval(c *evalCtx) bool
}

type andNode struct{ a, b node }
type orNode struct{ a, b node }
type notNode struct{ n node }

func (n andNode) eval(c *evalCtx) bool { return n.a.eval(c) && n.b.eval(c) }
func (n orNode) eval(c *evalCtx) bool  { return n.a.eval(c) || n.b.eval(c) }
func (n notNode) eval(c *evalCtx) bool { return !n.n.eval(c) }

// strPred tests one string value (a scalar field, or one array element).
type strPred interface {
	match(s string) bool
}

type strEq struct {
	val string
	neg bool
}

func (p strEq) match(s string) bool { return (s == p.val) != p.neg }

// strSet holds a set of strings: a slice for a few, a map for many.
type strSet struct {
	few  []string
	many map[string]struct{}
}

const setMapThreshold = 8

func newStrSet(vals []string) strSet {
	if len(vals) <= setMapThreshold {
		return strSet{few: vals}
	}
	m := make(map[string]struct{}, len(vals))
	for _, v := range vals {
		m[v] = struct{}{}
	}
	return strSet{many: m}
}

func (p strSet) match(s string) bool {
	if p.many != nil {
		_, ok := p.many[s]
		return ok
	}
	for _, v := range p.few {
		if v == s {
			return true
		}
	}
	return false
}

type strRegex struct{ re *regexp.Regexp }

func (p strRegex) match(s string) bool { return p.re.MatchString(s) }

// strField applies a predicate to a scalar string field.
type strField struct {
	id fieldID
	p  strPred
}

func (n strField) eval(c *evalCtx) bool { return n.p.match(c.str(n.id)) }

// anyStr applies a predicate to each element of an array field.
type anyStr struct {
	id   fieldID
	fold bool
	p    strPred
}

func (n anyStr) eval(c *evalCtx) bool {
	switch n.id {
	case fDNSDomains:
		return anyDomain(c.fqdn, n.p)
	case fHTTPDomains:
		return anyDomain(c.host, n.p)
	case fNetSNIDomains:
		return anyDomain(c.sni, n.p)
	}
	for _, v := range c.strs(n.id) {
		if n.fold {
			v = strings.ToLower(v) // no allocation when already lower-case
		}
		if n.p.match(v) {
			return true
		}
	}
	return false
}

// anyDomain tests name and each of its parent domains ("a.b.c", "b.c", "c"),
// the elements of dns.domains and http.request.domains.
func anyDomain(name string, p strPred) bool {
	for name != "" {
		if p.match(name) {
			return true
		}
		i := strings.IndexByte(name, '.')
		if i < 0 {
			return false
		}
		name = name[i+1:]
	}
	return false
}

func newStrNode(f *field, p strPred) node {
	if f.array {
		return anyStr{id: f.id, fold: f.fold, p: p}
	}
	if eq, ok := p.(strEq); ok {
		return strEqField{id: f.id, val: eq.val, neg: eq.neg}
	}
	return strField{id: f.id, p: p}
}

// strEqField is strField with strEq inlined: equality is the most common
// test, and this saves an interface call per evaluation.
type strEqField struct {
	id  fieldID
	val string
	neg bool
}

func (n strEqField) eval(c *evalCtx) bool { return (c.str(n.id) == n.val) != n.neg }

type intCmp struct {
	f   fieldID
	op  tokenKind
	val int64
}

func (n intCmp) eval(c *evalCtx) bool { return n.matchInt(c.intVal(n.f)) }

type intSet struct {
	f      fieldID
	ranges [][2]int64
}

func (n intSet) eval(c *evalCtx) bool { return n.matchInt(c.intVal(n.f)) }

func (c *evalCtx) intVal(fieldID) int64 { return int64(c.f.DstPort) }

// ints returns the elements of an integer array field.
func (c *evalCtx) ints(id fieldID) []int {
	switch id {
	case fContentCategory:
		return c.f.ContentCategories
	case fSecurityCategory:
		return c.f.SecurityCategories
	}
	return nil
}

// matchInt tests one value against the comparison.
func (n intCmp) matchInt(v int64) bool {
	switch n.op {
	case tokEq:
		return v == n.val
	case tokNe:
		return v != n.val
	case tokLt:
		return v < n.val
	case tokLe:
		return v <= n.val
	case tokGt:
		return v > n.val
	default:
		return v >= n.val
	}
}

// matchInt tests one value against the set.
func (n intSet) matchInt(v int64) bool {
	for _, r := range n.ranges {
		if v >= r[0] && v <= r[1] {
			return true
		}
	}
	return false
}

// intPred tests one integer (a scalar field, or one array element).
type intPred interface{ matchInt(v int64) bool }

// anyInt applies a predicate to each element of an integer array field.
type anyInt struct {
	id fieldID
	p  intPred
}

func (n anyInt) eval(c *evalCtx) bool {
	for _, v := range c.ints(n.id) {
		if n.p.matchInt(int64(v)) {
			return true
		}
	}
	return false
}

// addrPred tests one address, already without a v4-in-v6 mapping.
type addrPred interface{ matchAddr(a netip.Addr) bool }

func (n ipPrefix) matchAddr(a netip.Addr) bool { return n.prefix.Contains(a) != n.neg }

func (n ipSet) matchAddr(a netip.Addr) bool {
	for _, p := range n.prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// ipField tests an IP field other than net.dst.ip, which keeps its own
// nodes so that the destination guard can read them.
type ipField struct {
	id fieldID
	p  addrPred
}

func (n ipField) eval(c *evalCtx) bool {
	a := c.addr(n.id)
	return a.IsValid() && n.p.matchAddr(a)
}

// addr returns the value of a scalar IP field.
func (c *evalCtx) addr(id fieldID) netip.Addr {
	if id == fNetSrcIP {
		return c.f.SrcIP.Unmap()
	}
	return c.ip
}

// anyIP applies a predicate to each element of an IP array field.
type anyIP struct {
	id fieldID
	p  addrPred
}

func (n anyIP) eval(c *evalCtx) bool {
	if n.id != fDNSResolvedIPs {
		return false
	}
	for _, a := range c.f.ResolvedIPs {
		if a = a.Unmap(); a.IsValid() && n.p.matchAddr(a) {
			return true
		}
	}
	return false
}

// newIPNode returns the node testing field f with an address predicate
// (an ipPrefix or an ipSet).
func newIPNode(f *field, p node) node {
	ap := p.(addrPred)
	switch {
	case f.array:
		return anyIP{id: f.id, p: ap}
	case f.id != fNetDstIP:
		return ipField{id: f.id, p: ap}
	}
	return p
}

// newIntNode returns the node testing field f with an integer predicate
// (an intCmp or an intSet).
func newIntNode(f *field, p intPred) node {
	if f.array {
		return anyInt{id: f.id, p: p}
	}
	return p.(node)
}

// ipPrefix tests net.dst.ip (the only IP field) against one address or CIDR.
type ipPrefix struct {
	prefix netip.Prefix
	neg    bool
}

func (n ipPrefix) eval(c *evalCtx) bool {
	return c.ip.IsValid() && n.prefix.Contains(c.ip) != n.neg
}

// ipSet tests net.dst.ip against a set of addresses and CIDRs.
type ipSet struct {
	prefixes []netip.Prefix
}

func newIPSet(prefixes []netip.Prefix) node {
	if len(prefixes) == 1 {
		return ipPrefix{prefix: prefixes[0]}
	}
	return ipSet{prefixes: prefixes}
}

func (n ipSet) eval(c *evalCtx) bool {
	if !c.ip.IsValid() {
		return false
	}
	for _, p := range n.prefixes {
		if p.Contains(c.ip) {
			return true
		}
	}
	return false
}

package policy

import (
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"

	"github.com/ztagent/ztagent/internal/didyoumean"
)

// Expr is a compiled expression, ready to be evaluated many times.
type Expr struct {
	src  string
	root node // nil matches everything
	// unsimulated are the uses of fields the simulator does not evaluate.
	unsimulated []FieldUse
	// firstBytes: some field is known only from the flow's first bytes.
	firstBytes bool
}

// FieldUse is one use of a field in an expression: its name and the byte
// offset of the use within the source.
type FieldUse struct {
	Name   string
	Offset int
}

// Unsimulated returns each use of a field that the simulator does not
// evaluate (every comparison on it is false), in source order.
func (e *Expr) Unsimulated() []FieldUse { return e.unsimulated }

// ReadsFirstBytes reports whether the expression uses a field known only
// once the client has sent its first bytes (net.sni.host,
// net.sni.domains, net.detected_protocol).
func (e *Expr) ReadsFirstBytes() bool { return e.firstBytes }

// String returns the expression's source text.
func (e *Expr) String() string { return e.src }

// scope says which fields an expression may use.
type scope struct {
	filters  []Filter // traffic: fields of these filters
	identity bool     // identity: identity fields only
	device   bool     // with identity: a device profile's match, device fields too
}

type parser struct {
	src   string
	toks  []token
	i     int
	scope scope
	lists Lists
	// unsimulated collects the uses of unsimulated fields.
	unsimulated []FieldUse
	firstBytes  bool
}

// never is a comparison on a field the simulator has no value for.
type never struct{}

func (never) eval(*evalCtx) bool { return false }

func compile(src string, sc scope, lists Lists) (*Expr, error) {
	if strings.TrimSpace(src) == "" {
		return &Expr{src: src}, nil
	}
	toks, lerr := lex(src)
	if lerr != nil {
		return nil, lerr
	}
	p := &parser{src: src, toks: toks, scope: sc, lists: lists}
	root, err := p.parseOr()
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tokEOF {
		return nil, p.errAt(t, fmt.Sprintf("expected 'and', 'or' or the end of the expression, found %s", describe(t)))
	}
	return &Expr{src: src, root: root, unsimulated: p.unsimulated, firstBytes: p.firstBytes}, nil
}

func (p *parser) peek() token { return p.toks[p.i] }

func (p *parser) advance() token {
	t := p.toks[p.i]
	if t.kind != tokEOF {
		p.i++
	}
	return t
}

func (p *parser) errAt(t token, msg string) *Error { return errorAt(p.src, t.pos, msg) }

func (p *parser) expect(kind tokenKind, what string) (token, *Error) {
	t := p.advance()
	if t.kind != kind {
		return t, p.errAt(t, fmt.Sprintf("expected %s, found %s", what, describe(t)))
	}
	return t, nil
}

func describe(t token) string {
	switch t.kind {
	case tokIdent:
		return "field " + t.text
	case tokString:
		return strconv.Quote(t.text)
	case tokNumber, tokIP:
		return t.text
	case tokList:
		return "$" + t.text
	default:
		return t.kind.String()
	}
}

func (p *parser) parseOr() (node, *Error) {
	left, err := p.parseAnd()
	if err != nil {
		return nil, err
	}
	for p.peek().kind == tokOr {
		p.advance()
		right, err := p.parseAnd()
		if err != nil {
			return nil, err
		}
		left = orNode{left, right}
	}
	return left, nil
}

func (p *parser) parseAnd() (node, *Error) {
	left, err := p.parseUnary()
	if err != nil {
		return nil, err
	}
	for p.peek().kind == tokAnd {
		p.advance()
		right, err := p.parseUnary()
		if err != nil {
			return nil, err
		}
		left = andNode{left, right}
	}
	return left, nil
}

func (p *parser) parseUnary() (node, *Error) {
	t := p.peek()
	switch t.kind {
	case tokNot:
		p.advance()
		inner, err := p.parseUnary()
		if err != nil {
			return nil, err
		}
		return notNode{inner}, nil
	case tokLParen:
		p.advance()
		inner, err := p.parseOr()
		if err != nil {
			return nil, err
		}
		if _, err := p.expect(tokRParen, "')'"); err != nil {
			return nil, err
		}
		return inner, nil
	case tokAny:
		return p.parseAny()
	case tokIdent:
		return p.parseComparison(false)
	default:
		return nil, p.errAt(t, fmt.Sprintf("expected a field, 'not', 'any' or '(', found %s", describe(t)))
	}
}

// parseAny reads any(f[*] <op> <value>).
func (p *parser) parseAny() (node, *Error) {
	p.advance()
	if _, err := p.expect(tokLParen, "'(' after any"); err != nil {
		return nil, err
	}
	t := p.peek()
	if t.kind != tokIdent {
		return nil, p.errAt(t, fmt.Sprintf("any() takes one comparison of an array field, such as any(dns.domains[*] == \"example.com\"); found %s", describe(t)))
	}
	n, err := p.parseComparison(true)
	if err != nil {
		return nil, err
	}
	if _, err := p.expect(tokRParen, "')' closing any("); err != nil {
		return nil, err
	}
	return n, nil
}

// lookupField resolves a field token and checks it is allowed here.
func (p *parser) lookupField(t token, inAny bool) (*field, *Error) {
	f, ok := fields[t.text]
	if !ok {
		if best := didyoumean.Closest(t.text, FieldNames()); best != "" {
			return nil, p.errAt(t, fmt.Sprintf("unknown field %s (did you mean %s?)", t.text, best))
		}
		return nil, p.errAt(t, fmt.Sprintf("unknown field %s; known fields: %s", t.text, strings.Join(FieldNames(), ", ")))
	}
	if f.device && !p.scope.device {
		return nil, p.errAt(t, fmt.Sprintf("field %s belongs in a device profile's match, not in a Gateway policy", f.name))
	}
	if p.scope.device && f.filters != nil {
		return nil, p.errAt(t, fmt.Sprintf("field %s is a Gateway traffic field; a device profile's match reads identity and device fields (identity.email, identity.groups.name, os.name, …)", f.name))
	}
	if p.scope.identity && f.filters != nil {
		return nil, p.errAt(t, fmt.Sprintf("field %s belongs in the traffic expression, not the identity expression", f.name))
	}
	if !p.scope.identity {
		if f.filters == nil {
			return nil, p.errAt(t, fmt.Sprintf("field %s belongs in the identity expression, not the traffic expression", f.name))
		}
		if !sharesFilter(f.filters, p.scope.filters) {
			return nil, p.errAt(t, fmt.Sprintf("field %s is for %s policies; this policy's filters are %v", f.name, f.filters[0], p.scope.filters))
		}
	}
	switch {
	case f.array && !inAny && t.star:
		return nil, p.errAt(t, fmt.Sprintf("%s[*] compares each element only inside any(), as in any(%s[*] == \"value\"); or compare the array directly: %s == \"value\"", f.name, f.name, f.name))
	case f.array && !inAny:
		// Compared directly, as Gateway allows: true when any element is.
	case f.array && !t.star:
		return nil, p.errAt(t, fmt.Sprintf("write %s[*] to compare each element inside any()", f.name))
	case !f.array && t.star:
		return nil, p.errAt(t, fmt.Sprintf("%s is not an array; remove [*]", f.name))
	case !f.array && inAny:
		return nil, p.errAt(t, fmt.Sprintf("any() needs an array field; %s holds one value", f.name))
	}
	return f, nil
}

func sharesFilter(a, b []Filter) bool {
	for _, x := range a {
		for _, y := range b {
			if x == y {
				return true
			}
		}
	}
	return false
}

func (p *parser) parseComparison(inAny bool) (node, *Error) {
	ft := p.advance()
	f, err := p.lookupField(ft, inAny)
	if err != nil {
		return nil, err
	}
	p.firstBytes = p.firstBytes || f.firstBytes
	n, err := p.parseOperator(f, f.array && !inAny)
	if err != nil || !f.unsimulated {
		return n, err
	}
	// Checked like any comparison, then never true: the simulator has no
	// value for the field.
	p.unsimulated = append(p.unsimulated, FieldUse{Name: f.name, Offset: ft.pos})
	return never{}, nil
}

// parseOperator reads the operator and value of a comparison on f;
// direct is set for an array compared without any().
func (p *parser) parseOperator(f *field, direct bool) (node, *Error) {
	op := p.advance()
	switch op.kind {
	case tokNe:
		if direct {
			// Holds when no element equals the value: not(any(f[*] ==
			// v)), rather than when some element differs.
			op.kind = tokEq
			n, err := p.parseCompare(f, op)
			if err != nil {
				return nil, err
			}
			return notNode{n}, nil
		}
		return p.parseCompare(f, op)
	case tokEq, tokLt, tokLe, tokGt, tokGe:
		return p.parseCompare(f, op)
	case tokIn:
		return p.parseIn(f, op)
	case tokMatches:
		return p.parseMatches(f, op)
	default:
		return nil, p.errAt(op, fmt.Sprintf("expected an operator (==, !=, <, <=, >, >=, in, matches) after %s, found %s", f.name, describe(op)))
	}
}

func (p *parser) parseCompare(f *field, op token) (node, *Error) {
	v := p.advance()
	ordered := op.kind != tokEq && op.kind != tokNe
	switch f.typ {
	case typeString:
		if ordered {
			return nil, p.errAt(op, fmt.Sprintf("%s is a string; use ==, !=, in or matches", f.name))
		}
		if v.kind != tokString {
			return nil, p.errAt(v, fmt.Sprintf("expected a quoted string after %s %s, found %s", f.name, op.text, describe(v)))
		}
		return newStrNode(f, strEq{val: fold(f, v.text), neg: op.kind == tokNe}), nil
	case typeInt:
		n, err := p.intValue(f, v)
		if err != nil {
			return nil, err
		}
		return newIntNode(f, intCmp{f: f.id, op: op.kind, val: n}), nil
	default: // typeIP
		if ordered {
			return nil, p.errAt(op, fmt.Sprintf("%s is an IP address; use ==, != or in", f.name))
		}
		pfx, err := p.prefixValue(v)
		if err != nil {
			return nil, err
		}
		return newIPNode(f, ipPrefix{prefix: pfx, neg: op.kind == tokNe}), nil
	}
}

func (p *parser) intValue(f *field, v token) (int64, *Error) {
	if v.kind != tokNumber {
		return 0, p.errAt(v, fmt.Sprintf("expected a number for %s, found %s", f.name, describe(v)))
	}
	n, err := strconv.ParseInt(v.text, 10, 64)
	if err != nil || n > 65535 {
		return 0, p.errAt(v, fmt.Sprintf("%s is out of range for %s (0-65535)", v.text, f.name))
	}
	return n, nil
}

func (p *parser) prefixValue(v token) (netip.Prefix, *Error) {
	if v.kind != tokIP && v.kind != tokNumber {
		return netip.Prefix{}, p.errAt(v, fmt.Sprintf("expected an IP address or CIDR, found %s", describe(v)))
	}
	pfx, err := parsePrefix(v.text)
	if err != nil {
		return netip.Prefix{}, p.errAt(v, err.Error())
	}
	return pfx, nil
}

// parsePrefix accepts an address (a single-address prefix) or a CIDR.
func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		pfx, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q is not a valid CIDR", s)
		}
		return pfx.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not a valid IP address", s)
	}
	return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
}

func (p *parser) parseIn(f *field, op token) (node, *Error) {
	t := p.peek()
	switch t.kind {
	case tokList:
		p.advance()
		return p.listNode(f, t)
	case tokLBrace:
		p.advance()
		return p.setNode(f)
	default:
		return nil, p.errAt(t, fmt.Sprintf("expected '{' or a $list after 'in', found %s", describe(t)))
	}
}

func (p *parser) setNode(f *field) (node, *Error) {
	var strs []string
	var prefixes []netip.Prefix
	var ranges [][2]int64
	for {
		t := p.advance()
		switch {
		case t.kind == tokRBrace:
			if len(strs)+len(prefixes)+len(ranges) == 0 {
				return nil, p.errAt(t, "empty set")
			}
			switch f.typ {
			case typeString:
				return newStrNode(f, newStrSet(strs)), nil
			case typeInt:
				return newIntNode(f, intSet{f: f.id, ranges: ranges}), nil
			default:
				return newIPNode(f, newIPSet(prefixes)), nil
			}
		case t.kind == tokComma:
			continue
		case t.kind == tokEOF:
			return nil, p.errAt(t, "set is not closed; add '}'")
		}
		switch f.typ {
		case typeString:
			if t.kind != tokString {
				return nil, p.errAt(t, fmt.Sprintf("expected quoted strings in the set for %s, found %s", f.name, describe(t)))
			}
			strs = append(strs, fold(f, t.text))
		case typeInt:
			lo, err := p.intValue(f, t)
			if err != nil {
				return nil, err
			}
			hi := lo
			if p.peek().kind == tokRange {
				p.advance()
				if hi, err = p.intValue(f, p.advance()); err != nil {
					return nil, err
				}
				if hi < lo {
					return nil, p.errAt(t, fmt.Sprintf("range %d..%d is backwards", lo, hi))
				}
			}
			ranges = append(ranges, [2]int64{lo, hi})
		default:
			pfx, err := p.prefixValue(t)
			if err != nil {
				return nil, err
			}
			prefixes = append(prefixes, pfx)
		}
	}
}

func (p *parser) listNode(f *field, t token) (node, *Error) {
	l, ok := p.lists[t.text]
	if !ok {
		for _, cand := range p.lists {
			if cand.Name == t.text {
				return nil, p.errAt(t, fmt.Sprintf("lists are referenced by ID: write $%s for list %q", cand.ID, cand.Name))
			}
		}
		return nil, p.errAt(t, fmt.Sprintf("unknown list $%s", t.text))
	}
	if len(listTypesFor(f)) == 0 {
		return nil, p.errAt(t, fmt.Sprintf("%s cannot be compared with a list", f.name))
	}
	if !l.External && !listFits(f, l.Type) {
		return nil, p.errAt(t, fmt.Sprintf("list %q has type %s, which does not fit %s; use a list of type %s", l.Name, l.Type, f.name, strings.Join(listTypesFor(f), " or ")))
	}
	switch f.typ {
	case typeIP:
		prefixes := make([]netip.Prefix, 0, len(l.Items))
		for _, item := range l.Items {
			pfx, err := parsePrefix(item)
			if err != nil {
				return nil, p.errAt(t, fmt.Sprintf("list %q: item %v", l.Name, err))
			}
			prefixes = append(prefixes, pfx)
		}
		return newIPNode(f, newIPSet(prefixes)), nil
	default:
		strs := make([]string, len(l.Items))
		for i, item := range l.Items {
			strs[i] = fold(f, item)
		}
		return newStrNode(f, newStrSet(strs)), nil
	}
}

func (p *parser) parseMatches(f *field, op token) (node, *Error) {
	if f.typ != typeString {
		return nil, p.errAt(op, fmt.Sprintf("matches applies to strings; %s is a %s", f.name, f.typ))
	}
	v := p.advance()
	if v.kind != tokString {
		return nil, p.errAt(v, fmt.Sprintf("expected a quoted regular expression after matches, found %s", describe(v)))
	}
	if _, err := regexp.Compile(v.text); err != nil {
		// Report the pattern as the user wrote it, before folding adds (?i).
		return nil, p.errAt(v, fmt.Sprintf("invalid regular expression: %v", err))
	}
	pattern := v.text
	if f.fold {
		pattern = "(?i)" + pattern
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		return nil, p.errAt(v, fmt.Sprintf("invalid regular expression: %v", err))
	}
	return newStrNode(f, strRegex{re: re}), nil
}

// fold lower-cases s for fields compared case-insensitively.
func fold(f *field, s string) string {
	if f.fold {
		return strings.ToLower(s)
	}
	return s
}

// listTypesFor returns the list types a field may be tested against, as
// Gateway pairs them: hosts and names with DOMAIN lists, addresses with IP
// lists, e-mail addresses with EMAIL lists, URLs with URL lists.
func listTypesFor(f *field) []string {
	switch f.id {
	case fNetDstIP, fNetSrcIP, fDNSResolvedIPs:
		return []string{string(ListIP)}
	case fDNSFQDN, fDNSDomains, fNetSNIHost, fNetSNIDomains, fHTTPHost, fHTTPDomains:
		return []string{string(ListDomain)}
	case fIdentityEmail, fIdentityGroupEmails:
		return []string{string(ListEmail)}
	case fHTTPURI, fHTTPPath:
		return []string{string(ListURL)}
	case fUnsimulated:
		// Checked by type only: the comparison never holds anyway.
		switch f.typ {
		case typeIP:
			return []string{string(ListIP)}
		case typeString:
			return []string{string(ListDomain), string(ListURL), string(ListEmail), string(ListSerial)}
		}
	}
	return nil
}

func listFits(f *field, t ListType) bool {
	for _, ok := range listTypesFor(f) {
		if string(t) == ok {
			return true
		}
	}
	return false
}

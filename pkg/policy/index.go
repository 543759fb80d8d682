package policy

import "sort"

// v4Index finds, for an IPv4 destination, the deciding rules that may match
// it, so that a decision at 10,000 policies does not test 10,000 guards.
// The IPv4 space is cut at every guard prefix's edges into intervals; each
// interval lists the rules whose guard admits all of it. Rules without an
// IPv4 guard (no destination test, or an unknown one) are in rest and are
// tried too, in precedence order with the interval's rules.
type v4Index struct {
	// starts[i] is where interval i begins; it ends where i+1 begins.
	starts []uint32
	// cands[i] are the rules (indices into the filter's deciding rules,
	// ascending) whose guard admits interval i.
	cands [][]int32
	// rest are the rules with no IPv4 guard, ascending.
	rest []int32
}

// maxIndexEntries bounds the index (interval-rule pairs): a set of many
// overlapping wide prefixes would otherwise grow it with the square of the
// rules; past the bound the engine walks the rules as before.
const maxIndexEntries = 1 << 22

// newV4Index indexes rules, or returns nil when that would not pay: fewer
// than a quarter of them have an IPv4 guard, or the index would pass
// maxIndexEntries.
func newV4Index(rules []compiledRule) *v4Index {
	idx := &v4Index{}
	var edges []uint32
	guarded := 0
	for i := range rules {
		g := &rules[i].guard
		if !g.hasV4() {
			idx.rest = append(idx.rest, int32(i))
			continue
		}
		guarded++
		g.eachV4(func(n v4Net) {
			edges = append(edges, n.net)
			if end := n.net | ^n.mask; end != ^uint32(0) {
				edges = append(edges, end+1)
			}
		})
	}
	// The merge costs each unguarded rule a little more than the plain
	// walk does: mostly unguarded rules are walked as they are.
	if guarded == 0 || guarded*4 < len(rules) {
		return nil
	}
	edges = append(edges, 0)
	sort.Slice(edges, func(i, j int) bool { return edges[i] < edges[j] })
	for _, e := range edges {
		if len(idx.starts) == 0 || idx.starts[len(idx.starts)-1] != e {
			idx.starts = append(idx.starts, e)
		}
	}
	idx.cands = make([][]int32, len(idx.starts))
	entries := 0
	for i := range rules {
		g := &rules[i].guard
		if !g.hasV4() {
			continue
		}
		over := false
		g.eachV4(func(n v4Net) {
			lo := idx.interval(n.net)
			for k := lo; k < len(idx.starts) && idx.starts[k] <= n.net|^n.mask; k++ {
				if c := idx.cands[k]; len(c) == 0 || c[len(c)-1] != int32(i) {
					idx.cands[k] = append(c, int32(i))
					entries++
				}
				if idx.starts[k] == ^uint32(0) {
					break
				}
			}
			over = over || entries > maxIndexEntries
		})
		if over {
			return nil
		}
	}
	return idx
}

// hasV4 reports whether the guard names IPv4 prefixes, which the index
// can place the rule under.
func (g *ipGuard) hasV4() bool { return g.on && (g.has1 || len(g.v4) > 0) }

// eachV4 calls f with each IPv4 prefix of the guard.
func (g *ipGuard) eachV4(f func(v4Net)) {
	if g.has1 {
		f(g.first)
	}
	for _, n := range g.v4 {
		f(n)
	}
}

// interval returns the interval holding a.
func (x *v4Index) interval(a uint32) int {
	lo, hi := 0, len(x.starts) // starts[0] is 0, so a is in [0, len)
	for hi-lo > 1 {
		mid := int(uint(lo+hi) >> 1)
		if x.starts[mid] <= a {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo
}

// first returns the first of rules, in precedence order, among those that
// may match c's IPv4 destination, that c matches; or -1.
func (x *v4Index) first(c *evalCtx, rules []compiledRule) int32 {
	cands, rest := x.cands[x.interval(c.ip4)], x.rest
	for len(cands) > 0 && len(rest) > 0 {
		i := rest[0]
		if cands[0] < i {
			i, cands = cands[0], cands[1:]
		} else {
			rest = rest[1:]
		}
		if c.tryRule(&rules[i]) {
			return i
		}
	}
	// One list is left: walk it without the merge.
	if len(rest) == 0 {
		rest = cands
	}
	for _, i := range rest {
		if c.tryRule(&rules[i]) {
			return i
		}
	}
	return -1
}

// tryRule reports whether c matches cr: its guard, traffic and identity.
func (c *evalCtx) tryRule(cr *compiledRule) bool {
	return cr.guard.admits(c) && matches(cr.traffic, c) && matches(cr.identity, c)
}

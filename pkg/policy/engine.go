package policy

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"
)

// ctxPool recycles evaluation contexts: a context passed to interface
// methods escapes to the heap, and Decide must not allocate.
var ctxPool = sync.Pool{New: func() any { return new(evalCtx) }}

// Match reports whether the flow satisfies the expression.
func (e *Expr) Match(f *Flow) bool {
	if e.root == nil {
		return true
	}
	return e.root.eval(newEvalCtx(f))
}

// compiledRule is a rule with its expressions compiled.
type compiledRule struct {
	rule     *Rule
	traffic  node // nil matches all
	identity node // nil matches all
	guard    ipGuard
}

// Engine decides flows against a fixed set of Gateway policies. It is
// immutable once built and safe for concurrent use; a configuration reload
// builds a new Engine.
type Engine struct {
	// byFilter holds each filter's rules in evaluation order: lowest
	// precedence first, then by name for a stable order among equals.
	// Disabled rules are kept (after the enabled ones are chosen) only for
	// the trace.
	byFilter map[Filter][]compiledRule
	// deciding holds, per filter, only the enabled allow and block rules in
	// the same order: what Decide walks.
	deciding map[Filter][]compiledRule
	// v4 indexes each filter's deciding rules by IPv4 destination (nil
	// where it would not pay).
	v4 map[Filter]*v4Index
	// doNotInspect holds the enabled HTTP "off" rules, which Gateway
	// evaluates before every other HTTP policy.
	doNotInspect []compiledRule
	// unsimulated names, per rule, the fields its expressions use that
	// the simulator does not evaluate; only Explain reads it, so it is
	// kept off the rules Decide walks.
	unsimulated map[*Rule][]string
	// firstBytes holds the rules whose traffic reads the flow's first
	// bytes.
	firstBytes map[*Rule]bool
}

// ReadsFirstBytes reports whether r's traffic expression uses a field
// known only once the client has sent its first bytes, so that the edge
// must hold the flow until then to decide it.
func (e *Engine) ReadsFirstBytes(r *Rule) bool { return e.firstBytes[r] }

// noteUnsimulated records the unsimulated fields x uses, once each.
func (e *Engine) noteUnsimulated(r *Rule, x *Expr) {
	for _, u := range x.Unsimulated() {
		if !slices.Contains(e.unsimulated[r], u.Name) {
			e.unsimulated[r] = append(e.unsimulated[r], u.Name)
		}
	}
}

// NewEngine compiles rules with lists resolved. It reports every rule that
// does not compile, as *RuleError values joined into one error.
func NewEngine(rules []Rule, lists Lists) (*Engine, error) {
	e := &Engine{byFilter: make(map[Filter][]compiledRule), deciding: make(map[Filter][]compiledRule),
		v4: map[Filter]*v4Index{}, unsimulated: map[*Rule][]string{}, firstBytes: map[*Rule]bool{}}
	var errs []error
	for i := range rules {
		r := rules[i] // a copy the engine owns
		cr := compiledRule{rule: &r}
		if t, err := CompileTraffic(r.Traffic, r.Filters, lists); err != nil {
			errs = append(errs, &RuleError{RuleID: r.ID, RuleName: r.Name, Part: "traffic", Err: asError(err)})
		} else {
			cr.traffic = t.root
			cr.guard = guardOf(t.root)
			e.noteUnsimulated(cr.rule, t)
			if t.ReadsFirstBytes() {
				e.firstBytes[cr.rule] = true
			}
		}
		if id, err := CompileIdentity(r.Identity, lists); err != nil {
			errs = append(errs, &RuleError{RuleID: r.ID, RuleName: r.Name, Part: "identity", Err: asError(err)})
		} else {
			cr.identity = id.root
			e.noteUnsimulated(cr.rule, id)
		}
		for _, f := range r.Filters {
			e.byFilter[f] = append(e.byFilter[f], cr)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	for filter, rs := range e.byFilter {
		sort.SliceStable(rs, func(i, j int) bool {
			a, b := rs[i].rule, rs[j].rule
			if a.Precedence != b.Precedence {
				return a.Precedence < b.Precedence
			}
			return a.Name < b.Name
		})
		for _, cr := range rs {
			switch {
			case !cr.rule.Enabled:
			case cr.rule.Action == ActionAllow || cr.rule.Action == ActionBlock:
				e.deciding[filter] = append(e.deciding[filter], cr)
			case filter == FilterHTTP && cr.rule.Action == ActionOff:
				e.doNotInspect = append(e.doNotInspect, cr)
			}
		}
	}
	for filter, rs := range e.deciding {
		if x := newV4Index(rs); x != nil {
			e.v4[filter] = x
		}
	}
	return e, nil
}

func asError(err error) *Error {
	var pe *Error
	if errors.As(err, &pe) {
		return pe
	}
	return &Error{Line: 1, Column: 1, Msg: err.Error()}
}

// Rules returns the rules of a filter in evaluation order, disabled ones
// included.
func (e *Engine) Rules(f Filter) []*Rule {
	rs := e.byFilter[f]
	out := make([]*Rule, len(rs))
	for i, r := range rs {
		out[i] = r.rule
	}
	return out
}

// Decide returns the decision for a flow. For HTTP, enabled Do Not Inspect
// ("off") policies come first: a match allows the request and exempts it
// from every other HTTP policy. Then the enabled policies of the flow's
// filter are tried in precedence order and the first matching allow or block
// wins; an allow whose check_session limit the session has outlived blocks
// with reason session_expired (S3), except on DNS, which never looks at the
// session (S6). Without a match the flow is allowed with reason no_match, as
// Gateway allows by default. Decide does not allocate unless a policy uses
// matches.
func (e *Engine) Decide(f *Flow) Decision {
	c := ctxPool.Get().(*evalCtx)
	c.reset(f)
	d := Decision{Action: ActionAllow, Reason: ReasonNoMatch}
	if f.Filter == FilterHTTP {
		for i := range e.doNotInspect {
			cr := &e.doNotInspect[i]
			if matches(cr.traffic, c) && matches(cr.identity, c) {
				c.f = nil
				ctxPool.Put(c)
				return Decision{Action: ActionAllow, Reason: ReasonAllowed, Rule: cr.rule}
			}
		}
	}
	rules := e.deciding[f.Filter]
	if x := e.v4[f.Filter]; x != nil && c.is4 {
		// The index admits only rules whose guard holds the address;
		// the rest are tested as below.
		if i := x.first(c, rules); i >= 0 {
			d = decide(rules[i].rule, f)
		}
	} else {
		for i := range rules {
			cr := &rules[i]
			if cr.guard.admits(c) && matches(cr.traffic, c) && matches(cr.identity, c) {
				d = decide(cr.rule, f)
				break
			}
		}
	}
	c.f = nil // do not keep the flow alive in the pool
	ctxPool.Put(c)
	return d
}

func matches(n node, c *evalCtx) bool { return n == nil || n.eval(c) }

func decide(r *Rule, f *Flow) Decision {
	if r.Action == ActionBlock {
		return Decision{Action: ActionBlock, Reason: ReasonBlocked, Rule: r}
	}
	if f.Filter != FilterDNS && r.Limited() {
		if f.AuthTime.IsZero() {
			return Decision{Action: ActionBlock, Reason: ReasonNoIdPSession, Rule: r}
		}
		if f.Now.Sub(f.AuthTime) > r.Session.Duration {
			return Decision{Action: ActionBlock, Reason: ReasonSessionExpired, Rule: r}
		}
	}
	return Decision{Action: ActionAllow, Reason: ReasonAllowed, Rule: r}
}

// Step is one policy's part in a decision, for agentctl why and the audit
// log.
type Step struct {
	RuleID     string `json:"policy_id"`
	Name       string `json:"name"`
	Precedence int    `json:"precedence"`
	Action     Action `json:"action"`
	// Outcome is what happened at this policy: "disabled", "not_matched",
	// "traffic_matched_identity_not", "passed_over" (an action that does not
	// decide), "do_not_inspect" (an HTTP "off" policy matched and exempted
	// the request), or the decision's reason when it decided.
	Outcome string `json:"outcome"`
	// Session describes the check_session test when one ran.
	Session string `json:"session,omitempty"`
	// Unsimulated names the fields of the policy's expressions that the
	// simulator does not evaluate: comparisons on them were false.
	Unsimulated []string `json:"unsimulated,omitempty"`
}

// Trace is the ordered list of steps that led to a decision.
type Trace []Step

// Explain returns the decision Decide would make and the trace of every
// policy of the flow's filter up to the deciding one.
func (e *Engine) Explain(f *Flow) (Decision, Trace) {
	c := newEvalCtx(f)
	var trace Trace
	if f.Filter == FilterHTTP {
		for i := range e.doNotInspect {
			cr := &e.doNotInspect[i]
			if matches(cr.traffic, c) && matches(cr.identity, c) {
				r := cr.rule
				st := Step{RuleID: r.ID, Name: r.Name, Precedence: r.Precedence, Action: r.Action, Outcome: "do_not_inspect"}
				return Decision{Action: ActionAllow, Reason: ReasonAllowed, Rule: r}, Trace{st}
			}
		}
	}
	rules := e.byFilter[f.Filter]
	for i := range rules {
		cr := &rules[i]
		r := cr.rule
		st := Step{RuleID: r.ID, Name: r.Name, Precedence: r.Precedence, Action: r.Action, Unsimulated: e.unsimulated[r]}
		switch {
		case !r.Enabled:
			st.Outcome = "disabled"
		case !cr.guard.admits(c) || !matches(cr.traffic, c):
			st.Outcome = "not_matched"
		case !matches(cr.identity, c):
			st.Outcome = "traffic_matched_identity_not"
		case r.Action != ActionAllow && r.Action != ActionBlock:
			st.Outcome = "passed_over"
		default:
			d := decide(r, f)
			st.Outcome = string(d.Reason)
			st.Session = sessionNote(r, f)
			return d, append(trace, st)
		}
		trace = append(trace, st)
	}
	return Decision{Action: ActionAllow, Reason: ReasonNoMatch}, trace
}

func sessionNote(r *Rule, f *Flow) string {
	switch {
	case r.Action != ActionAllow:
		return ""
	case f.Filter == FilterDNS:
		return "not checked: DNS policies never look at the session"
	case !r.Limited():
		return "no limit"
	case f.AuthTime.IsZero():
		return fmt.Sprintf("blocked: the device never signed in with an IdP (it enrolled with a service token), so it has no session to check against %s", r.Session.Duration)
	}
	age := f.Now.Sub(f.AuthTime).Truncate(time.Second)
	if age > r.Session.Duration {
		return fmt.Sprintf("expired: session age %s exceeds %s", age, r.Session.Duration)
	}
	return fmt.Sprintf("ok: session age %s within %s", age, r.Session.Duration)
}

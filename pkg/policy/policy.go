// Package policy is the Gateway rule language of the edge simulator, a subset
// of Cloudflare's Wirefilter: it parses traffic and identity expressions once,
// keeping line and column for every error, compiles them against typed fields
// and resolved lists, and decides DNS queries, new L4 flows and HTTP requests
// the way Gateway does, including the client-session check (S3, S4, S6).
package policy

import (
	"fmt"
	"time"
)

// Filter is the kind of traffic a Gateway policy applies to.
type Filter string

// The filters of cloudflare_zero_trust_gateway_policy.
const (
	FilterDNS  Filter = "dns"
	FilterL4   Filter = "l4"
	FilterHTTP Filter = "http"
)

// Action is what a matching policy does. Only allow and block end the
// evaluation; every other action is recorded in the trace and passed over.
type Action string

// Actions with a meaning in the simulator.
const (
	ActionAllow Action = "allow"
	ActionBlock Action = "block"
	// ActionOff is HTTP "Do Not Inspect": Gateway evaluates these policies
	// before all other HTTP policies, and a match exempts the request from
	// every other HTTP policy, check_session included.
	ActionOff Action = "off"
)

// ListType is the type of a cloudflare_zero_trust_list.
type ListType string

// List types with defined matching semantics.
const (
	ListIP     ListType = "IP"
	ListDomain ListType = "DOMAIN"
	ListEmail  ListType = "EMAIL"
	ListURL    ListType = "URL"
	ListSerial ListType = "SERIAL"
)

// List is a resolved cloudflare_zero_trust_list, referenced in expressions as
// $ID.
type List struct {
	ID    string
	Name  string
	Type  ListType
	Items []string
	// External marks a list the configuration references by ID but does
	// not declare (made in the dashboard, or passed in from another
	// module): its type is unknown, so it fits any field.
	External bool
}

// Lists finds lists by ID; a nil Lists has none.
type Lists map[string]*List

// Error is a problem in an expression, positioned within the expression's
// text: Offset is the byte offset, Line and Column are 1-based (columns
// count bytes), so a loader can map it onto the file the expression came
// from.
type Error struct {
	Offset int
	Line   int
	Column int
	Msg    string
}

// Error returns "line:column: message".
func (e *Error) Error() string { return fmt.Sprintf("%d:%d: %s", e.Line, e.Column, e.Msg) }

// CheckSession is a policy's rule_settings.check_session.
type CheckSession struct {
	Enforce  bool
	Duration time.Duration
}

// Rule is one Gateway policy as configured, before compilation.
type Rule struct {
	ID          string
	Name        string
	Precedence  int
	Enabled     bool
	Action      Action
	Filters     []Filter
	Traffic     string // expression over traffic fields; "" matches everything
	Identity    string // expression over identity fields; "" matches everyone
	Session     *CheckSession
	BlockReason string
}

// Limited reports whether the rule limits the client session (S3, S4).
func (r *Rule) Limited() bool {
	return r.Session != nil && r.Session.Enforce && r.Session.Duration > 0
}

// Reason says why a decision came out as it did.
type Reason string

// Decision reasons, as the audit log and agentctl why show them.
const (
	ReasonAllowed        Reason = "allowed"
	ReasonBlocked        Reason = "blocked"
	ReasonSessionExpired Reason = "session_expired"
	ReasonNoMatch        Reason = "no_match"
	// ReasonNoIdPSession blocks a device that never signed in with an IdP
	// (one enrolled with a service token) at a policy that checks the
	// session: there is no session to be young enough, and no one to ask
	// to re-authenticate, so the device is never signalled.
	ReasonNoIdPSession Reason = "no_idp_session"
)

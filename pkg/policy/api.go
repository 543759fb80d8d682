package policy

import (
	"fmt"
	"net/netip"
	"time"
)

// CompileTraffic parses and type-checks a traffic expression for a policy
// with the given filters: only those filters' fields are allowed, and every
// $list must be in lists with a type that fits the field. "" matches
// everything. Errors are *Error, positioned within src.
func CompileTraffic(src string, filters []Filter, lists Lists) (*Expr, error) {
	return compile(src, scope{filters: filters}, lists)
}

// CompileIdentity parses and type-checks an identity expression: only
// identity fields are allowed. "" matches everyone. Errors are *Error.
func CompileIdentity(src string, lists Lists) (*Expr, error) {
	return compile(src, scope{identity: true}, lists)
}

// CompileDeviceMatch parses and type-checks the match expression of a
// device profile: identity fields and the device's (os.name, os.version,
// network, device_posture.checks.passed). "" matches every device. Errors
// are *Error.
func CompileDeviceMatch(src string, lists Lists) (*Expr, error) {
	return compile(src, scope{identity: true, device: true}, lists)
}

// RuleError is a compile error in one part ("traffic" or "identity") of a
// rule.
type RuleError struct {
	RuleID   string
	RuleName string
	Part     string
	Err      *Error
}

// Error names the rule, the part and the position within it.
func (e *RuleError) Error() string {
	return fmt.Sprintf("policy %q %s expression %d:%d: %s", e.RuleName, e.Part, e.Err.Line, e.Err.Column, e.Err.Msg)
}

// Unwrap returns the positioned error.
func (e *RuleError) Unwrap() error { return e.Err }

// Flow is what the edge knows about a DNS query, a new L4 flow or an HTTP
// request, and about who sent it. Strings need not be lower-case: fields that
// Gateway compares case-insensitively are folded during evaluation, without
// allocating when they already are.
type Flow struct {
	Filter Filter

	// DNS
	FQDN        string       // the queried name; a trailing dot is ignored
	ResolvedIPs []netip.Addr // the answer's addresses (dns.resolved_ips)

	// L4
	DstIP    netip.Addr
	DstPort  uint16
	Protocol string // "tcp" or "udp"
	SNI      string // TLS server name, when known; a trailing dot is ignored
	SrcIP    netip.Addr
	// DetectedProtocol is what the flow's first bytes showed ("http",
	// "tls", "ssh"), or "" when unknown.
	DetectedProtocol string
	VNetID           string // the virtual network the flow arrived on

	// Categories of the queried name (DNS) or the requested host (HTTP).
	ContentCategories  []int
	SecurityCategories []int

	// HTTP
	Host   string // the Host header; a port and a trailing dot are ignored
	URI    string // the full URL, scheme://host/path?query, as Gateway's http.request.uri
	Path   string
	Method string

	// Identity of the device's registered user.
	Email       string
	Name        string
	Groups      []string // group names
	GroupIDs    []string
	GroupEmails []string
	// SAMLAttributes and OIDCClaims hold one "name=value" element per
	// value of each attribute or claim.
	SAMLAttributes []string
	OIDCClaims     []string

	// OS is the device's operating system as Cloudflare names it
	// (windows, mac, linux, …), for device profile matches.
	OS string

	// AuthTime is the device's IdP auth_time, zero for a device that never
	// signed in (enrolled with a service token); Now is the edge's clock.
	AuthTime time.Time
	Now      time.Time
}

// Decision is the outcome for one flow.
type Decision struct {
	Action Action
	Reason Reason
	// Rule is the policy that decided, or nil when none matched.
	Rule *Rule
}

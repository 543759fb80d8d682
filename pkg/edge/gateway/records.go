package gateway

import (
	"context"
	"errors"
	"net/netip"
	"time"

	"github.com/ztagent/ztagent/pkg/policy"
)

// Identity is who a registered device belongs to, as the registry knows it
// now: the user's e-mail, name and groups from the last IdP login, and that
// login's auth_time on the edge's clock (S1), with what the user directory
// adds (group IDs and e-mails, SAML attributes, OIDC claims).
type Identity struct {
	Email    string
	Name     string
	Groups   []string // group names
	AuthTime time.Time

	GroupIDs    []string
	GroupEmails []string
	// SAMLAttributes and OIDCClaims hold one "name=value" per value.
	SAMLAttributes []string
	OIDCClaims     []string

	// Address is the device's tunnel address (net.src.ip for Explain,
	// which has no packet to read it from); invalid when unknown.
	Address netip.Addr

	// IdPID is the identity provider the device enrolled with, which its
	// user re-authenticates with: the block page's refresh-identity link
	// and Access logins name it. "" when not recorded or when the
	// organization has only one, which needs no naming.
	IdPID string

	// ServiceTokenID is the service token the device enrolled with; "" for
	// a device a person enrolled. Such a device has no IdP user (Email is
	// NonIdentityEmail's) and no IdP session: a policy's session check can
	// never pass for it, and nothing asks it to re-authenticate.
	ServiceTokenID string
}

// Flow returns the policy flow of a decision on the identity's traffic:
// the identity fields filled, the traffic fields left for the caller.
func (id Identity) Flow(filter policy.Filter, now time.Time) policy.Flow {
	return policy.Flow{
		Filter: filter, Email: id.Email, Name: id.Name, Groups: id.Groups,
		GroupIDs: id.GroupIDs, GroupEmails: id.GroupEmails, SAMLAttributes: id.SAMLAttributes, OIDCClaims: id.OIDCClaims,
		AuthTime: id.AuthTime, Now: now,
	}
}

// Devices looks up the identity of registered devices.
type Devices interface {
	// DeviceIdentity returns the identity of an active device, or an error
	// when the device is unknown, revoked or has left (the Gateway then
	// refuses its traffic). It is called for every decision, on the packet
	// path for UDP flows, so it must answer from memory or a fast local
	// store.
	DeviceIdentity(ctx context.Context, deviceID string) (Identity, error)
}

// DevicesFunc adapts a function to Devices.
type DevicesFunc func(ctx context.Context, deviceID string) (Identity, error)

// DeviceIdentity returns f(ctx, deviceID).
func (f DevicesFunc) DeviceIdentity(ctx context.Context, deviceID string) (Identity, error) {
	return f(ctx, deviceID)
}

// Reasons a decision records besides the policy engine's (allowed, blocked,
// session_expired, no_match).
const (
	// ReasonUnknownDevice: the device lookup failed (unknown, revoked, or
	// the registry did not answer); the Gateway fails closed.
	ReasonUnknownDevice = "unknown_device"
	// ReasonEdgeService: the flow goes to the team domain or the IdP,
	// which always pass (S15).
	ReasonEdgeService = "edge_service"
)

// Decision is one Gateway decision, as the audit log records it. It never
// holds a secret: HTTP requests are recorded by host, method and path, not
// by their query string, which may carry codes or tokens.
type Decision struct {
	Time     time.Time     `json:"time"`
	DeviceID string        `json:"device_id"`
	User     string        `json:"user,omitempty"`
	AuthTime time.Time     `json:"auth_time,omitzero"`
	Filter   policy.Filter `json:"filter"`
	// FlowID is wg's flow ID (0 for DNS queries).
	FlowID   uint64         `json:"flow_id,omitempty"`
	Protocol string         `json:"proto,omitempty"`
	Src      netip.AddrPort `json:"src,omitzero"`
	Dst      netip.AddrPort `json:"dst,omitzero"`
	// Query is the DNS name asked for.
	Query  string `json:"query,omitempty"`
	SNI    string `json:"sni,omitempty"`
	Host   string `json:"host,omitempty"`
	Method string `json:"method,omitempty"`
	Path   string `json:"path,omitempty"`

	Action     policy.Action `json:"action"`
	Reason     string        `json:"reason"`
	PolicyID   string        `json:"policy_id,omitempty"`
	PolicyName string        `json:"policy_name,omitempty"`
}

// Blocked reports whether the decision blocked the traffic.
func (d *Decision) Blocked() bool { return d.Action == policy.ActionBlock }

// SessionExpired is the signal for a device whose session outlived a
// policy's check_session (S3). The simulator turns it into the control
// API's session_expired payload (control.SessionExpired); it has no wire
// form of its own.
type SessionExpired struct {
	DeviceID   string
	AuthTime   time.Time
	PolicyID   string
	PolicyName string
	Filter     policy.Filter
}

// ErrBadDestination is wrapped by Explain's errors about its dst and proto
// arguments, which are the caller's to fix (an HTTP 400, not a 500).
var ErrBadDestination = errors.New("bad destination")

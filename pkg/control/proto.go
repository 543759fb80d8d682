// Package control is the control API between the agent and the edge (DESIGN
// §5): its protocol types, shared by the edge's server (pkg/edge/controlapi,
// pkg/edge/admin) and the agent's client. Field names and shapes are an
// external contract: any standard WireGuard peer or script can use them.
package control

import (
	"encoding/json"
	"time"
)

// APIVersion is the version of this protocol; every response carries it in
// the VersionHeader header.
const (
	APIVersion    = "1"
	VersionHeader = "Ztagent-Api-Version"
)

// IdP is how the edge describes the identity provider a team signs in with.
type IdP struct {
	// Type is the Cloudflare identity provider type: azureAD, oidc, okta…
	Type string `json:"type"`
	// Prompt is the prompt every re-authentication asks of the IdP
	// (S11): login, select_account, or "" for none.
	Prompt string `json:"prompt"`
}

// Team answers GET /v1/teams/{name}: where the team domain is.
type Team struct {
	Name string `json:"name"`
	// Domain is the team domain's origin, e.g. http://acme.localhost:8781.
	Domain string `json:"domain"`
	IdP    IdP    `json:"idp"`
}

// RegisterRequest is the body of POST /v1/registrations: the enrollment
// code the team domain handed to the agent's loopback callback, the PKCE
// verifier that proves the agent started that enrollment, and the device.
type RegisterRequest struct {
	Code         string `json:"code,omitempty"`
	CodeVerifier string `json:"code_verifier,omitempty"`
	// ServiceToken enrolls the device with an Access service token instead
	// of a person's enrollment code (then Code and CodeVerifier are empty).
	ServiceToken      *ServiceTokenCredentials `json:"service_token,omitempty"`
	WGPublicKey       string                   `json:"wg_public_key"`
	DeviceFingerprint string                   `json:"device_fingerprint"`
	Name              string                   `json:"name"`
	OS                string                   `json:"os"`
}

// ServiceTokenCredentials are an Access service token's client ID and
// secret, as Cloudflare's MDM file gives them (auth_client_id,
// auth_client_secret).
type ServiceTokenCredentials struct {
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
}

// ServiceTokenInfo names the service token a device enrolled with.
type ServiceTokenInfo struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// User is the identity a device is registered to.
type User struct {
	Email  string   `json:"email"`
	Name   string   `json:"name"`
	Groups []string `json:"groups"`
}

// TeamInfo is the team part of a registration.
type TeamInfo struct {
	Name   string `json:"name"`
	Domain string `json:"domain"`
	// RefreshIdentityURL is the page that re-authenticates the user and
	// resets the client session (S12).
	RefreshIdentityURL string `json:"refresh_identity_url"`
}

// Tunnel is everything a standard WireGuard peer needs to reach the edge.
type Tunnel struct {
	// Endpoint is the edge's WireGuard UDP address, host:port.
	Endpoint string `json:"endpoint"`
	// EdgePublicKey is base64, as in wg(8).
	EdgePublicKey string `json:"edge_public_key"`
	// Addresses are the device's tunnel addresses (CIDR).
	Addresses []string `json:"addresses"`
	// DNS are the resolvers inside the tunnel.
	DNS []string `json:"dns"`
	// AllowedIPs are the prefixes routed into the tunnel.
	AllowedIPs []string `json:"allowed_ips"`
	MTU        int      `json:"mtu"`
}

// Registration answers POST /v1/registrations. DeviceToken is the device's
// bearer credential: it is shown once and must be kept in the keyring.
type Registration struct {
	DeviceID    string    `json:"device_id"`
	DeviceToken string    `json:"device_token"`
	User        User      `json:"user"`
	IdP         IdP       `json:"idp"`
	AuthTime    time.Time `json:"auth_time"`
	ServerTime  time.Time `json:"server_time"`
	Team        TeamInfo  `json:"team"`
	Tunnel      Tunnel    `json:"tunnel"`
	// ServiceToken is the service token the device enrolled with; nil when
	// a person enrolled it. Such a device has no IdP user (User.Email is
	// non_identity@<team>.cloudflareaccess.com), a zero AuthTime and no
	// IdP, and nothing ever asks it to re-authenticate.
	ServiceToken *ServiceTokenInfo `json:"service_token,omitempty"`
}

// Device answers GET /v1/registrations/{id} and lists devices in the admin
// API. It holds no secret.
type Device struct {
	ID           string    `json:"id"`
	Name         string    `json:"name"`
	OS           string    `json:"os"`
	Fingerprint  string    `json:"fingerprint"`
	User         User      `json:"user"`
	AuthTime     time.Time `json:"auth_time"`
	WGPublicKey  string    `json:"wg_public_key"`
	Addresses    []string  `json:"addresses"`
	State        string    `json:"state"` // active, revoked, left
	RegisteredAt time.Time `json:"registered_at"`
	ServerTime   time.Time `json:"server_time"`
}

// Session answers GET /v1/registrations/{id}/session: the device's
// per-policy session deadlines on the edge's clock (S1, S3) and the
// Access device session (S9).
type Session struct {
	DeviceID   string    `json:"device_id"`
	AuthTime   time.Time `json:"auth_time"`
	ServerTime time.Time `json:"server_time"`
	// Gateway lists every enabled allow policy with an enforced
	// check_session, earliest deadline first; policies without one set no
	// limit and are left out (S4).
	Gateway []PolicySession `json:"gateway"`
	// Access is the Access device session, nil when the organization
	// sets none.
	Access *AccessSession `json:"access"`
}

// PolicySession is one Gateway policy's session deadline.
type PolicySession struct {
	PolicyID string `json:"policy_id"`
	Name     string `json:"name"`
	Filter   string `json:"filter"`
	// Duration is the check_session duration as Cloudflare writes it
	// ("1h30m0s").
	Duration  string    `json:"duration"`
	ExpiresAt time.Time `json:"expires_at"`
	// ExpiresAtLocal is ExpiresAt on the answering clock; at the edge
	// the two are the same.
	ExpiresAtLocal time.Time `json:"expires_at_local"`
	Expired        bool      `json:"expired"`
	// AppliesToUser says whether the policy's identity conditions can
	// match the device's user; nil from an edge that does not say. Read
	// it with Applies.
	AppliesToUser *bool `json:"applies_to_user,omitempty"`
	// NoIdPSession says the device never signed in with an IdP (it
	// enrolled with a service token), so the policy blocks it for good:
	// no re-authentication can help, and the deadlines are zero.
	NoIdPSession bool `json:"no_idp_session,omitempty"`
}

// Applies reports whether the policy limits the device's user: true
// unless the edge said its identity conditions cannot match them.
func (p PolicySession) Applies() bool { return p.AppliesToUser == nil || *p.AppliesToUser }

// AccessSession is the Access device session's deadline (S9).
type AccessSession struct {
	Duration  string    `json:"duration"`
	ExpiresAt time.Time `json:"expires_at"`
	Expired   bool      `json:"expired"`
}

// Explanation answers GET /v1/registrations/{id}/explain: how the
// Gateway would decide a new flow of the device now, stage by stage (DNS,
// network, HTTP), for agentctl why and for telling a refused connection
// from an expired session.
type Explanation struct {
	DeviceID   string    `json:"device_id"`
	User       string    `json:"user"`
	Groups     []string  `json:"groups"`
	Dst        string    `json:"dst"`
	Protocol   string    `json:"proto"`
	AuthTime   time.Time `json:"auth_time"`
	ServerTime time.Time `json:"server_time"`
	// SessionAge is server_time − auth_time, as Go writes durations.
	SessionAge string `json:"session_age"`
	// Action, Reason and the policy are the overall outcome: the first
	// stage that blocks, else the last stage a policy decided.
	Action     string         `json:"action"`
	Reason     string         `json:"reason"`
	PolicyID   string         `json:"policy_id,omitempty"`
	PolicyName string         `json:"policy_name,omitempty"`
	Stages     []ExplainStage `json:"stages"`
}

// Explanation stage filters, actions and reasons the agent acts on.
const (
	FilterL4             = "l4"
	ActionBlock          = "block"
	ReasonSessionExpired = "session_expired"
)

// ExplainStage is one filter's decision within an Explanation.
type ExplainStage struct {
	Filter string `json:"filter"`
	// Flow is what the stage evaluated, in the rule language's field
	// names, such as "net.dst.ip=10.0.0.10 net.dst.port=22".
	Flow       string `json:"flow"`
	Action     string `json:"action"`
	Reason     string `json:"reason"`
	PolicyID   string `json:"policy_id,omitempty"`
	PolicyName string `json:"policy_name,omitempty"`
	// Note says what the stage assumed or why it is special.
	Note  string        `json:"note,omitempty"`
	Trace []ExplainStep `json:"trace"`
}

// ExplainStep is one policy's part in a stage's decision.
type ExplainStep struct {
	PolicyID   string `json:"policy_id"`
	Name       string `json:"name"`
	Precedence int    `json:"precedence"`
	Action     string `json:"action"`
	// Outcome is what happened at this policy: not_matched, disabled,
	// passed_over…, or the decision's reason when it decided.
	Outcome string `json:"outcome"`
	// Session describes the check_session test when one ran.
	Session string `json:"session,omitempty"`
	// Unsimulated names the policy's fields that the simulator does not
	// evaluate: every comparison on them was false.
	Unsimulated []string `json:"unsimulated,omitempty"`
}

// Event types on a device's stream (GET /v1/registrations/{id}/events).
const (
	EventSessionExpired   = "session_expired"
	EventSessionRefreshed = "session_refreshed"
	EventDeviceRevoked    = "device_revoked"
	EventPolicyChanged    = "policy_changed"
	// EventClockChanged says the edge's clock moved unlike a real one (the
	// simulator's clock was advanced): deadlines computed from the old
	// reading of the edge's clock are wrong.
	EventClockChanged = "clock_changed"
)

// Event is one line of a device's NDJSON event stream. Seq increases
// strictly; a client resumes with ?after=<the last Seq it handled> and gets
// every later event exactly once.
type Event struct {
	Seq     int64           `json:"seq"`
	Type    string          `json:"type"`
	Time    time.Time       `json:"time"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// SessionExpired is the payload of a session_expired event: the policy whose
// check_session blocked a flow (S3).
type SessionExpired struct {
	PolicyID   string `json:"policy_id"`
	PolicyName string `json:"policy_name"`
	Filter     string `json:"filter"`
}

// SessionRefreshed is the payload of a session_refreshed event: the user
// authenticated again (S2) and these are the new auth_time and groups (S12).
type SessionRefreshed struct {
	AuthTime time.Time `json:"auth_time"`
	Groups   []string  `json:"groups"`
}

// ClockChanged is the payload of a clock_changed event: the edge's time
// when it moved, and how far it is now ahead of the real clock. Now is a
// lower bound of the edge's time whenever the event is read, which is what
// lets a late or replayed event be told apart from a fresh one.
type ClockChanged struct {
	Now    time.Time `json:"now"`
	Offset string    `json:"offset"`
}

// Error codes the control and admin APIs answer with, besides the
// registry's (device_registered_to_other_user, not_allowed_to_leave,
// device_revoked, device_left, invalid_token, not_found) and the team
// domain's enrollment codes (invalid_grant…).
const (
	CodeUnknownTeam    = "unknown_team"
	CodeBadRequest     = "bad_request"
	CodeUnauthorized   = "unauthorized"
	CodeForbidden      = "forbidden"
	CodeNotFound       = "not_found"
	CodeInvalidConfig  = "invalid_config"
	CodeNotImplemented = "not_implemented"
	CodeInternal       = "internal"
	// CodeEnrollmentNotPermitted refuses a registration that the
	// organization's device enrollment permissions do not allow.
	CodeEnrollmentNotPermitted = "enrollment_not_permitted"
	// CodeInvalidServiceToken refuses a service token whose client ID is
	// unknown or whose secret is wrong (which of the two is not said).
	CodeInvalidServiceToken = "invalid_service_token"
	// CodeServiceTokenExpired refuses a service token past its duration.
	CodeServiceTokenExpired = "service_token_expired"
)

// ClockRequest is the body of POST /admin/v1/clock.
type ClockRequest struct {
	// Advance is a positive Go duration ("2h", "90m").
	Advance string `json:"advance"`
}

// ClockState answers POST /admin/v1/clock: the simulated time now and how
// far it is ahead of the real clock.
type ClockState struct {
	Now    time.Time `json:"now"`
	Offset string    `json:"offset"`
}

// ReloadResult answers POST /admin/v1/reload. On failure (422) Errors lists
// every problem as file:line:col: message and the old configuration stays.
type ReloadResult struct {
	Reloaded bool     `json:"reloaded"`
	Errors   []string `json:"errors,omitempty"`
	Warnings []string `json:"warnings,omitempty"`
}

// AuditRecord is one entry of GET /admin/v1/audit.
type AuditRecord struct {
	Seq      int64           `json:"seq"`
	Time     time.Time       `json:"time"`
	Kind     string          `json:"kind"`
	Actor    string          `json:"actor,omitempty"`
	DeviceID string          `json:"device_id,omitempty"`
	Detail   json.RawMessage `json:"detail,omitempty"`
}

// AuditPage answers GET /admin/v1/audit?after=SEQ: the records after SEQ,
// oldest first, and the Seq to pass next.
type AuditPage struct {
	Records []AuditRecord `json:"records"`
	Next    int64         `json:"next"`
}

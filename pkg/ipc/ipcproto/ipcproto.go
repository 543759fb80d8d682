// Package ipcproto holds the types of the IPC between agentd and its
// front-ends (agentctl, a tray app) (DESIGN §4): the agent's states, the
// JSON bodies of every route and the events of the stream. It has no code
// that talks: pkg/ipc serves and calls these, pkg/agent fills them in.
// Field names are an external contract; add fields, never rename them.
package ipcproto

import (
	"encoding/json"
	"time"
)

// Version is the IPC protocol version, sent in the APIVersionHeader of every
// response and in the path prefix (/v1/). A client that sees another
// version warns.
const (
	Version             = "1"
	APIVersionHeader    = "Ztagent-Api-Version"
	DaemonVersionHeader = "Ztagent-Daemon-Version"
)

// State is the agent's state: one enum, shared by the daemon and every
// front-end.
type State string

// The agent's states.
const (
	// StateUnregistered: no registration; `agentctl register` starts one.
	StateUnregistered State = "unregistered"
	// StateRegistering: an enrollment is waiting for the browser login.
	StateRegistering State = "registering"
	// StateConnecting: registered; the tunnel or the control stream is
	// coming up (or retrying after an edge outage).
	StateConnecting State = "connecting"
	// StateConnected: the tunnel is up and the control stream follows the
	// edge.
	StateConnected State = "connected"
	// StateDisconnected: registered, tunnel stopped at the user's request.
	StateDisconnected State = "disconnected"
	// StateReauthRequired: the edge blocked a flow because the client
	// session expired (S16); the tunnel stays up.
	StateReauthRequired State = "reauth_required"
	// StateRevoked: an administrator revoked the device (S14); the
	// registration was deleted.
	StateRevoked State = "revoked"
	// StateKeyringUnavailable: the keyring did not answer in time or is
	// locked (REL2).
	StateKeyringUnavailable State = "keyring_unavailable"
)

// States lists every state, in the order above.
var States = []State{StateUnregistered, StateRegistering, StateConnecting, StateConnected,
	StateDisconnected, StateReauthRequired, StateRevoked, StateKeyringUnavailable}

// Registration is the registration as front-ends see it: no secret.
type Registration struct {
	DeviceID     string    `json:"device_id"`
	User         string    `json:"user"`
	Team         string    `json:"team"`
	IdP          string    `json:"idp"`
	RegisteredAt time.Time `json:"registered_at"`
	// EnrolledVia is how the device enrolled: "browser" (the loopback
	// flow), "device_code" (RFC 8628) or "service_token" (unattended,
	// from the MDM file: no user signed in).
	EnrolledVia string `json:"enrolled_via"`
	// ServiceToken names the service token of a "service_token"
	// enrollment.
	ServiceToken string `json:"service_token,omitempty"`
}

// Tunnel is the tunnel's state.
type Tunnel struct {
	Mode      string    `json:"mode"` // proxy or tun
	ProxyAddr string    `json:"proxy_addr,omitempty"`
	Interface string    `json:"interface,omitempty"`
	Endpoint  string    `json:"endpoint"`
	Addresses []string  `json:"addresses"`
	Up        bool      `json:"up"`
	Since     time.Time `json:"since,omitempty"`
	// LastHandshake is the last WireGuard handshake with the edge.
	LastHandshake time.Time `json:"last_handshake,omitempty"`
	RxBytes       uint64    `json:"rx_bytes"`
	TxBytes       uint64    `json:"tx_bytes"`
}

// SessionClock is the session's timestamps on the edge's clock (S1).
type SessionClock struct {
	AuthTime   time.Time `json:"auth_time"`
	ServerTime time.Time `json:"server_time"`
	// NextExpiry is the earliest deadline among the policies that limit
	// this user's session, or nil when none does.
	NextExpiry *NextExpiry `json:"next_expiry,omitempty"`
}

// NextExpiry is the earliest session deadline, on the edge's clock.
type NextExpiry struct {
	// PolicyName names the policies sharing that deadline, comma-separated.
	PolicyName string    `json:"policy_name"`
	ExpiresAt  time.Time `json:"expires_at"`
	// Expired reports whether the deadline has passed by the edge's clock.
	Expired bool `json:"expired"`
}

// Status answers GET /v1/status.
type Status struct {
	State        State         `json:"state"`
	Registration *Registration `json:"registration"`
	Tunnel       *Tunnel       `json:"tunnel"`
	Session      *SessionClock `json:"session"`
	// ReauthURL is the refresh-identity URL while reauth_required.
	ReauthURL string `json:"reauth_url"`
	// Message says what the state means for the user and what to do.
	Message string `json:"message,omitempty"`
	// TeamDomain is the team domain (origin) agentd registers with or is
	// registering with: the only place a URL it publishes may point at,
	// so front-ends check browse_to_url against it.
	TeamDomain string `json:"team_domain,omitempty"`
}

// PolicyExpiry is one Gateway policy's session deadline.
type PolicyExpiry struct {
	PolicyID  string    `json:"policy_id"`
	Name      string    `json:"name"`
	Filter    string    `json:"filter"`
	Duration  string    `json:"duration"`
	ExpiresAt time.Time `json:"expires_at"`
	Expired   bool      `json:"expired"`
	// AppliesToUser says whether the policy's identity conditions can
	// match the registered user; a policy that cannot never limits them.
	// It is nil from a daemon that predates it: read it with Applies.
	AppliesToUser *bool `json:"applies_to_user,omitempty"`
	// NoIdPSession says the device never signed in (it enrolled with a
	// service token): the policy blocks it for good (no_idp_session), and
	// ExpiresAt is zero.
	NoIdPSession bool `json:"no_idp_session,omitempty"`
}

// Applies reports whether the policy limits the registered user's
// session: true unless the daemon said it cannot match them.
func (p PolicyExpiry) Applies() bool { return p.AppliesToUser == nil || *p.AppliesToUser }

// AccessExpiry is the Access device session's deadline (S9).
type AccessExpiry struct {
	Duration  string    `json:"duration"`
	ExpiresAt time.Time `json:"expires_at"`
}

// Session answers GET /v1/session: the per-policy expiry map.
type Session struct {
	AuthTime   time.Time      `json:"auth_time"`
	ServerTime time.Time      `json:"server_time"`
	Gateway    []PolicyExpiry `json:"gateway"`
	Access     *AccessExpiry  `json:"access"`
}

// AuthURL answers POST /v1/registration and POST /v1/reauth: the URL the
// user opens in a browser.
type AuthURL struct {
	AuthURL string `json:"auth_url"`
	// TeamDomain is the team domain (origin) the URL must be on.
	TeamDomain string `json:"team_domain,omitempty"`
	// UserCode and VerificationURI are set for the device flow: the
	// person opens VerificationURI on any machine and enters UserCode
	// (AuthURL is VerificationURI with the code filled in).
	UserCode        string `json:"user_code,omitempty"`
	VerificationURI string `json:"verification_uri,omitempty"`
	// Enrolled is set when the registration completed at once, with the
	// MDM file's service token (root's `agentctl register`): there is no
	// URL to open.
	Enrolled bool `json:"enrolled,omitempty"`
}

// DeviceRevoked is the data of a device_revoked event: the registration
// ended at the edge, and what to do.
type DeviceRevoked struct {
	DeviceID string `json:"device_id"`
	Message  string `json:"message"`
}

// ReauthRequest is the body of POST /v1/reauth (it may be empty).
type ReauthRequest struct {
	// DeviceCode re-authenticates with the device flow (RFC 8628): the
	// answer carries UserCode and VerificationURI, and agentd polls the
	// edge until the device's user has signed in anywhere.
	DeviceCode bool `json:"device_code,omitempty"`
}

// RegisterRequest is the body of POST /v1/registration.
type RegisterRequest struct {
	// Team is the team name; empty uses the configured one.
	Team string `json:"team,omitempty"`
	// DeviceCode asks for the device authorization flow (RFC 8628): the
	// person signs in with a browser on any machine and types a code,
	// instead of finishing at agentd's loopback callback.
	DeviceCode bool `json:"device_code,omitempty"`
}

// Settings answers GET /v1/settings and is the body of PATCH /v1/settings
// (fields left empty are not changed).
type Settings struct {
	Mode      string `json:"mode,omitempty"`
	ProxyAddr string `json:"proxy_addr,omitempty"`
}

// Permissions answers GET /v1/permissions: what the caller may do now, by
// the permission table and the organization's settings, so that a
// front-end offers exactly those actions and never guesses.
type Permissions struct {
	UID int `json:"uid"`
	// Root reports whether the caller is the superuser; Operator whether
	// they registered the device.
	Root     bool `json:"root"`
	Operator bool `json:"operator"`
	// Actions lists every state-changing route with its verdict.
	Actions []Permission `json:"actions"`
}

// Permission is one route's verdict for the caller.
type Permission struct {
	// Command is the agentctl command that calls the route, such as
	// "agentctl disconnect": a front-end's name for the action.
	Command string `json:"command"`
	Method  string `json:"method"`
	Path    string `json:"path"`
	Allowed bool   `json:"allowed"`
	// Code, Message and Hint say why not, as the route would refuse.
	Code    string `json:"code,omitempty"`
	Message string `json:"message,omitempty"`
	Hint    string `json:"hint,omitempty"`
}

// Allows reports whether the caller may run command (as named in
// Permission.Command); an action the daemon did not list is not allowed.
func (p Permissions) Allows(command string) bool {
	for _, a := range p.Actions {
		if a.Command == command {
			return a.Allowed
		}
	}
	return false
}

// Event types on GET /v1/events.
const (
	EventSnapshot         = "snapshot"
	EventStateChanged     = "state_changed"
	EventBrowseToURL      = "browse_to_url"
	EventSessionExpired   = "session_expired"
	EventSessionRefreshed = "session_refreshed"
	EventExpiryWarning    = "expiry_warning"
	EventDeviceRevoked    = "device_revoked"
	EventTunnelUp         = "tunnel_up"
	EventTunnelDown       = "tunnel_down"
	EventError            = "error"
	// EventHeartbeat carries no data: the daemon sends it on a quiet stream
	// so that a subscriber that stopped reading is found and dropped.
	// Clients skip it (pkg/ipc's EventStream never returns one).
	EventHeartbeat = "heartbeat"
)

// Event is one line of the NDJSON event stream. The first line of every
// stream is a snapshot whose Data is a Status.
type Event struct {
	Type string          `json:"type"`
	Time time.Time       `json:"time"`
	Data json.RawMessage `json:"data,omitempty"`
}

// StateChanged is the data of state_changed.
type StateChanged struct {
	From    State  `json:"from"`
	To      State  `json:"to"`
	Message string `json:"message,omitempty"`
}

// BrowseToURL is the data of browse_to_url: a URL, already validated (SEC4),
// that a front-end opens once. Reason is "register", "reauth" or
// "session_expired".
type BrowseToURL struct {
	URL    string `json:"url"`
	Reason string `json:"reason"`
}

// SessionExpired is the data of session_expired.
type SessionExpired struct {
	PolicyID   string `json:"policy_id"`
	PolicyName string `json:"policy_name"`
	Filter     string `json:"filter"`
}

// SessionRefreshed is the data of session_refreshed.
type SessionRefreshed struct {
	AuthTime time.Time `json:"auth_time"`
	Groups   []string  `json:"groups"`
}

// ExpiryWarning is the data of expiry_warning.
type ExpiryWarning struct {
	PolicyName string    `json:"policy_name"`
	ExpiresAt  time.Time `json:"expires_at"`
}

// ErrorEvent is the data of an error event.
type ErrorEvent struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Error codes of the IPC's refusals, answered as
// {"error":{"code","message","hint"}} (an apierror.Body); the server picks
// the HTTP status from the code (ipc.StatusOf).
const (
	CodePermissionDenied   = "permission_denied"
	CodeBadRequest         = "bad_request"
	CodeNotFound           = "not_found"
	CodeConflict           = "conflict"
	CodeNotRegistered      = "not_registered"
	CodeAlreadyRegistered  = "already_registered"
	CodeOtherUser          = "device_registered_to_other_user"
	CodeNotAllowedToLeave  = "not_allowed_to_leave"
	CodeKeyringUnavailable = "keyring_unavailable"
	CodeEdgeUnreachable    = "edge_unreachable"
	CodeForbiddenOrigin    = "forbidden_origin"
	CodeTooManyClients     = "too_many_clients"
	CodeInternal           = "internal"
	CodeMethodNotAllowed   = "method_not_allowed"
	CodeBodyTooLarge       = "body_too_large"
	CodeShuttingDown       = "shutting_down"
	CodeUnsafeURL          = "unsafe_url"
	CodeTunnelFailed       = "tunnel_failed"
	CodeStateNotSaved      = "state_not_saved"
	// CodeSwitchLocked refuses a disconnect the MDM file's switch_locked
	// forbids.
	CodeSwitchLocked = "switch_locked"
)

// MaxBodyBytes bounds every request body (SEC3).
const MaxBodyBytes = 64 << 10

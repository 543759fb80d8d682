// Package controlapi serves the control API devices talk to (DESIGN §5):
// team lookup, registration with an enrollment code, the device's own
// record, leaving, its resumable event stream, and the session and explain
// views the Gateway computes.
package controlapi

import (
	"context"
	"net/http"
	"net/netip"
	"time"

	"go.uber.org/zap"

	"github.com/ztagent/ztagent/internal/clock"
	"github.com/ztagent/ztagent/pkg/control"
	"github.com/ztagent/ztagent/pkg/edge/internal/httpapi"
	"github.com/ztagent/ztagent/pkg/edge/registry"
)

// Login is the identity an enrollment code stands for: who signed in at
// the team domain, and when the IdP authenticated them.
type Login struct {
	Email    string
	Name     string
	Groups   []string
	AuthTime time.Time
	// IdPID is the identity provider the person signed in with, and
	// Claims its configured claims; the device records both.
	IdPID  string
	Claims []string
	// IdP is that provider's type and prompt, as the device is told; the
	// team's default when zero.
	IdP control.IdP
	// ServiceToken is set when no person signed in: the device presented
	// this Access service token. Email is then the team's non-identity
	// address and AuthTime zero.
	ServiceToken *control.ServiceTokenInfo
}

// ServiceTokens checks the Access service tokens devices enroll with
// (Cloudflare's MDM auth_client_id and auth_client_secret): EnrollWith
// returns the login a valid token, admitted by the device enrollment
// permissions, stands for. Refusals are *apierror.Error.
type ServiceTokens interface {
	EnrollWith(ctx context.Context, clientID, clientSecret string) (Login, error)
}

// Enroller redeems the one-time codes the team domain hands to agents at
// the end of enrollment. Refusals (*apierror.Error) are answered with
// their code; a wrong verifier must burn the code.
type Enroller interface {
	RedeemEnrollment(ctx context.Context, code, codeVerifier string) (Login, error)
}

// DeviceFlow is the team domain's device authorization flow (RFC 8628),
// which the control API offers agents. Refusals are *apierror.Error with
// the RFC's codes (authorization_pending, slow_down, …).
type DeviceFlow interface {
	StartDevice(req control.DeviceCodeRequest) (control.DevicePair, error)
	// StartDeviceReauth is StartDevice for re-authenticating a registered
	// device: only its user (email) signing in with its IdP (idpID, ""
	// for any) completes it, and the poll then reports the new auth_time.
	StartDeviceReauth(req control.DeviceCodeRequest, deviceID, email, idpID string) (control.DevicePair, error)
	PollDevice(req control.DeviceTokenRequest) (control.DeviceToken, error)
}

// Peers keeps the edge's WireGuard peers in step with the registry: Add
// installs (or replaces, after a re-registration) the device's peer, Remove
// takes it away so that its new flows stop.
type Peers interface {
	Add(d registry.Device) error
	Remove(d registry.Device) error
}

// Decisions is the Gateway's view of a device: its per-policy session
// expiry map and the decision trace of a hypothetical flow. Both results
// are marshalled as JSON.
type Decisions interface {
	Session(ctx context.Context, deviceID string) (any, error)
	Explain(ctx context.Context, deviceID, dst, proto string) (any, error)
}

// Settings is what the current configuration says about the team; it
// changes on reload.
type Settings struct {
	Team               control.Team
	RefreshIdentityURL string
	// NameIdP is set when the organization has several identity
	// providers: a device's refresh-identity URL then names the one it
	// enrolled with (access.ParamIdP), so that its user re-authenticates
	// there.
	NameIdP bool
	// Tunnel holds everything but the device's addresses.
	Tunnel control.Tunnel
}

// Options configures New. Registry, Enroller, Peers and Settings are
// required.
type Options struct {
	Registry *registry.Registry
	Enroller Enroller
	Peers    Peers
	// Settings returns the configuration in force; it is called per request.
	Settings func() Settings
	// Decisions answers /session and /explain; nil answers them with 501.
	Decisions Decisions
	// Devices, when set, serves POST /v1/device/code and /v1/device/token.
	Devices DeviceFlow
	// ServiceTokens, when set, lets devices register with a service token;
	// without it such a registration is refused.
	ServiceTokens ServiceTokens
	// MayEnroll, when set, is asked before a redeemed enrollment registers
	// a device (the device enrollment permissions, which a reload may have
	// changed since the person signed in); its refusal is answered 403
	// enrollment_not_permitted with the error's message.
	MayEnroll func(Login) error
	// AllowedToLeave reports whether the device profile in force for a
	// device lets its user remove it (S13), and names the profile ("" for
	// the default one). Nil allows every device to leave.
	AllowedToLeave func(registry.Device) (allowed bool, profile string)
	// Clock is the edge's (simulated) time, for server_time.
	Clock  clock.Clock
	Logger *zap.Logger
	// WriteTimeout bounds each write of the event stream, so that a client
	// that stops reading is dropped; default 10s.
	WriteTimeout time.Duration
	// Heartbeat is how often an idle event stream carries a blank line;
	// default 20s.
	Heartbeat time.Duration
}

// Server is the control API's HTTP handler.
type Server struct {
	opts Options
	log  *zap.Logger
	mux  *http.ServeMux
}

// New returns the control API handler.
func New(opts Options) *Server {
	if opts.Clock == nil {
		opts.Clock = clock.Real()
	}
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = 10 * time.Second
	}
	if opts.Heartbeat <= 0 {
		opts.Heartbeat = 20 * time.Second
	}
	s := &Server{opts: opts, log: opts.Logger, mux: http.NewServeMux()}
	s.mux.HandleFunc("GET /v1/teams/{name}", s.team)
	s.mux.HandleFunc("POST /v1/registrations", s.register)
	s.mux.HandleFunc("POST /v1/device/code", s.deviceCode)
	s.mux.HandleFunc("POST /v1/device/token", s.deviceToken)
	s.mux.HandleFunc("POST /v1/registrations/{id}/device/code", s.device(s.deviceReauthCode))
	s.mux.HandleFunc("GET /v1/registrations/{id}", s.device(s.getDevice))
	s.mux.HandleFunc("DELETE /v1/registrations/{id}", s.device(s.leave))
	s.mux.HandleFunc("GET /v1/registrations/{id}/events", s.events)
	s.mux.HandleFunc("GET /v1/registrations/{id}/session", s.device(s.session))
	s.mux.HandleFunc("GET /v1/registrations/{id}/explain", s.device(s.explain))
	return s
}

// ServeHTTP serves the control API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	httpapi.Versioned(httpapi.Routed(s.mux)).ServeHTTP(w, r)
}

func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	httpapi.WriteError(w, s.log, r, err)
}

func (s *Server) team(w http.ResponseWriter, r *http.Request) {
	st := s.opts.Settings()
	if r.PathValue("name") != st.Team.Name {
		s.fail(w, r, httpapi.Errorf(http.StatusNotFound, control.CodeUnknownTeam,
			"check the team name your administrator gave you",
			"there is no team %q at this edge", r.PathValue("name")))
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, st.Team)
}

// device authenticates the bearer token and checks that it belongs to the
// device named in the path before calling h.
func (s *Server) device(h func(http.ResponseWriter, *http.Request, registry.Device)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		d, err := s.authenticate(r)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		h(w, r, d)
	}
}

func (s *Server) authenticate(r *http.Request) (registry.Device, error) {
	token, err := httpapi.BearerToken(r)
	if err != nil {
		return registry.Device{}, err
	}
	d, err := s.opts.Registry.Authenticate(r.Context(), token)
	if err != nil {
		return registry.Device{}, err
	}
	if d.ID != r.PathValue("id") {
		return registry.Device{}, httpapi.Errorf(http.StatusForbidden, control.CodeForbidden,
			"use the device ID returned with this token", "this token belongs to another device")
	}
	return d, nil
}

func (s *Server) getDevice(w http.ResponseWriter, _ *http.Request, d registry.Device) {
	httpapi.WriteJSON(w, http.StatusOK, DeviceJSON(d, s.opts.Clock.Now()))
}

func (s *Server) leave(w http.ResponseWriter, r *http.Request, d registry.Device) {
	allowed, profile := true, ""
	if s.opts.AllowedToLeave != nil {
		allowed, profile = s.opts.AllowedToLeave(d)
	}
	if !allowed && profile != "" {
		s.fail(w, r, httpapi.Errorf(http.StatusForbidden, registry.CodeNotAllowedLeave, "ask an administrator to revoke the device",
			"the device profile %q, which applies to this device, does not allow users to leave on their own", profile))
		return
	}
	left, err := s.opts.Registry.Leave(r.Context(), d.ID, allowed)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.opts.Peers.Remove(left); err != nil {
		s.log.Error("removing the WireGuard peer of a device that left", zap.String("device", d.ID), zap.Error(err))
	}
	s.audit(r.Context(), "device_left", left.UserEmail, left.ID, map[string]any{"user": left.UserEmail})
	s.log.Info("device left", zap.String("device", d.ID), zap.String("user", d.UserEmail))
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) session(w http.ResponseWriter, r *http.Request, d registry.Device) {
	if s.opts.Decisions == nil {
		s.fail(w, r, notImplemented())
		return
	}
	v, err := s.opts.Decisions.Session(r.Context(), d.ID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, v)
}

func (s *Server) explain(w http.ResponseWriter, r *http.Request, d registry.Device) {
	if s.opts.Decisions == nil {
		s.fail(w, r, notImplemented())
		return
	}
	q := r.URL.Query()
	dst, proto := q.Get("dst"), q.Get("proto")
	if dst == "" {
		s.fail(w, r, httpapi.Errorf(http.StatusBadRequest, control.CodeBadRequest,
			"pass ?dst=host:port&proto=tcp", "dst is missing"))
		return
	}
	if proto == "" {
		proto = "tcp"
	}
	v, err := s.opts.Decisions.Explain(r.Context(), d.ID, dst, proto)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, v)
}

func notImplemented() error {
	return httpapi.Errorf(http.StatusNotImplemented, control.CodeNotImplemented,
		"this edge runs without a Gateway", "the edge has no Gateway to answer this")
}

// audit records an entry; a failure is logged, never returned, since the
// action it records already happened.
func (s *Server) audit(ctx context.Context, kind, actor, deviceID string, detail any) {
	if _, err := s.opts.Registry.Audit(ctx, kind, actor, deviceID, detail); err != nil {
		s.log.Error("writing the audit log", zap.String("kind", kind), zap.Error(err))
	}
}

// DeviceJSON returns d as the API shows it.
func DeviceJSON(d registry.Device, now time.Time) control.Device {
	return control.Device{
		ID:           d.ID,
		Name:         d.Name,
		OS:           d.OS,
		Fingerprint:  d.Fingerprint,
		User:         control.User{Email: d.UserEmail, Name: d.UserName, Groups: nonNil(d.Groups)},
		AuthTime:     d.AuthTime,
		WGPublicKey:  d.WGPublicKey,
		Addresses:    prefixStrings(d.Addresses),
		State:        string(d.State),
		RegisteredAt: d.RegisteredAt,
		ServerTime:   now,
	}
}

func prefixStrings(ps []netip.Prefix) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return out
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

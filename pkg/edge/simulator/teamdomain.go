package simulator

import (
	"context"
	"net"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/ztagent/ztagent/pkg/control"
	"github.com/ztagent/ztagent/pkg/edge/access"
	"github.com/ztagent/ztagent/pkg/edge/controlapi"
	"github.com/ztagent/ztagent/pkg/edge/registry"
)

// callbackPath is where the IdP sends the team domain's logins back.
const callbackPath = access.PathCallback

// teamDomain is the Access team domain as the simulator wires it: the
// control API redeems its enrollment codes, and every IdP login through it
// resets the user's devices' sessions (S2).
type teamDomain struct {
	*access.TeamDomain
}

func (s *Simulator) startTeamDomain(cfg *config) error {
	td, err := access.New(access.Options{
		TeamName:    cfg.sim.Team,
		PublicURL:   cfg.sim.TeamDomainURL(),
		IdP:         accessIdP(cfg),
		MoreIdPs:    cfg.external,
		AppDomains:  appDomains(cfg),
		HTTPClient:  loopbackClient(cfg.loopbackAddrs()),
		Clock:       s.clock,
		Logger:      s.log.Named("access"),
		OnLogin:     s.onLogin,
		Audit:       s.auditAccess,
		Permissions: permissions{s},
	})
	if err != nil {
		return err
	}
	s.team = &teamDomain{td}
	return nil
}

func accessIdP(cfg *config) access.IdP {
	p := cfg.sim.IdP.Provider
	return access.IdP{
		ID:           p.ID,
		Name:         p.Name,
		Type:         p.Type,
		Issuer:       cfg.sim.IdPURL(),
		ClientID:     cfg.clientID(),
		ClientSecret: p.Config.ClientSecret,
		Scopes:       p.Config.Scopes,
		Prompt:       p.Config.Prompt,
	}
}

func appDomains(cfg *config) []string {
	var out []string
	for _, app := range cfg.tf.AccessApplications {
		out = append(out, app.Hostnames()...)
	}
	return out
}

// prepare checks what a reload would change, with a throwaway team domain
// (New validates everything and contacts nobody), and returns the function
// that applies it, which then cannot fail.
func (t *teamDomain) prepare(cfg *config) (func(), error) {
	idp, apps := accessIdP(cfg), appDomains(cfg)
	if _, err := access.New(access.Options{TeamName: cfg.sim.Team, PublicURL: cfg.sim.TeamDomainURL(), IdP: idp, MoreIdPs: cfg.external, AppDomains: apps}); err != nil {
		return nil, err
	}
	return func() {
		_ = t.SetIdPs(idp, cfg.external)
		_ = t.SetAppDomains(apps)
	}, nil
}

// RedeemEnrollment redeems an enrollment code for the control API.
func (t *teamDomain) RedeemEnrollment(ctx context.Context, code, verifier string) (controlapi.Login, error) {
	l, err := t.TeamDomain.RedeemEnrollment(ctx, code, verifier)
	if err != nil {
		return controlapi.Login{}, err
	}
	return controlapi.Login{Email: l.Email, Name: l.Name, Groups: l.Groups, AuthTime: l.AuthenticatedAt, IdPID: l.IdPID, Claims: l.Claims,
		IdP: control.IdP{Type: l.IdPType, Prompt: l.Prompt}}, nil
}

// Close releases nothing today: the team domain starts no goroutines.
func (t *teamDomain) Close() error { return nil }

// onLogin applies S2 and S12: every active device of the user gets the new
// session start and groups, and a session_refreshed event. The session
// starts at this authentication (AuthenticatedAt), not at the IdP's
// auth_time, which a silent single sign-on leaves at the original password
// entry: the product resets the session on every re-authentication.
func (s *Simulator) onLogin(ctx context.Context, l access.Login) error {
	devs, err := s.reg.RefreshFrom(ctx, registry.Auth{Email: l.Email, IdPID: l.IdPID, AuthTime: l.AuthenticatedAt, Groups: l.Groups, Claims: l.Claims})
	if err != nil {
		s.log.Error("resetting the session of the user's devices", zap.String("user", l.Email), zap.Error(err))
		return errSessionNotReset
	}
	s.gateway.ids.forget()
	s.log.Info("user authenticated", zap.String("user", l.Email), zap.String("via", string(l.Trigger)),
		zap.Time("auth_time", l.AuthenticatedAt), zap.Time("idp_auth_time", l.AuthTime), zap.Int("devices_refreshed", len(devs)))
	return nil
}

type userError string

func (e userError) Error() string { return string(e) }

const errSessionNotReset = userError("the edge could not record your sign-in; try again in a moment, and tell your administrator if it keeps failing")

func (s *Simulator) auditAccess(ev access.AuditEvent) {
	detail := map[string]any{"trigger": ev.Trigger, "prompt": ev.Prompt}
	if !ev.AuthTime.IsZero() {
		detail["auth_time"] = ev.AuthTime
	}
	if !ev.IdPAuthTime.IsZero() {
		detail["idp_auth_time"] = ev.IdPAuthTime
	}
	if ev.Reason != "" {
		detail["reason"] = ev.Reason
	}
	if _, err := s.reg.Audit(context.Background(), "access_"+ev.Type, ev.User, "", detail); err != nil {
		s.log.Error("writing the audit log", zap.Error(err))
	}
}

// loopbackClient returns an HTTP client whose dialer sends the given
// host:port names (acme.localhost:8781, idp.localhost:8782) to their
// loopback listeners: Go's resolver does not resolve *.localhost.
func loopbackClient(addrs map[string]string) *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if a, ok := addrs[addr]; ok {
			addr = a
		}
		return d.DialContext(ctx, network, addr)
	}
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

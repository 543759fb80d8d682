package controlapi

import (
	"net/http"
	"net/url"

	"go.uber.org/zap"

	"github.com/ztagent/ztagent/internal/secret"
	"github.com/ztagent/ztagent/internal/wgkey"
	"github.com/ztagent/ztagent/pkg/control"
	"github.com/ztagent/ztagent/pkg/edge/internal/httpapi"
	"github.com/ztagent/ztagent/pkg/edge/registry"
)

// maxField bounds the free-text fields a device sends about itself.
const maxField = 256

func (s *Server) register(w http.ResponseWriter, r *http.Request) {
	var req control.RegisterRequest
	if err := httpapi.DecodeJSON(w, r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := validateRegisterRequest(req); err != nil {
		s.fail(w, r, err)
		return
	}
	login, err := s.redeem(r, req)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if s.opts.MayEnroll != nil && login.ServiceToken == nil {
		if err := s.opts.MayEnroll(login); err != nil {
			s.audit(r.Context(), "registration_refused", login.Email, "", map[string]any{
				"user": login.Email, "fingerprint": req.DeviceFingerprint, "reason": control.CodeEnrollmentNotPermitted,
			})
			s.fail(w, r, httpapi.Errorf(http.StatusForbidden, control.CodeEnrollmentNotPermitted,
				"ask your administrator to add you to the device enrollment permissions (the type \"warp\" Access application)", "%s", err.Error()))
			return
		}
	}
	dev, token, err := s.opts.Registry.Register(r.Context(), registry.Registration{
		Fingerprint:    req.DeviceFingerprint,
		UserEmail:      login.Email,
		UserName:       login.Name,
		Name:           req.Name,
		OS:             req.OS,
		Groups:         login.Groups,
		AuthTime:       login.AuthTime,
		WGPublicKey:    req.WGPublicKey,
		IdPID:          login.IdPID,
		Claims:         login.Claims,
		ServiceTokenID: serviceTokenID(login),
	})
	if err != nil {
		s.audit(r.Context(), "registration_refused", login.Email, "", map[string]any{
			"user": login.Email, "fingerprint": req.DeviceFingerprint, "reason": httpapi.Classify(err).Code,
		})
		s.fail(w, r, err)
		return
	}
	if err := s.opts.Peers.Add(dev); err != nil {
		s.fail(w, r, err)
		return
	}
	detail := map[string]any{
		"user": login.Email, "name": dev.Name, "os": dev.OS, "auth_time": dev.AuthTime,
		"wg_public_key": dev.WGPublicKey, "addresses": prefixStrings(dev.Addresses),
	}
	if t := login.ServiceToken; t != nil {
		detail["service_token"], detail["service_token_id"] = t.Name, t.ID
	}
	s.audit(r.Context(), "registration", login.Email, dev.ID, detail)
	s.log.Info("device registered", zap.String("device", dev.ID), zap.String("user", dev.UserEmail))

	st := s.opts.Settings()
	tun := st.Tunnel
	tun.Addresses = prefixStrings(dev.Addresses)
	idp := idpOf(login, st)
	if login.ServiceToken != nil {
		idp = control.IdP{} // no one signs in on it
	}
	httpapi.WriteJSON(w, http.StatusCreated, control.Registration{
		DeviceID:     dev.ID,
		DeviceToken:  token.Reveal(),
		User:         control.User{Email: dev.UserEmail, Name: dev.UserName, Groups: nonNil(dev.Groups)},
		IdP:          idp,
		ServiceToken: login.ServiceToken,
		AuthTime:     dev.AuthTime,
		ServerTime:   s.opts.Clock.Now(),
		Team: control.TeamInfo{
			Name:               st.Team.Name,
			Domain:             st.Team.Domain,
			RefreshIdentityURL: st.refreshIdentityURL(dev),
		},
		Tunnel: tun,
	})
}

// redeem turns the request's credentials into the login it stands for: an
// enrollment code and its verifier, or a service token.
func (s *Server) redeem(r *http.Request, req control.RegisterRequest) (Login, error) {
	if t := req.ServiceToken; t != nil {
		if s.opts.ServiceTokens == nil {
			return Login{}, httpapi.Errorf(http.StatusForbidden, control.CodeInvalidServiceToken,
				"enroll with `agentctl register` instead", "this edge does not enroll devices with service tokens")
		}
		// Not remembered by the scrubber: a stranger could send thousands.
		sec := secret.Wrap(t.ClientSecret)
		login, err := s.opts.ServiceTokens.EnrollWith(r.Context(), t.ClientID, sec.Reveal())
		if err != nil {
			s.audit(r.Context(), "registration_refused", "service token "+t.ClientID, "", map[string]any{
				"client_id": t.ClientID, "fingerprint": req.DeviceFingerprint, "reason": httpapi.Classify(err).Code,
			})
		}
		return login, err
	}
	// The code and verifier are credentials; they are not registered with
	// the scrubber, though: a stranger could send thousands (the team
	// domain registers the codes it makes).
	code, verifier := secret.Wrap(req.Code), secret.Wrap(req.CodeVerifier)
	return s.opts.Enroller.RedeemEnrollment(r.Context(), code.Reveal(), verifier.Reveal())
}

func serviceTokenID(l Login) string {
	if l.ServiceToken == nil {
		return ""
	}
	return l.ServiceToken.ID
}

func validateRegisterRequest(req control.RegisterRequest) error {
	bad := func(format string, args ...any) error {
		return httpapi.Errorf(http.StatusBadRequest, control.CodeBadRequest,
			"send code and code_verifier (or service_token), wg_public_key, device_fingerprint, name and os as docs/CONTROL-API.md describes", format, args...)
	}
	if t := req.ServiceToken; t != nil {
		switch {
		case req.Code != "" || req.CodeVerifier != "":
			return bad("send either service_token or code and code_verifier, not both")
		case t.ClientID == "" || t.ClientSecret == "":
			return bad("service_token needs client_id and client_secret (the MDM file's auth_client_id and auth_client_secret)")
		case len(t.ClientID) > maxField || len(t.ClientSecret) > maxField:
			return bad("service_token's client_id and client_secret must each be at most %d bytes", maxField)
		}
	} else {
		switch {
		case req.Code == "":
			return bad("code is missing: pass the code the team domain sent to the enrollment callback")
		case req.CodeVerifier == "":
			return bad("code_verifier is missing: pass the PKCE verifier of the enrollment")
		}
	}
	switch {
	case req.WGPublicKey == "":
		return bad("wg_public_key is missing")
	case req.DeviceFingerprint == "":
		return bad("device_fingerprint is missing")
	case len(req.DeviceFingerprint) > maxField || len(req.Name) > maxField || len(req.OS) > maxField:
		return bad("device_fingerprint, name and os must each be at most %d bytes", maxField)
	}
	if _, err := wgkey.ParsePublic(req.WGPublicKey); err != nil {
		return bad("wg_public_key is not a WireGuard key (32 bytes, base64 as wg(8) prints it): %v", err)
	}
	return nil
}

// refreshIdentityURL is the refresh-identity URL of dev: naming its IdP
// when the organization has several.
func (st Settings) refreshIdentityURL(dev registry.Device) string {
	if !st.NameIdP || dev.IdPID == "" {
		return st.RefreshIdentityURL
	}
	return st.RefreshIdentityURL + "?idp=" + url.QueryEscape(dev.IdPID)
}

// idpOf is the identity provider a registration tells the device about:
// the one its user signed in with, else the team's default.
func idpOf(login Login, st Settings) control.IdP {
	if login.IdP.Type != "" {
		return login.IdP
	}
	return st.Team.IdP
}

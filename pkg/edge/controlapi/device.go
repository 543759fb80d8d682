package controlapi

import (
	"net/http"

	"github.com/ztagent/ztagent/internal/secret"
	"github.com/ztagent/ztagent/pkg/control"
	"github.com/ztagent/ztagent/pkg/edge/internal/httpapi"
	"github.com/ztagent/ztagent/pkg/edge/registry"
)

func (s *Server) deviceCode(w http.ResponseWriter, r *http.Request) {
	if s.opts.Devices == nil {
		s.fail(w, r, notImplemented())
		return
	}
	var req control.DeviceCodeRequest
	if err := httpapi.DecodeJSON(w, r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	pair, err := s.opts.Devices.StartDevice(req)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	secret.New(pair.DeviceCode)
	httpapi.WriteJSON(w, http.StatusOK, pair)
}

// deviceReauthCode starts the device flow that re-authenticates device d
// (agentctl reauth --device-code).
func (s *Server) deviceReauthCode(w http.ResponseWriter, r *http.Request, d registry.Device) {
	if s.opts.Devices == nil {
		s.fail(w, r, notImplemented())
		return
	}
	if d.ServiceTokenID != "" {
		s.fail(w, r, httpapi.Errorf(http.StatusConflict, control.CodeBadRequest,
			"enroll the device with a user to have sessions", "this device enrolled with a service token: no one signs in on it, so there is nothing to re-authenticate"))
		return
	}
	var req control.DeviceCodeRequest
	if err := httpapi.DecodeJSON(w, r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	pair, err := s.opts.Devices.StartDeviceReauth(req, d.ID, d.UserEmail, d.IdPID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	secret.New(pair.DeviceCode)
	httpapi.WriteJSON(w, http.StatusOK, pair)
}

func (s *Server) deviceToken(w http.ResponseWriter, r *http.Request) {
	if s.opts.Devices == nil {
		s.fail(w, r, notImplemented())
		return
	}
	var req control.DeviceTokenRequest
	if err := httpapi.DecodeJSON(w, r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	// Credentials: never in a log line (the scrubber learns them here).
	secret.New(req.DeviceCode)
	secret.New(req.CodeVerifier)
	tok, err := s.opts.Devices.PollDevice(req)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, tok)
}

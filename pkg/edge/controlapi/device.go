package controlapi

import (
	"net/http"

	"github.com/ztagent/ztagent/internal/secret"
	"github.com/ztagent/ztagent/pkg/control"
	"github.com/ztagent/ztagent/pkg/edge/internal/httpapi"
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

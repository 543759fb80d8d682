// Package admin serves the edge simulator's admin API (DESIGN §5): the
// device list, revocation (S14), simulated time, configuration reload
// (REL7) and the audit log. Every route needs the admin token.
package admin

import (
	"context"
	"crypto/subtle"
	"net/http"
	"strconv"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/ztagent/ztagent/internal/clock"
	"github.com/ztagent/ztagent/internal/secret"
	"github.com/ztagent/ztagent/pkg/control"
	"github.com/ztagent/ztagent/pkg/edge/controlapi"
	"github.com/ztagent/ztagent/pkg/edge/internal/httpapi"
	"github.com/ztagent/ztagent/pkg/edge/registry"
)

// Options configures New. Registry, Token, Clock, Peers and Reload are
// required.
type Options struct {
	Registry *registry.Registry
	// Token is the admin bearer token.
	Token secret.Value
	// Clock is the simulated time the admin API advances.
	Clock *clock.Offset
	// Peers removes a revoked device's WireGuard peer.
	Peers controlapi.Peers
	// Reload loads the configuration again. On errors it keeps the old
	// one and returns the result with Errors set.
	Reload func(ctx context.Context) control.ReloadResult
	// SaveOffset, when set, stores the clock's new offset before the
	// clock moves. When it fails the clock stays where it was and the
	// caller gets a 500 with its message (which should name the file), so
	// that a full disk cannot make an advance look saved when a restart
	// would undo it.
	SaveOffset func(offset time.Duration) error
	// MaxOffset bounds how far the clock may be advanced in total;
	// DefaultMaxOffset when zero.
	MaxOffset time.Duration
	// OnClockAdvanced, when set, runs after each advance (the Gateway may
	// want to re-check expiry warnings).
	OnClockAdvanced func()
	Logger          *zap.Logger
}

// Server is the admin API's HTTP handler.
type Server struct {
	opts Options
	log  *zap.Logger
	mux  *http.ServeMux

	clockMu sync.Mutex // one advance at a time: check, save and move as one step
}

// New returns the admin API handler.
func New(opts Options) *Server {
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	if opts.MaxOffset <= 0 {
		opts.MaxOffset = DefaultMaxOffset
	}
	s := &Server{opts: opts, log: opts.Logger, mux: http.NewServeMux()}
	s.mux.HandleFunc("GET /admin/v1/devices", s.listDevices)
	s.mux.HandleFunc("DELETE /admin/v1/devices/{id}", s.revoke)
	s.mux.HandleFunc("POST /admin/v1/clock", s.advanceClock)
	s.mux.HandleFunc("GET /admin/v1/clock", s.getClock)
	s.mux.HandleFunc("POST /admin/v1/reload", s.reload)
	s.mux.HandleFunc("GET /admin/v1/audit", s.audit)
	return s
}

// ServeHTTP checks the admin token, then serves the admin API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set(control.VersionHeader, control.APIVersion)
	token, err := httpapi.BearerToken(r)
	if err == nil && subtle.ConstantTimeCompare([]byte(token.Reveal()), []byte(s.opts.Token.Reveal())) != 1 {
		err = httpapi.Errorf(http.StatusUnauthorized, control.CodeUnauthorized,
			"use the token in <state-dir>/admin.token (or the file given with --admin-token-file)",
			"the admin token is wrong")
	}
	if err != nil {
		httpapi.WriteError(w, s.log, r, err)
		return
	}
	httpapi.Routed(s.mux).ServeHTTP(w, r)
}

func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	httpapi.WriteError(w, s.log, r, err)
}

func (s *Server) listDevices(w http.ResponseWriter, r *http.Request) {
	devs, err := s.opts.Registry.List(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	now := s.opts.Clock.Now()
	out := make([]control.Device, len(devs))
	for i, d := range devs {
		out[i] = controlapi.DeviceJSON(d, now)
	}
	httpapi.WriteJSON(w, http.StatusOK, out)
}

func (s *Server) revoke(w http.ResponseWriter, r *http.Request) {
	d, err := s.opts.Registry.Revoke(r.Context(), r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.opts.Peers.Remove(d); err != nil {
		s.log.Error("removing a revoked device's WireGuard peer", zap.String("device", d.ID), zap.Error(err))
	}
	if _, err := s.opts.Registry.Audit(r.Context(), "device_revoked", "admin", d.ID, map[string]any{"user": d.UserEmail}); err != nil {
		s.log.Error("writing the audit log", zap.Error(err))
	}
	s.log.Info("device revoked", zap.String("device", d.ID), zap.String("user", d.UserEmail))
	httpapi.WriteJSON(w, http.StatusOK, controlapi.DeviceJSON(d, s.opts.Clock.Now()))
}

func (s *Server) reload(w http.ResponseWriter, r *http.Request) {
	res := s.opts.Reload(r.Context())
	status := http.StatusOK
	if !res.Reloaded {
		status = http.StatusUnprocessableEntity
	}
	httpapi.WriteJSON(w, status, res)
}

func (s *Server) audit(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	after, err := int64Param(q.Get("after"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	limit, err := int64Param(q.Get("limit"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	recs, err := s.opts.Registry.AuditAfter(r.Context(), after, int(limit))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	page := control.AuditPage{Records: make([]control.AuditRecord, len(recs)), Next: after}
	for i, rec := range recs {
		page.Records[i] = control.AuditRecord{Seq: rec.Seq, Time: rec.Time, Kind: rec.Kind, Actor: rec.Actor, DeviceID: rec.DeviceID, Detail: rec.Detail}
		page.Next = rec.Seq
	}
	httpapi.WriteJSON(w, http.StatusOK, page)
}

func int64Param(v string) (int64, error) {
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, httpapi.Errorf(http.StatusBadRequest, control.CodeBadRequest, "pass a non-negative integer", "%q is not a non-negative integer", v)
	}
	return n, nil
}

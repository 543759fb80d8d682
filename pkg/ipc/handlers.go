package ipc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/ztagent/ztagent/pkg/apierror"
	"github.com/ztagent/ztagent/pkg/ipc/ipcproto"
)

func (s *Server) handleStatus(w http.ResponseWriter, r *http.Request, _ Caller) {
	s.writeJSON(w, http.StatusOK, s.backend.Status(r.Context()))
}

func (s *Server) handlePermissions(w http.ResponseWriter, r *http.Request, c Caller) {
	var credErr error
	if info, ok := r.Context().Value(connInfoKey{}).(*connInfo); ok {
		credErr = info.credErr
	}
	s.writeJSON(w, http.StatusOK, s.permissionsFor(r.Context(), c, credErr))
}

func (s *Server) handleSession(w http.ResponseWriter, r *http.Request, _ Caller) {
	sess, err := s.backend.Session(r.Context())
	if err != nil {
		s.writeBackendError(w, r, err)
		return
	}
	s.writeJSON(w, http.StatusOK, sess)
}

func (s *Server) handleExplain(w http.ResponseWriter, r *http.Request, _ Caller) {
	q, e := decodeExplainQuery(r)
	if e != nil {
		s.writeError(w, e)
		return
	}
	trace, err := s.backend.Explain(r.Context(), q.Dst, q.Proto)
	if err != nil {
		s.writeBackendError(w, r, err)
		return
	}
	if !json.Valid(trace) {
		s.writeBackendError(w, r, errors.New("backend returned an explain trace that is not JSON"))
		return
	}
	s.writeRaw(w, http.StatusOK, trace)
}

func (s *Server) handleRegister(w http.ResponseWriter, r *http.Request, c Caller) {
	var req ipcproto.RegisterRequest
	if e := decodeBody(r, &req, decodeOptions{AllowEmpty: true}); e != nil {
		s.writeError(w, e)
		return
	}
	u, err := s.backend.Register(r.Context(), c, req)
	if err != nil {
		s.writeBackendError(w, r, err)
		return
	}
	s.writeJSON(w, http.StatusOK, u)
}

// handleLeave, handleConnect and handleDisconnect answer with the status
// after the change, so a front-end shows it without a second request.
func (s *Server) handleLeave(w http.ResponseWriter, r *http.Request, _ Caller) {
	s.statusAfter(w, r, s.backend.Leave)
}

func (s *Server) handleConnect(w http.ResponseWriter, r *http.Request, _ Caller) {
	s.statusAfter(w, r, s.backend.Connect)
}

func (s *Server) handleDisconnect(w http.ResponseWriter, r *http.Request, c Caller) {
	s.statusAfter(w, r, func(ctx context.Context) error { return s.backend.Disconnect(ctx, c) })
}

func (s *Server) statusAfter(w http.ResponseWriter, r *http.Request, do func(context.Context) error) {
	if err := do(r.Context()); err != nil {
		s.writeBackendError(w, r, err)
		return
	}
	s.writeJSON(w, http.StatusOK, s.backend.Status(r.Context()))
}

func (s *Server) handleReauth(w http.ResponseWriter, r *http.Request, _ Caller) {
	var req ipcproto.ReauthRequest
	if e := decodeBody(r, &req, decodeOptions{AllowEmpty: true}); e != nil {
		s.writeError(w, e)
		return
	}
	u, err := s.backend.Reauth(r.Context(), req)
	if err != nil {
		s.writeBackendError(w, r, err)
		return
	}
	s.writeJSON(w, http.StatusOK, u)
}

func (s *Server) handleSettings(w http.ResponseWriter, r *http.Request, _ Caller) {
	s.writeJSON(w, http.StatusOK, s.backend.Settings(r.Context()))
}

// handleSetSettings answers with the settings after the change.
func (s *Server) handleSetSettings(w http.ResponseWriter, r *http.Request, _ Caller) {
	var set ipcproto.Settings
	if e := decodeBody(r, &set, decodeOptions{}); e != nil {
		s.writeError(w, e)
		return
	}
	if e := validateSettings(set); e != nil {
		s.writeError(w, e)
		return
	}
	if err := s.backend.SetSettings(r.Context(), set); err != nil {
		s.writeBackendError(w, r, err)
		return
	}
	s.writeJSON(w, http.StatusOK, s.backend.Settings(r.Context()))
}

// handleEvents streams the snapshot and then the backend's events, one JSON
// object per line, with a heartbeat line when nothing happens for
// HeartbeatInterval, until the client leaves, the backend drops the
// subscription, a line cannot be written in time or the server closes.
func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request, c Caller) {
	sl, refused := s.subSlots.acquire(c.UID, s.privileged(c.UID))
	if refused != granted {
		msg, hint := refusalMessage(refused, "event streams", c.UID, s.opts.MaxSubscribersPerUser)
		s.writeError(w, &apierror.Error{
			Code: ipcproto.CodeTooManyClients, Message: msg, Hint: hint,
		})
		return
	}
	defer func() {
		s.subSlots.release(sl)
		if h := s.testHookStreamDone; h != nil {
			h()
		}
	}()
	if info, _ := r.Context().Value(connInfoKey{}).(*connInfo); info != nil {
		if uc, ok := info.conn.(*net.UnixConn); ok {
			// Best effort: without it a silent subscriber takes longer to
			// fill its socket, and the heartbeats still get it dropped.
			_ = uc.SetWriteBuffer(eventSendBuffer)
		}
	}

	snapshot, events, cancel := s.backend.Subscribe(c)
	defer cancel()

	rc := http.NewResponseController(w)
	// The stream lives longer than any request deadline; each line gets its
	// own write deadline instead (writeEvent). net/http already clears the
	// read deadline when it starts watching for the client to leave; clearing
	// it here keeps the stream from depending on that detail.
	if err := rc.SetReadDeadline(time.Time{}); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)

	data, err := json.Marshal(snapshot)
	if err != nil {
		s.log.Error("encode snapshot", zap.Error(err))
		return
	}
	first := ipcproto.Event{Type: ipcproto.EventSnapshot, Time: s.clock.Now(), Data: data}
	if !s.writeEvent(rc, w, first) {
		return
	}
	// The real clock, like the write deadlines the heartbeats exist for.
	heartbeat := time.NewTicker(s.opts.HeartbeatInterval)
	defer heartbeat.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-heartbeat.C:
			if !s.writeEvent(rc, w, ipcproto.Event{Type: ipcproto.EventHeartbeat, Time: s.clock.Now()}) {
				s.log.Debug("event subscriber does not read; dropped", zap.Int("uid", c.UID))
				return
			}
		case ev, ok := <-events:
			if !ok {
				s.log.Debug("event subscriber dropped by the agent")
				return
			}
			if !s.writeEvent(rc, w, ev) {
				s.log.Debug("event subscriber too slow or gone; dropped", zap.Int("uid", c.UID))
				return
			}
			heartbeat.Reset(s.opts.HeartbeatInterval)
		}
	}
}

// writeEvent writes one line within EventWriteTimeout and reports whether the
// subscriber took it.
func (s *Server) writeEvent(rc *http.ResponseController, w io.Writer, ev ipcproto.Event) bool {
	line, err := json.Marshal(ev)
	if err != nil {
		s.log.Error("encode event", zap.String("type", ev.Type), zap.Error(err))
		return false
	}
	line = append(line, '\n')
	if err := rc.SetWriteDeadline(time.Now().Add(s.opts.EventWriteTimeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return false
	}
	if _, err := w.Write(line); err != nil {
		return false
	}
	return rc.Flush() == nil
}

// explainQuery is the query of GET /v1/explain.
type explainQuery struct {
	Dst   string
	Proto string
}

func decodeExplainQuery(r *http.Request) (explainQuery, *apierror.Error) {
	q := r.URL.Query()
	out := explainQuery{Dst: q.Get("dst"), Proto: q.Get("proto")}
	if out.Proto == "" {
		out.Proto = "tcp"
	}
	if out.Proto != "tcp" && out.Proto != "udp" {
		return out, badRequest(fmt.Sprintf("proto must be tcp or udp, not %q", out.Proto), "")
	}
	host, port, err := net.SplitHostPort(out.Dst)
	if err != nil || host == "" {
		return out, badRequest("dst must be host:port", "for example `agentctl why wiki.acme.test:443`")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return out, badRequest("dst's port must be a number from 1 to 65535", "")
	}
	return out, nil
}

func validateSettings(set ipcproto.Settings) *apierror.Error {
	if set == (ipcproto.Settings{}) {
		return badRequest("no setting to change", "name mode or proxy_addr")
	}
	switch set.Mode {
	case "", "proxy", "tun":
	default:
		return badRequest(fmt.Sprintf("mode must be proxy or tun, not %q", set.Mode), "")
	}
	if set.ProxyAddr != "" {
		_, port, err := net.SplitHostPort(set.ProxyAddr)
		if n, perr := strconv.Atoi(port); err != nil || perr != nil || n < 1 || n > 65535 {
			return badRequest("proxy_addr must be host:port", "for example 127.0.0.1:40000")
		}
	}
	return nil
}

// decodeOptions configures decodeBody.
type decodeOptions struct {
	// AllowEmpty accepts a missing body as the zero value.
	AllowEmpty bool
}

// decodeBody decodes r's JSON body, bounded by MaxBodyBytes, into v: exactly
// one object, no unknown fields (a misspelt setting must not be silently
// ignored), nothing after it.
func decodeBody(r *http.Request, v any, opts decodeOptions) *apierror.Error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			return apierror.WithStatus(http.StatusUnsupportedMediaType, ipcproto.CodeBadRequest, "request body must be application/json", "")
		}
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return apierror.New(ipcproto.CodeBodyTooLarge, fmt.Sprintf("request body is larger than %d bytes", ipcproto.MaxBodyBytes), "")
		}
		return badRequest("could not read the request body", "")
	}
	if len(body) == 0 {
		if opts.AllowEmpty {
			return nil
		}
		return badRequest("request body is empty", "send a JSON object")
	}
	return decodeJSONObject(body, v)
}

// decodeJSONObject is the pure part of decodeBody, which the fuzz target
// drives through whole requests.
func decodeJSONObject(body []byte, v any) *apierror.Error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badRequest("request body is not the expected JSON object: "+jsonErrorText(err), "")
	}
	if _, err := dec.Token(); err != io.EOF {
		return badRequest("request body has data after the JSON object", "")
	}
	return nil
}

// jsonErrorText keeps decoder messages short: they describe the caller's own
// input, but a long one is no help to a person.
func jsonErrorText(err error) string {
	const max = 200
	msg := err.Error()
	if len(msg) > max {
		msg = msg[:max] + "…"
	}
	return msg
}

func badRequest(msg, hint string) *apierror.Error {
	return &apierror.Error{
		Code: ipcproto.CodeBadRequest, Message: msg, Hint: hint,
	}
}

// writeBackendError answers with a backend's refusal (*apierror.Error) as
// is; any other error is logged and answered with a generic message, since
// its text was not written for a person and could carry what the caller
// must not see.
func (s *Server) writeBackendError(w http.ResponseWriter, r *http.Request, err error) {
	var e *apierror.Error
	if errors.As(err, &e) {
		s.writeError(w, e)
		return
	}
	if s.ctx.Err() != nil {
		s.writeError(w, apierror.New(ipcproto.CodeShuttingDown, "agentd is shutting down", ""))
		return
	}
	if r.Context().Err() != nil {
		return // the caller left; nobody reads the answer
	}
	s.log.Error("backend error", zap.String("method", r.Method), zap.String("path", r.URL.Path), zap.Error(err))
	s.writeError(w, apierror.New(ipcproto.CodeInternal, "agentd failed to handle the request", "agentd's log has the details"))
}

// writeError answers with e under "error", with e's own status or, when it
// has none (the usual way), the status of its code.
func (s *Server) writeError(w http.ResponseWriter, e *apierror.Error) {
	body := *e
	if body.Code == "" {
		body.Code = ipcproto.CodeInternal
	}
	status := body.Status
	if status < 400 || status > 599 {
		status = StatusOf(body.Code)
	}
	s.writeJSON(w, status, apierror.Body{Error: body})
}

func (s *Server) writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		s.log.Error("encode response", zap.Error(err))
		status = http.StatusInternalServerError
		b = []byte(`{"error":{"code":"internal","message":"agentd could not encode its answer"}}`)
	}
	s.writeRaw(w, status, b)
}

func (s *Server) writeRaw(w http.ResponseWriter, status int, b []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	// Two writes, not append: b may be the backend's slice.
	_, _ = w.Write(b)
	_, _ = w.Write([]byte{'\n'})
}

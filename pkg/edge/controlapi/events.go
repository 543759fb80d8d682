package controlapi

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/ztagent/ztagent/pkg/control"
	"github.com/ztagent/ztagent/pkg/edge/internal/httpapi"
	"github.com/ztagent/ztagent/pkg/edge/registry"
)

// events streams the device's events as NDJSON, starting after ?after=SEQ,
// until the client goes away, the registry closes or the device is revoked
// (the device_revoked event is the stream's last line). A client that
// reconnects with the last Seq it handled loses nothing and sees nothing
// twice, because every event is read back from the registry by sequence.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	d, err := s.authenticate(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	after := int64(0)
	if v := r.URL.Query().Get("after"); v != "" {
		after, err = strconv.ParseInt(v, 10, 64)
		if err != nil || after < 0 {
			s.fail(w, r, httpapi.Errorf(http.StatusBadRequest, control.CodeBadRequest,
				"pass the seq of the last event you handled, or 0", "after=%q is not a sequence number", v))
			return
		}
	}
	// Subscribe before reading, so that an event appended in between
	// wakes the loop instead of waiting for the next one.
	sub := s.opts.Registry.Subscribe(d.ID)
	defer sub.Close()

	// The server's ReadTimeout bounds a request that is slow to arrive;
	// this one has arrived and is meant to stay open, so lift it, or the
	// stream would end when it passes.
	rc := http.NewResponseController(w)
	if err := rc.SetReadDeadline(time.Time{}); err != nil {
		s.log.Debug("controlapi: cannot lift the read deadline of an event stream", zap.Error(err))
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	enc := json.NewEncoder(w)
	write := func(ev registry.Event) error {
		if err := rc.SetWriteDeadline(time.Now().Add(s.opts.WriteTimeout)); err != nil {
			return err
		}
		return enc.Encode(control.Event{Seq: ev.Seq, Type: ev.Type, Time: ev.Time, Payload: ev.Payload})
	}
	if rc.Flush() != nil {
		return
	}
	// A blank line now and then shows both ends that the connection is
	// alive; a half-open one fails its write deadline and ends here, and
	// the agent notices the silence (clients skip blank lines).
	heartbeat := time.NewTicker(s.opts.Heartbeat)
	defer heartbeat.Stop()
	for {
		evs, err := s.opts.Registry.After(r.Context(), d.ID, after, 0)
		if err != nil {
			return // the registry closed or the client left; the client resumes
		}
		for _, ev := range evs {
			if write(ev) != nil {
				return
			}
			after = ev.Seq
			if ev.Type == control.EventDeviceRevoked {
				_ = rc.Flush()
				return
			}
		}
		if rc.Flush() != nil {
			return
		}
		if len(evs) > 0 {
			continue // there may be another page
		}
		for woke := false; !woke; {
			select {
			case <-r.Context().Done():
				return
			case <-heartbeat.C:
				if rc.SetWriteDeadline(time.Now().Add(s.opts.WriteTimeout)) != nil {
					return
				}
				if _, err := w.Write([]byte("\n")); err != nil || rc.Flush() != nil {
					return
				}
			case _, ok := <-sub.C():
				if !ok {
					return
				}
				woke = true
			}
		}
	}
}

// Package fakecontrol is the fake of the control API's event stream that
// the agent's and the control client's tests share: one device's events
// served by sequence number as NDJSON, held open until cut, resumed after
// the after= the client sends, as the edge does (DESIGN §5).
package fakecontrol

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/ztagent/ztagent/pkg/apierror"
	"github.com/ztagent/ztagent/pkg/control"
)

// Events is one device's event stream: an http.Handler for
// GET /v1/registrations/{id}/events. The zero value is not usable; call
// NewEvents.
type Events struct {
	mu         sync.Mutex
	events     []control.Event
	wake, cut  chan struct{}
	afters     []int64
	failStatus int
	failCode   string
	// base is the last Seq of a registration that ended: no stream serves
	// it or anything before it (see Forget).
	base int64
}

// NewEvents returns an empty stream.
func NewEvents() *Events {
	return &Events{wake: make(chan struct{}), cut: make(chan struct{})}
}

// Append adds an event of type typ at time at, with payload marshalled as
// its JSON, to every open and later stream, and returns its Seq.
func (e *Events) Append(typ string, at time.Time, payload any) int64 {
	var raw json.RawMessage
	if payload != nil {
		raw, _ = json.Marshal(payload)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	seq := int64(len(e.events) + 1)
	e.events = append(e.events, control.Event{Seq: seq, Type: typ, Time: at, Payload: raw})
	close(e.wake)
	e.wake = make(chan struct{})
	return seq
}

// Forget starts the stream of a new registration: the events so far
// belonged to the one that ended (a revoked device registers again as a
// new device at the edge), so no stream serves them again, whatever its
// after=.
func (e *Events) Forget() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.base = int64(len(e.events))
}

// Cut ends every open stream, as an edge restart does.
func (e *Events) Cut() {
	e.mu.Lock()
	defer e.mu.Unlock()
	close(e.cut)
	e.cut = make(chan struct{})
}

// Fail makes every later request answer status with a refusal of code;
// a zero status serves again.
func (e *Events) Fail(status int, code string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.failStatus, e.failCode = status, code
}

// Afters returns the after= of each request so far, in order.
func (e *Events) Afters() []int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.afters)
}

// ServeHTTP serves the events after the request's after=, then holds the
// stream open until the client leaves, Cut, or a device_revoked event,
// after which the edge ends the stream.
func (e *Events) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	after, _ := strconv.ParseInt(r.URL.Query().Get("after"), 10, 64)
	e.mu.Lock()
	e.afters = append(e.afters, after)
	status, code, cut := e.failStatus, e.failCode, e.cut
	e.mu.Unlock()
	if status != 0 {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(apierror.Body{Error: apierror.Error{Code: code, Message: "refused"}})
		return
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	flush := func() {
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
	}
	flush()
	enc := json.NewEncoder(w)
	for {
		e.mu.Lock()
		evs, wake, base := slices.Clone(e.events), e.wake, e.base
		e.mu.Unlock()
		for _, ev := range evs {
			if ev.Seq <= after || ev.Seq <= base {
				continue
			}
			_ = enc.Encode(ev)
			after = ev.Seq
			if ev.Type == control.EventDeviceRevoked {
				flush()
				return
			}
		}
		flush()
		select {
		case <-r.Context().Done():
			return
		case <-cut:
			return
		case <-wake:
		}
	}
}

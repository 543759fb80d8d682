package registry

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/ztagent/ztagent/pkg/control"
)

// Event types of the per-device stream: the control API's, named once in
// pkg/control.
const (
	EventSessionExpired   = control.EventSessionExpired
	EventSessionRefreshed = control.EventSessionRefreshed
	EventDeviceRevoked    = control.EventDeviceRevoked
	EventPolicyChanged    = control.EventPolicyChanged
	EventClockChanged     = control.EventClockChanged
)

var eventTypes = map[string]bool{
	EventSessionExpired: true, EventSessionRefreshed: true,
	EventDeviceRevoked: true, EventPolicyChanged: true,
	EventClockChanged: true,
}

// Limits of one After or AuditAfter page.
const (
	DefaultPage = 100
	MaxPage     = 1000
)

// Event is one entry of a device's event stream. Seq increases strictly
// across the whole log and is never reused, so a client that remembers the
// last Seq it saw resumes with After(id, seq) and gets every later event
// exactly once.
type Event struct {
	Seq      int64           `json:"seq"`
	DeviceID string          `json:"device_id"`
	Type     string          `json:"type"`
	Time     time.Time       `json:"time"`
	Payload  json.RawMessage `json:"payload"`
}

func page(limit int) int {
	if limit <= 0 {
		return DefaultPage
	}
	return min(limit, MaxPage)
}

// Append adds an event to a device's stream and wakes its subscribers.
// payload is marshalled to JSON; it must never carry a secret.
func (r *Registry) Append(ctx context.Context, deviceID, typ string, payload any) (Event, error) {
	if !eventTypes[typ] {
		return Event{}, invalid(fmt.Sprintf("unknown event type %q", typ),
			"use session_expired, session_refreshed, device_revoked, policy_changed or clock_changed")
	}
	var ev Event
	err := r.write(ctx, func(tx *sql.Tx) error {
		var one int
		if err := tx.QueryRowContext(ctx, `SELECT 1 FROM devices WHERE id = ?`, deviceID).Scan(&one); errors.Is(err, sql.ErrNoRows) {
			return notFound(deviceID)
		} else if err != nil {
			return fmt.Errorf("registry: look up device %s: %w", deviceID, err)
		}
		var err error
		ev, err = r.appendTx(ctx, tx, r.now(), deviceID, typ, payload)
		return err
	})
	if err != nil {
		return Event{}, err
	}
	r.notify(deviceID)
	return ev, nil
}

// AppendActive adds the same event to the stream of every active device,
// in one transaction, and wakes their subscribers. It returns how many
// devices it reached. One transaction rather than one per device keeps an
// announcement to thousands of devices a single fsync.
func (r *Registry) AppendActive(ctx context.Context, typ string, payload any) (int, error) {
	if !eventTypes[typ] {
		return 0, invalid(fmt.Sprintf("unknown event type %q", typ),
			"use session_expired, session_refreshed, device_revoked, policy_changed or clock_changed")
	}
	var ids []string
	err := r.write(ctx, func(tx *sql.Tx) error {
		ids = ids[:0]
		rows, err := tx.QueryContext(ctx, `SELECT id FROM devices WHERE state = ? ORDER BY rowid`, string(StateActive))
		if err != nil {
			return fmt.Errorf("registry: list active devices: %w", err)
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return fmt.Errorf("registry: list active devices: %w", err)
			}
			ids = append(ids, id)
		}
		if err := rows.Close(); err != nil {
			return fmt.Errorf("registry: list active devices: %w", err)
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("registry: list active devices: %w", err)
		}
		now := r.now()
		for _, id := range ids {
			if _, err := r.appendTx(ctx, tx, now, id, typ, payload); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	for _, id := range ids {
		r.notify(id)
	}
	return len(ids), nil
}

func (r *Registry) appendTx(ctx context.Context, tx *sql.Tx, now time.Time, deviceID, typ string, payload any) (Event, error) {
	if payload == nil {
		payload = map[string]any{}
	}
	b, err := json.Marshal(payload)
	if err != nil {
		return Event{}, fmt.Errorf("registry: encode %s event: %w", typ, err)
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO events (device_id, type, payload, time) VALUES (?, ?, ?, ?)`,
		deviceID, typ, string(b), now.UnixNano())
	if err != nil {
		return Event{}, fmt.Errorf("registry: append %s event: %w", typ, err)
	}
	seq, err := res.LastInsertId()
	if err != nil {
		return Event{}, err
	}
	return Event{Seq: seq, DeviceID: deviceID, Type: typ, Time: now, Payload: b}, nil
}

// After returns up to limit events of deviceID with a sequence number
// greater than seq, oldest first (limit ≤ 0 means DefaultPage; at most
// MaxPage).
func (r *Registry) After(ctx context.Context, deviceID string, seq int64, limit int) ([]Event, error) {
	if r.isClosed() {
		return nil, errClosed
	}
	rows, err := r.db.QueryContext(ctx, `SELECT seq, type, payload, time FROM events
		WHERE device_id = ? AND seq > ? ORDER BY seq LIMIT ?`, deviceID, seq, page(limit))
	if err != nil {
		return nil, fmt.Errorf("registry: read events: %w", err)
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		ev := Event{DeviceID: deviceID}
		var payload string
		var t int64
		if err := rows.Scan(&ev.Seq, &ev.Type, &payload, &t); err != nil {
			return nil, err
		}
		ev.Payload, ev.Time = json.RawMessage(payload), fromNanos(t)
		out = append(out, ev)
	}
	return out, rows.Err()
}

// Subscription wakes a waiter when events are appended to one device's
// stream. It carries no events: after a wake-up, read them with After.
// Close it when done; it is also closed when the registry closes.
type Subscription struct {
	r        *Registry
	deviceID string
	ch       chan struct{}
	done     bool // guarded by r.subMu
}

// Subscribe returns a subscription to deviceID's stream. Subscribe before
// reading with After, so that an event appended in between is not missed.
func (r *Registry) Subscribe(deviceID string) *Subscription {
	s := &Subscription{r: r, deviceID: deviceID, ch: make(chan struct{}, 1)}
	r.subMu.Lock()
	defer r.subMu.Unlock()
	if r.closed {
		s.closeLocked()
		return s
	}
	set := r.subs[deviceID]
	if set == nil {
		set = make(map[*Subscription]struct{})
		r.subs[deviceID] = set
	}
	set[s] = struct{}{}
	return s
}

// C receives a value after one or more events were appended since the last
// receive; it is closed when the subscription or the registry is closed.
func (s *Subscription) C() <-chan struct{} { return s.ch }

// Close ends the subscription; calling it more than once is harmless.
func (s *Subscription) Close() {
	s.r.subMu.Lock()
	defer s.r.subMu.Unlock()
	if set := s.r.subs[s.deviceID]; set != nil {
		delete(set, s)
		if len(set) == 0 {
			delete(s.r.subs, s.deviceID)
		}
	}
	s.closeLocked()
}

func (s *Subscription) closeLocked() {
	if !s.done {
		s.done = true
		close(s.ch)
	}
}

// Subscribers returns how many subscriptions are open, for leak checks.
func (r *Registry) Subscribers() int {
	r.subMu.Lock()
	defer r.subMu.Unlock()
	n := 0
	for _, set := range r.subs {
		n += len(set)
	}
	return n
}

func (r *Registry) notify(deviceID string) {
	r.subMu.Lock()
	defer r.subMu.Unlock()
	for s := range r.subs[deviceID] {
		select {
		case s.ch <- struct{}{}:
		default: // a wake-up is already pending
		}
	}
}

// Wait returns the events of deviceID after seq, blocking until there is at
// least one, ctx is done or the registry closes. A streaming handler loops
// on it, passing the last Seq it sent.
func (r *Registry) Wait(ctx context.Context, deviceID string, seq int64, limit int) ([]Event, error) {
	sub := r.Subscribe(deviceID)
	defer sub.Close()
	for {
		evs, err := r.After(ctx, deviceID, seq, limit)
		if err != nil || len(evs) > 0 {
			return evs, err
		}
		select {
		case _, ok := <-sub.C():
			if !ok {
				return nil, errClosed
			}
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

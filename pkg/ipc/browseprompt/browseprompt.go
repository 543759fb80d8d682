// Package browseprompt is the one loop that answers agentd's browse_to_url
// events by opening the page they name: agentd runs it on its own events,
// agentctl watch and a tray on the IPC event stream. Each front-end differs
// only in where events come from, which reasons it opens, and how it shows
// events and failures.
package browseprompt

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"time"

	"github.com/ztagent/ztagent/pkg/ipc/ipcproto"
)

// Source yields agentd's events in order. Next blocks until the next
// event, ctx's end (it then returns ctx's error) or the source's end.
type Source interface {
	Next(ctx context.Context) (ipcproto.Event, error)
}

// Opener opens a URL after its own checks (SEC4); *browser.System is one.
type Opener interface {
	Open(ctx context.Context, rawURL string) error
}

// Options configures Follow.
type Options struct {
	// Source is where events come from.
	Source Source
	// Opener opens each browse_to_url; nil opens nothing.
	Opener Opener
	// Reasons lists the browse_to_url reasons to open; empty opens every
	// one. agentd opens only session_expired prompts: agentctl register
	// and reauth open their own URL and honour --no-browser.
	Reasons []string
	// OnEvent, when set, sees every event before it is acted on, such as
	// to print it; an error from it ends Follow.
	OnEvent func(ipcproto.Event) error
	// BeforeOpen, when set, runs before each opening, such as to learn
	// the team domain agentd names now: the registration may have changed
	// since the last prompt.
	BeforeOpen func(ctx context.Context)
	// OnOpenError, when set, is told of each URL that could not be opened.
	OnOpenError func(rawURL string, err error)
}

// Follow opens each browse_to_url event of Source with a reason in
// Reasons, every time it arrives: agentd publishes one per expiry (S16)
// and the same refresh-identity URL comes back at the next one. It returns
// nil when ctx ends and the source's error when the source fails.
func Follow(ctx context.Context, o Options) error {
	if o.Source == nil {
		return errors.New("browseprompt.Follow needs a Source")
	}
	for {
		ev, err := o.Source.Next(ctx)
		if ctx.Err() != nil {
			return nil // interrupted: a normal end
		}
		if err != nil {
			return err
		}
		if o.OnEvent != nil {
			if err := o.OnEvent(ev); err != nil {
				return err
			}
		}
		url, ok := o.urlToOpen(ev)
		if !ok {
			continue
		}
		if o.BeforeOpen != nil {
			o.BeforeOpen(ctx)
		}
		if err := o.Opener.Open(ctx, url); err != nil && o.OnOpenError != nil && ctx.Err() == nil {
			o.OnOpenError(url, err)
		}
	}
}

// urlToOpen returns the URL of a browse_to_url event Follow opens.
func (o *Options) urlToOpen(ev ipcproto.Event) (string, bool) {
	if o.Opener == nil || ev.Type != ipcproto.EventBrowseToURL {
		return "", false
	}
	var b ipcproto.BrowseToURL
	if json.Unmarshal(ev.Data, &b) != nil || b.URL == "" {
		return "", false
	}
	if len(o.Reasons) > 0 && !slices.Contains(o.Reasons, b.Reason) {
		return "", false
	}
	return b.URL, true
}

// Subscription is a Source over an in-process subscription, such as
// agentd's own subscription to its agent. When the subscription is
// dropped as too slow (an opening can block for a while), it subscribes
// again rather than stop opening pages.
type Subscription struct {
	subscribe func() (<-chan ipcproto.Event, func())
	events    <-chan ipcproto.Event
	cancel    func()
}

// NewSubscription returns a Source that calls subscribe for its events,
// again each time the channel closes. Close ends the subscription.
func NewSubscription(subscribe func() (<-chan ipcproto.Event, func())) *Subscription {
	s := &Subscription{subscribe: subscribe}
	s.events, s.cancel = subscribe()
	return s
}

// Next returns the next event.
func (s *Subscription) Next(ctx context.Context) (ipcproto.Event, error) {
	for {
		select {
		case <-ctx.Done():
			return ipcproto.Event{}, ctx.Err()
		case ev, ok := <-s.events:
			if ok {
				return ev, nil
			}
			s.cancel()
			s.events, s.cancel = s.subscribe()
		}
	}
}

// Close ends the subscription.
func (s *Subscription) Close() { s.cancel() }

// Stream is what a Source over a network stream reads: the IPC client's
// *ipc.EventStream is one.
type Stream interface {
	Next() (ipcproto.Event, error)
	Close() error
}

// FromStream returns a Source over st. The blocking read is interrupted
// by closing st when ctx ends, so that Follow returns promptly.
func FromStream(st Stream) Source { return streamSource{st} }

type streamSource struct{ st Stream }

func (s streamSource) Next(ctx context.Context) (ipcproto.Event, error) {
	stop := context.AfterFunc(ctx, func() { _ = s.st.Close() })
	defer stop()
	ev, err := s.st.Next()
	if ctx.Err() != nil {
		return ipcproto.Event{}, ctx.Err()
	}
	return ev, err
}

// Reconnecting is a Source over a network stream that survives agentd's
// restarts: when the stream ends or breaks, it dials again with a
// doubling backoff (MinRetry to MaxRetry) until ctx ends. A new stream
// begins with agentd's snapshot, so a front-end learns the state it
// missed; events published while agentd was down are not replayed.
type Reconnecting struct {
	// Dial opens a new stream, such as (*ipc.Client).Events.
	Dial func(ctx context.Context) (Stream, error)
	// OnDown, when set, is told once per outage that the stream is lost
	// and why; OnUp when a new one is open again.
	OnDown func(err error)
	OnUp   func()
	// MinRetry and MaxRetry bound the backoff; 250 ms and 5 s by default.
	MinRetry, MaxRetry time.Duration
	// Wait waits d or until ctx ends (tests shorten it); a timer by
	// default.
	Wait func(ctx context.Context, d time.Duration) error

	st   Stream
	down bool
}

// Next returns the next event of the current stream, dialing a new one
// first when there is none.
func (r *Reconnecting) Next(ctx context.Context) (ipcproto.Event, error) {
	retry := r.MinRetry
	if retry <= 0 {
		retry = 250 * time.Millisecond
	}
	maxRetry := r.MaxRetry
	if maxRetry <= 0 {
		maxRetry = 5 * time.Second
	}
	for {
		if err := ctx.Err(); err != nil {
			return ipcproto.Event{}, err
		}
		if r.st == nil {
			st, err := r.Dial(ctx)
			if err != nil {
				r.lost(err)
				if werr := r.wait(ctx, retry); werr != nil {
					return ipcproto.Event{}, werr
				}
				retry = min(2*retry, maxRetry)
				continue
			}
			r.st = st
			if r.down {
				r.down = false
				if r.OnUp != nil {
					r.OnUp()
				}
			}
		}
		ev, err := FromStream(r.st).Next(ctx)
		if err == nil {
			return ev, nil
		}
		_ = r.st.Close()
		r.st = nil
		if ctx.Err() != nil {
			return ipcproto.Event{}, ctx.Err()
		}
		r.lost(err)
	}
}

func (r *Reconnecting) lost(err error) {
	if !r.down {
		r.down = true
		if r.OnDown != nil {
			r.OnDown(err)
		}
	}
}

func (r *Reconnecting) wait(ctx context.Context, d time.Duration) error {
	if r.Wait != nil {
		return r.Wait(ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Close closes the current stream.
func (r *Reconnecting) Close() {
	if r.st != nil {
		_ = r.st.Close()
		r.st = nil
	}
}

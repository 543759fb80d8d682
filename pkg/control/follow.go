package control

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/ztagent/ztagent/internal/clock"
	"github.com/ztagent/ztagent/pkg/apierror"
)

// Defaults of FollowOptions; each applies when its field is left zero.
const (
	DefaultFollowMinBackoff  = 500 * time.Millisecond
	DefaultFollowMaxBackoff  = 30 * time.Second
	DefaultFollowIdleTimeout = 60 * time.Second
)

// Error codes with which the edge refuses a device whose registration has
// ended; Follow stops on them and IsRevocation reports them.
const (
	CodeDeviceRevoked = "device_revoked"
	CodeDeviceLeft    = "device_left"
	CodeInvalidToken  = "invalid_token"
)

// FollowState is a transition of the event stream's connection, as
// FollowOptions.OnState reports it.
type FollowState struct {
	// Connected reports whether the stream is open.
	Connected bool
	// Err is why the stream is not open (nil when Connected).
	Err error
	// Retry is how long Follow waits before the next attempt, when not
	// Connected.
	Retry time.Duration
}

// FollowOptions configures Follow. Client, DeviceID and OnEvent are
// required.
type FollowOptions struct {
	// Client is the control API client, with the device token.
	Client *Client
	// DeviceID is the device whose stream is followed.
	DeviceID string
	// After is the Seq of the last event already handled; 0 for all.
	After int64
	// OnEvent handles one event. Events arrive in Seq order, each once: an
	// event counts as handled only when OnEvent returns nil; after an error
	// Follow reconnects (with backoff) and delivers it again.
	OnEvent func(Event) error
	// OnState, if set, is called on every transition between connected and
	// disconnected (and on each failed attempt, with the next delay).
	OnState func(FollowState)
	// Clock times the backoff and the idle timeout; the real clock when nil.
	Clock clock.Clock
	// MinBackoff and MaxBackoff bound the exponential backoff between
	// attempts (DefaultFollowMinBackoff, DefaultFollowMaxBackoff).
	MinBackoff, MaxBackoff time.Duration
	// IdleTimeout ends a stream on which nothing, not even the edge's
	// heartbeat line, arrived for that long: a half-open connection
	// otherwise waits forever (DefaultFollowIdleTimeout).
	IdleTimeout time.Duration
	// Jitter returns a number in [0, 1) that spreads retries; math/rand when
	// nil.
	Jitter func() float64
}

// Follow follows the device's event stream until ctx ends or the edge says
// the registration has ended. It reconnects after every failure with
// exponential backoff and jitter, and resumes after the last event
// handled, so that no event is lost or delivered twice. It returns the Seq
// of the last event handled and why it stopped: ctx's error, or an
// *apierror.Error for which IsRevocation is true (a 401 device_revoked,
// device_left or invalid_token, or a device_revoked event, after which
// the edge ends the stream).
func Follow(ctx context.Context, opts FollowOptions) (int64, error) {
	if opts.Client == nil || opts.DeviceID == "" || opts.OnEvent == nil {
		return opts.After, errors.New("control.Follow needs a Client, a DeviceID and OnEvent")
	}
	f := newFollower(opts)
	return f.run(ctx)
}

// IsRevocation reports whether err says that the device's registration has
// ended at the edge (revoked, left, or its token no longer valid).
func IsRevocation(err error) bool {
	var e *apierror.Error
	if !errors.As(err, &e) || e.Status != http.StatusUnauthorized {
		return false
	}
	switch e.Code {
	case CodeDeviceRevoked, CodeDeviceLeft, CodeInvalidToken:
		return true
	}
	return false
}

type follower struct {
	opts      FollowOptions
	clk       clock.Clock
	last      int64
	attempt   int
	connected bool
}

func newFollower(opts FollowOptions) *follower {
	if opts.Clock == nil {
		opts.Clock = clock.Real()
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = DefaultFollowMinBackoff
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = DefaultFollowMaxBackoff
	}
	if opts.MaxBackoff < opts.MinBackoff {
		opts.MaxBackoff = opts.MinBackoff
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = DefaultFollowIdleTimeout
	}
	if opts.Jitter == nil {
		opts.Jitter = rand.Float64
	}
	return &follower{opts: opts, clk: opts.Clock, last: opts.After}
}

func (f *follower) run(ctx context.Context) (int64, error) {
	for {
		err := f.once(ctx)
		if ctx.Err() != nil {
			return f.last, ctx.Err()
		}
		if IsRevocation(err) {
			return f.last, err
		}
		delay := f.backoff()
		f.report(FollowState{Err: err, Retry: delay})
		t := f.clk.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return f.last, ctx.Err()
		case <-t.C():
		}
	}
}

// report calls OnState on transitions, and on every failed attempt so that
// the caller can show when the next one is due.
func (f *follower) report(st FollowState) {
	was := f.connected
	f.connected = st.Connected
	if f.opts.OnState == nil || (was == st.Connected && st.Connected) {
		return
	}
	f.opts.OnState(st)
}

// backoff returns the delay before the next attempt: MinBackoff doubled per
// consecutive failure, capped at MaxBackoff, with "equal jitter" (half fixed,
// half random) so that agents cut off by one edge outage do not all come
// back in the same instant, yet none retries sooner than half the step.
func (f *follower) backoff() time.Duration {
	d := f.opts.MinBackoff
	for i := 0; i < f.attempt && d < f.opts.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, f.opts.MaxBackoff)
	f.attempt++
	half := d / 2
	return half + time.Duration(f.opts.Jitter()*float64(d-half))
}

// once opens the stream after the last handled event and delivers events
// until the stream fails. It returns why it ended.
func (f *follower) once(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	st, err := f.opts.Client.Events(ctx, f.opts.DeviceID, f.last)
	if err != nil {
		return err
	}
	f.attempt = 0
	f.report(FollowState{Connected: true})

	// The watchdog closes the stream when no line arrives for IdleTimeout;
	// every line, heartbeats included, re-arms it.
	idle := f.clk.NewTimer(f.opts.IdleTimeout)
	defer idle.Stop()
	lines := make(chan lineResult)
	done, exited := make(chan struct{}), make(chan struct{})
	defer func() {
		// Closing the body unblocks the reader; wait for it so that no
		// goroutine outlives this attempt.
		close(done)
		st.Close()
		<-exited
	}()
	go func() {
		defer close(exited)
		for {
			line, err := st.nextLine()
			select {
			case lines <- lineResult{line, err}:
			case <-done:
				return
			}
			if err != nil {
				return
			}
		}
	}()
	for {
		var lr lineResult
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-idle.C():
			return fmt.Errorf("the edge's event stream was silent for %v", f.opts.IdleTimeout)
		case lr = <-lines:
		}
		if lr.err != nil {
			if errors.Is(lr.err, io.EOF) {
				return errors.New("the edge ended the event stream")
			}
			return fmt.Errorf("read the edge's event stream: %w", lr.err)
		}
		idle.Reset(f.opts.IdleTimeout)
		if len(lr.line) == 0 {
			continue // heartbeat
		}
		var ev Event
		if err := json.Unmarshal(lr.line, &ev); err != nil {
			return fmt.Errorf("the edge sent an event that is not JSON: %w", err)
		}
		if ev.Seq <= f.last {
			continue // already handled: a resumed stream never repeats one
		}
		if err := f.opts.OnEvent(ev); err != nil {
			return fmt.Errorf("handle event %d (%s): %w", ev.Seq, ev.Type, err)
		}
		f.last = ev.Seq
		if ev.Type == EventDeviceRevoked {
			return apierror.WithStatus(http.StatusUnauthorized, CodeDeviceRevoked, "an administrator revoked this device", "")
		}
	}
}

type lineResult struct {
	line []byte
	err  error
}

// nextLine returns the stream's next line, blank ones (heartbeats)
// included, as a copy; io.EOF when the edge ended the stream.
func (s *EventStream) nextLine() ([]byte, error) {
	if s.sc.Scan() {
		return bytes.Clone(bytes.TrimSpace(s.sc.Bytes())), nil
	}
	if err := s.sc.Err(); err != nil {
		return nil, err
	}
	return nil, io.EOF
}

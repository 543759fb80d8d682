package clock

import (
	"fmt"
	"sync"
	"time"
)

// Offset is a clock that runs with its base clock but can be moved forward:
// the edge simulator's time, which an administrator advances (POST
// /admin/v1/clock) to show a session expiring without waiting for it.
// Timers follow the simulated time: advancing past a timer's deadline fires
// it at once, so code that waits for "two hours from now" sees them pass.
type Offset struct {
	base Clock

	mu     sync.Mutex
	offset time.Duration
	timers map[*offsetTimer]struct{} // pending timers, rescheduled on Advance
}

// NewOffset returns a clock that reads base plus an offset that starts at
// zero.
func NewOffset(base Clock) *Offset {
	if base == nil {
		base = Real()
	}
	return &Offset{base: base, timers: make(map[*offsetTimer]struct{})}
}

// Now returns the base clock's time plus the offset.
func (o *Offset) Now() time.Time {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.base.Now().Add(o.offset)
}

// Offset returns how far the clock has been advanced.
func (o *Offset) Offset() time.Duration {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.offset
}

// Advance moves the clock forward by d and fires every timer whose deadline
// it passed. Time never moves back: a negative d is an error.
func (o *Offset) Advance(d time.Duration) error {
	if d < 0 {
		return fmt.Errorf("cannot move simulated time back by %v: it only moves forward", -d)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.offset += d
	now := o.base.Now().Add(o.offset)
	for t := range o.timers {
		switch {
		case t.deadline.After(now):
			t.base.Reset(t.deadline.Sub(now))
		case t.base.Stop():
			// Fire here rather than with Reset(0): a fake base clock
			// would only fire on its own next Advance.
			delete(o.timers, t)
			go t.fire()
		}
	}
	return nil
}

// NewTimer returns a timer that fires once the clock reaches now + d.
func (o *Offset) NewTimer(d time.Duration) Timer {
	t := &offsetTimer{clock: o, ch: make(chan time.Time, 1)}
	t.fire = func() {
		select {
		case t.ch <- o.Now():
		default:
		}
	}
	o.schedule(t, d)
	return t
}

// AfterFunc returns a timer that calls f in its own goroutine once the clock
// reaches now + d.
func (o *Offset) AfterFunc(d time.Duration, f func()) Timer {
	t := &offsetTimer{clock: o, fire: f}
	o.schedule(t, d)
	return t
}

// schedule arms t on the base clock. The base timer is an AfterFunc in
// both cases, so that the timer leaves the pending set exactly when it
// fires.
func (o *Offset) schedule(t *offsetTimer, d time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	t.deadline = o.base.Now().Add(o.offset + d)
	t.base = o.base.AfterFunc(d, func() {
		o.mu.Lock()
		if o.base.Now().Add(o.offset).Before(t.deadline) {
			// A Reset re-armed the timer while this call waited for the lock.
			o.mu.Unlock()
			return
		}
		delete(o.timers, t)
		o.mu.Unlock()
		t.fire()
	})
	o.timers[t] = struct{}{}
}

type offsetTimer struct {
	clock    *Offset
	ch       chan time.Time // nil for AfterFunc timers
	fire     func()
	deadline time.Time // in simulated time; guarded by clock.mu
	base     Timer
}

func (t *offsetTimer) C() <-chan time.Time { return t.ch }

func (t *offsetTimer) Stop() bool {
	t.clock.mu.Lock()
	defer t.clock.mu.Unlock()
	delete(t.clock.timers, t)
	return t.base.Stop()
}

func (t *offsetTimer) Reset(d time.Duration) bool {
	o := t.clock
	o.mu.Lock()
	defer o.mu.Unlock()
	t.deadline = o.base.Now().Add(o.offset + d)
	o.timers[t] = struct{}{}
	return t.base.Reset(d)
}

// Package clock is the time source every time-reading package of ztagent takes,
// so that tests can move time forward without sleeping.
package clock

import "time"

// Clock tells the time and makes timers. Real returns the wall clock; Fake is
// advanced by tests.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// NewTimer returns a timer that delivers the time on its channel once d has
	// passed.
	NewTimer(d time.Duration) Timer
	// AfterFunc returns a timer that calls f in its own goroutine once d has
	// passed.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is the part of *time.Timer that ztagent uses.
type Timer interface {
	// C returns the channel the timer fires on; it is nil for AfterFunc timers.
	C() <-chan time.Time
	// Stop prevents the timer from firing and reports whether it was still
	// pending.
	Stop() bool
	// Reset changes the timer to fire d from now and reports whether it was
	// still pending.
	Reset(d time.Duration) bool
}

// Real returns the clock of the operating system.
func Real() Clock { return realClock{} }

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) NewTimer(d time.Duration) Timer { return realTimer{time.NewTimer(d)} }

func (realClock) AfterFunc(d time.Duration, f func()) Timer {
	return realTimer{time.AfterFunc(d, f)}
}

type realTimer struct{ t *time.Timer }

func (r realTimer) C() <-chan time.Time        { return r.t.C }
func (r realTimer) Stop() bool                 { return r.t.Stop() }
func (r realTimer) Reset(d time.Duration) bool { return r.t.Reset(d) }

// Since returns the time elapsed on c since t.
func Since(c Clock, t time.Time) time.Duration { return c.Now().Sub(t) }

// Until returns the duration on c until t.
func Until(c Clock, t time.Time) time.Duration { return t.Sub(c.Now()) }

package relay

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/ztagent/ztagent/internal/clock"
)

// IdleTimer calls a function once nothing has touched it for a while: the
// end of a flow that has no end of its own, such as a UDP flow or a SOCKS5
// UDP association. It keeps one timer, re-armed for the remaining quiet
// time when it fires early, rather than resetting a timer on every
// datagram, so Touch is one atomic store.
type IdleTimer struct {
	clk    clock.Clock
	idle   time.Duration
	onIdle func()
	last   atomic.Int64 // clock time of the last Touch, UnixNano

	mu      sync.Mutex
	timer   clock.Timer
	stopped bool
	running sync.WaitGroup // an onIdle call in progress
}

// NewIdleTimer returns a running IdleTimer that calls onIdle, in a
// goroutine of its own, once idle has passed on clk without a Touch. It
// fires at most once. onIdle must not call Stop, which waits for it.
func NewIdleTimer(clk clock.Clock, idle time.Duration, onIdle func()) *IdleTimer {
	t := &IdleTimer{clk: clk, idle: idle, onIdle: onIdle}
	t.Touch()
	t.mu.Lock()
	t.timer = clk.AfterFunc(idle, t.fire)
	t.mu.Unlock()
	return t
}

// Touch records activity: the quiet time starts again from now.
func (t *IdleTimer) Touch() { t.last.Store(t.clk.Now().UnixNano()) }

func (t *IdleTimer) fire() {
	t.mu.Lock()
	if t.stopped {
		t.mu.Unlock()
		return
	}
	quiet := t.clk.Now().Sub(time.Unix(0, t.last.Load()))
	if quiet < t.idle {
		t.timer.Reset(t.idle - quiet)
		t.mu.Unlock()
		return
	}
	// Stopped from here on, so that a late re-arm or a second fire (a
	// clock set back and forth) cannot call onIdle again.
	t.stopped = true
	t.running.Add(1)
	t.mu.Unlock()
	defer t.running.Done()
	t.onIdle()
}

// Stop disarms the timer and waits for an onIdle call already under way,
// so that nothing the timer started outlives its owner. After Stop
// returns, onIdle is not called.
func (t *IdleTimer) Stop() {
	t.mu.Lock()
	t.stopped = true
	t.timer.Stop()
	t.mu.Unlock()
	t.running.Wait()
}

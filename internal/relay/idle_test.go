package relay

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/ztagent/ztagent/internal/clock"
)

var epoch = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

// expectNone checks that fired stays quiet once the clock's timers are
// settled: a timer that fired would have sent by the time its re-armed
// replacement (or none) is pending.
func expectNone(t *testing.T, fired <-chan struct{}) {
	t.Helper()
	select {
	case <-fired:
		t.Fatal("onIdle ran before the idle time had passed")
	default:
	}
}

func expectFired(t *testing.T, fired <-chan struct{}) {
	t.Helper()
	select {
	case <-fired:
	case <-t.Context().Done():
		t.Fatal("onIdle did not run after the idle time")
	}
}

func TestIdleTimerFiresAfterQuiet(t *testing.T) {
	fake := clock.NewFake(epoch)
	fired := make(chan struct{}, 2)
	w := NewIdleTimer(fake, 30*time.Second, func() { fired <- struct{}{} })
	defer w.Stop()

	fake.Advance(20 * time.Second)
	w.Touch()
	// The timer fires at 30s, finds 10s of quiet and re-arms for 20s more.
	fake.Advance(10 * time.Second)
	if err := fake.WaitForTimers(t.Context(), 1); err != nil {
		t.Fatal("the timer was not re-armed after an early fire")
	}
	expectNone(t, fired)
	fake.Advance(20 * time.Second)
	expectFired(t, fired)

	// Once fired it is done: more time, no second call.
	fake.Advance(time.Hour)
	if n := fake.Timers(); n != 0 {
		t.Fatalf("%d timers pending after the idle call", n)
	}
	if len(fired) != 0 {
		t.Fatal("onIdle ran twice")
	}
}

func TestIdleTimerStop(t *testing.T) {
	fake := clock.NewFake(epoch)
	fired := make(chan struct{}, 1)
	w := NewIdleTimer(fake, time.Second, func() { fired <- struct{}{} })
	w.Stop()
	fake.Advance(time.Hour)
	if n := fake.Timers(); n != 0 {
		t.Fatalf("%d timers pending after Stop", n)
	}
	expectNone(t, fired)
	w.Stop() // twice is harmless
}

// Stop waits for an onIdle call in progress, so the owner can release what
// onIdle touches once Stop returns. The test runs in a synctest bubble:
// synctest.Wait returns once Stop is blocked for good, so "Stop has not
// returned" is checked at a moment where it could only have returned
// early, not after a guessed delay.
func TestIdleTimerStopWaitsForOnIdle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fake := clock.NewFake(epoch)
		entered := make(chan struct{})
		release := make(chan struct{})
		w := NewIdleTimer(fake, time.Second, func() {
			close(entered)
			<-release
		})
		fake.Advance(time.Second)
		<-entered
		stopped := make(chan struct{})
		go func() {
			w.Stop()
			close(stopped)
		}()
		synctest.Wait() // onIdle waits on release, Stop on onIdle
		select {
		case <-stopped:
			t.Fatal("Stop returned while onIdle was running")
		default:
		}
		close(release)
		<-stopped // a Stop that never returned would deadlock the bubble, which fails the test
	})
}

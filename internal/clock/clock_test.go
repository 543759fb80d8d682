package clock

import (
	"context"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var epoch = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

func TestFakeTimersFireInOrderOnAdvance(t *testing.T) {
	c := NewFake(epoch)
	late := c.NewTimer(2 * time.Minute)
	early := c.NewTimer(time.Minute)

	c.Advance(59 * time.Second)
	select {
	case <-early.C():
		t.Fatal("timer fired before its deadline")
	default:
	}

	c.Advance(time.Second)
	if got := <-early.C(); !got.Equal(epoch.Add(time.Minute)) {
		t.Fatalf("early fired at %v, want %v", got, epoch.Add(time.Minute))
	}
	if c.Timers() != 1 {
		t.Fatalf("pending timers = %d, want 1", c.Timers())
	}
	c.Advance(time.Hour)
	if got := <-late.C(); !got.Equal(epoch.Add(2 * time.Minute)) {
		t.Fatalf("late fired at %v", got)
	}
	if !c.Now().Equal(epoch.Add(time.Hour + time.Minute)) {
		t.Fatalf("Now = %v", c.Now())
	}
}

func TestFakeStopAndReset(t *testing.T) {
	c := NewFake(epoch)
	tm := c.NewTimer(time.Minute)
	if !tm.Stop() {
		t.Fatal("Stop of a pending timer reported false")
	}
	if tm.Stop() {
		t.Fatal("second Stop reported true")
	}
	c.Advance(time.Hour)
	select {
	case <-tm.C():
		t.Fatal("stopped timer fired")
	default:
	}
	if tm.Reset(time.Second) {
		t.Fatal("Reset of a stopped timer reported it pending")
	}
	c.Advance(time.Second)
	<-tm.C()
}

func TestFakeAfterFuncAndWaitForTimers(t *testing.T) {
	c := NewFake(epoch)
	done := make(chan struct{})
	go func() {
		// The code under test arms its timer some time after the test starts.
		c.AfterFunc(time.Minute, func() { close(done) })
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.WaitForTimers(ctx, 1); err != nil {
		t.Fatal(err)
	}
	c.Advance(time.Minute)
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatal("AfterFunc callback never ran")
	}
}

func TestFakeSetBackwardsFiresNothing(t *testing.T) {
	c := NewFake(epoch)
	tm := c.NewTimer(time.Second)
	c.Set(epoch.Add(-time.Hour))
	select {
	case <-tm.C():
		t.Fatal("timer fired when the clock went back")
	default:
	}
	if !c.Now().Equal(epoch.Add(-time.Hour)) {
		t.Fatalf("Now = %v", c.Now())
	}
}

func TestRealClock(t *testing.T) {
	c := Real()
	if Since(c, c.Now()) < 0 {
		t.Fatal("real clock went backwards")
	}
	tm := c.NewTimer(time.Millisecond)
	<-tm.C()
	fired := make(chan struct{})
	c.AfterFunc(0, func() { close(fired) })
	<-fired
}

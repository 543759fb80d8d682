package clock

import (
	"testing"
	"time"
)

func TestOffsetAdvanceMovesNowAndFiresTimers(t *testing.T) {
	base := NewFake(time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC))
	o := NewOffset(base)
	start := o.Now()
	timer := o.NewTimer(2 * time.Hour)
	fired := make(chan struct{})
	o.AfterFunc(time.Hour, func() { close(fired) })
	late := o.NewTimer(3 * time.Hour)

	if err := o.Advance(2 * time.Hour); err != nil {
		t.Fatal(err)
	}
	if got := o.Now().Sub(start); got != 2*time.Hour {
		t.Fatalf("Now moved by %v after Advance(2h)", got)
	}
	if o.Offset() != 2*time.Hour {
		t.Fatalf("Offset = %v", o.Offset())
	}
	select {
	case <-timer.C():
	case <-time.After(5 * time.Second):
		t.Fatal("a 2h timer did not fire after advancing 2h")
	}
	select {
	case <-fired:
	case <-time.After(5 * time.Second):
		t.Fatal("a 1h AfterFunc did not run after advancing 2h")
	}
	select {
	case <-late.C():
		t.Fatal("a 3h timer fired after advancing 2h")
	default:
	}
	// The base clock still drives the rest.
	base.Advance(time.Hour)
	select {
	case <-late.C():
	case <-time.After(5 * time.Second):
		t.Fatal("the 3h timer did not fire when the base clock supplied the last hour")
	}
}

func TestOffsetRefusesToGoBack(t *testing.T) {
	o := NewOffset(NewFake(time.Unix(0, 0)))
	if err := o.Advance(-time.Second); err == nil {
		t.Fatal("Advance(-1s) succeeded")
	}
}

func TestOffsetStopAndReset(t *testing.T) {
	base := NewFake(time.Unix(0, 0))
	o := NewOffset(base)
	timer := o.NewTimer(time.Hour)
	if !timer.Stop() {
		t.Fatal("Stop of a pending timer reported false")
	}
	if err := o.Advance(2 * time.Hour); err != nil {
		t.Fatal(err)
	}
	select {
	case <-timer.C():
		t.Fatal("a stopped timer fired")
	default:
	}
	timer.Reset(time.Minute)
	if err := o.Advance(time.Minute); err != nil {
		t.Fatal(err)
	}
	select {
	case <-timer.C():
	case <-time.After(5 * time.Second):
		t.Fatal("a reset timer did not fire")
	}
}

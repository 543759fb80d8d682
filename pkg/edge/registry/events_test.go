package registry

import (
	"context"
	"errors"
	"testing"
)

func TestEventsAfterResumesWithoutLossOrRepeat(t *testing.T) {
	f := newFixture(t)
	a, _, _ := f.r.Register(ctx, f.reg("alice@acme.test", "fp-1", 1))
	b, _, _ := f.r.Register(ctx, f.reg("bob@acme.test", "fp-2", 2))
	var want []int64
	for i := range 5 {
		ev, err := f.r.Append(ctx, a.ID, EventSessionExpired, map[string]any{"policy_id": i})
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, ev.Seq)
		if _, err := f.r.Append(ctx, b.ID, EventPolicyChanged, nil); err != nil {
			t.Fatal(err)
		}
	}
	// A client reads two at a time, "reconnecting" after each page.
	var got []int64
	var last int64
	for {
		evs, err := f.r.After(ctx, a.ID, last, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) == 0 {
			break
		}
		for _, ev := range evs {
			if ev.DeviceID != a.ID || ev.Type != EventSessionExpired || ev.Seq <= last {
				t.Fatalf("event %+v after seq %d", ev, last)
			}
			got = append(got, ev.Seq)
			last = ev.Seq
		}
	}
	if len(got) != len(want) {
		t.Fatalf("got seqs %v, want %v", got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("got seqs %v, want %v", got, want)
		}
	}
	if _, err := f.r.Append(ctx, a.ID, "bogus", nil); !errors.Is(err, ErrInvalidRequest) {
		t.Fatalf("unknown type: %v", err)
	}
	if _, err := f.r.Append(ctx, "nope", EventPolicyChanged, nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown device: %v", err)
	}
}

func TestSubscriptionWakesAndCancels(t *testing.T) {
	f := newFixture(t)
	d, _, _ := f.r.Register(ctx, f.reg("alice@acme.test", "fp-1", 1))
	other, _, _ := f.r.Register(ctx, f.reg("bob@acme.test", "fp-2", 2))

	sub := f.r.Subscribe(d.ID)
	if _, err := f.r.Append(ctx, other.ID, EventPolicyChanged, nil); err != nil {
		t.Fatal(err)
	}
	select {
	case <-sub.C():
		t.Fatal("woken by another device's event")
	default:
	}
	if _, err := f.r.Append(ctx, d.ID, EventPolicyChanged, nil); err != nil {
		t.Fatal(err)
	}
	if _, ok := <-sub.C(); !ok {
		t.Fatal("subscription closed instead of waking")
	}
	sub.Close()
	sub.Close()
	if _, ok := <-sub.C(); ok {
		t.Fatal("closed subscription still delivers")
	}
	if n := f.r.Subscribers(); n != 0 {
		t.Fatalf("%d subscribers left after Close", n)
	}

	// Wait blocks until an event arrives, then returns only the new ones.
	type result struct {
		evs []Event
		err error
	}
	done := make(chan result)
	go func() {
		evs, err := f.r.Wait(ctx, d.ID, 1<<40, 0)
		done <- result{evs, err}
	}()
	go func() {
		evs, err := f.r.Wait(ctx, d.ID, 0, 0) // returns at once: one event exists
		done <- result{evs, err}
	}()
	if r := <-done; r.err != nil || len(r.evs) != 1 {
		t.Fatalf("immediate Wait = %+v", r)
	}
	// Cancelling a waiter's context releases it and its subscription.
	cctx, cancel := context.WithCancel(ctx)
	go func() {
		_, err := f.r.Wait(cctx, d.ID, 1<<40, 0)
		done <- result{nil, err}
	}()
	cancel()
	if r := <-done; !errors.Is(r.err, context.Canceled) {
		t.Fatalf("cancelled Wait = %+v", r)
	}
	// Closing the registry releases the remaining waiter.
	f.r.Close()
	if r := <-done; !errors.Is(r.err, ErrClosed) {
		t.Fatalf("Wait after Close = %+v", r)
	}
	if n := f.r.Subscribers(); n != 0 {
		t.Fatalf("%d subscribers left after registry Close", n)
	}
	if _, ok := <-f.r.Subscribe(d.ID).C(); ok {
		t.Fatal("subscription on a closed registry is open")
	}
}

func TestWaitWakesOnAppend(t *testing.T) {
	f := newFixture(t)
	d, _, _ := f.r.Register(ctx, f.reg("alice@acme.test", "fp-1", 1))
	got := make(chan []Event)
	go func() {
		evs, err := f.r.Wait(ctx, d.ID, 0, 0)
		if err != nil {
			t.Error(err)
		}
		got <- evs
	}()
	ev, err := f.r.Append(ctx, d.ID, EventSessionExpired, map[string]string{"policy_name": "ssh"})
	if err != nil {
		t.Fatal(err)
	}
	evs := <-got
	if len(evs) != 1 || evs[0].Seq != ev.Seq || string(evs[0].Payload) != `{"policy_name":"ssh"}` {
		t.Fatalf("Wait = %+v", evs)
	}
}

func TestAuditAfterPages(t *testing.T) {
	f := newFixture(t)
	for _, p := range []string{"login", "none", "select_account"} {
		if _, err := f.r.Audit(ctx, "idp_authorize", "alice@acme.test", "", map[string]any{"prompt": p, "session_reused": false}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.r.Audit(ctx, "", "", "", nil); !errors.Is(err, ErrInvalidRequest) {
		t.Fatalf("kindless audit: %v", err)
	}
	first, err := f.r.AuditAfter(ctx, 0, 2)
	if err != nil || len(first) != 2 || first[0].Kind != "idp_authorize" || !first[0].Time.Equal(epoch) {
		t.Fatalf("first page = %+v, %v", first, err)
	}
	rest, err := f.r.AuditAfter(ctx, first[1].Seq, 10)
	if err != nil || len(rest) != 1 || string(rest[0].Detail) != `{"prompt":"select_account","session_reused":false}` {
		t.Fatalf("second page = %+v, %v", rest, err)
	}
}

package registry

import (
	"errors"
	"testing"
)

// TestAppendActiveReachesActiveDevicesOnly checks the announcement used
// for policy and clock changes: one event per active device, none for a
// revoked one, and the subscribers of each woken.
func TestAppendActiveReachesActiveDevicesOnly(t *testing.T) {
	f := newFixture(t)
	a, _, _ := f.r.Register(ctx, f.reg("alice@acme.test", "fp-1", 1))
	b, _, _ := f.r.Register(ctx, f.reg("bob@acme.test", "fp-2", 2))
	c, _, _ := f.r.Register(ctx, f.reg("carol@acme.test", "fp-3", 3))
	if _, err := f.r.Revoke(ctx, b.ID); err != nil {
		t.Fatal(err)
	}
	sub := f.r.Subscribe(c.ID)
	defer sub.Close()

	n, err := f.r.AppendActive(ctx, EventClockChanged, map[string]string{"offset": "2h0m0s"})
	if err != nil || n != 2 {
		t.Fatalf("AppendActive: %d devices, %v; want 2", n, err)
	}
	select {
	case <-sub.C():
	default:
		t.Fatal("carol's subscriber was not woken")
	}
	for _, d := range []struct {
		id   string
		want int
	}{{a.ID, 1}, {b.ID, 0}, {c.ID, 1}} {
		evs, err := f.r.After(ctx, d.id, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		got := 0
		for _, ev := range evs {
			if ev.Type == EventClockChanged {
				got++
				if string(ev.Payload) != `{"offset":"2h0m0s"}` {
					t.Fatalf("payload %s", ev.Payload)
				}
			}
		}
		if got != d.want {
			t.Fatalf("device %s got %d clock_changed events, want %d", d.id, got, d.want)
		}
	}
	if _, err := f.r.AppendActive(ctx, "bogus", nil); !errors.Is(err, ErrInvalidRequest) {
		t.Fatalf("unknown type: %v", err)
	}
}

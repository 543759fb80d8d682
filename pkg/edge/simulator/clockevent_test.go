package simulator

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/ztagent/ztagent/pkg/control"
)

// TestClockAdvanceIsAnnouncedToEveryActiveDevice checks that moving the
// simulated time reaches every active device's stream as clock_changed,
// carrying the edge's new time, and skips a revoked device: agents follow
// the edge's time without waiting for a blocked flow.
func TestClockAdvanceIsAnnouncedToEveryActiveDevice(t *testing.T) {
	tc := newTestConfig(t)
	s := startSim(t, tc.options(stateDir(t)))
	a := newAgent(t, s, "fp-a")
	regA := a.enroll(alice)
	b := newAgent(t, s, "fp-b")
	regB := b.enroll(bob)
	if _, err := adminClient(s).Revoke(t.Context(), regB.DeviceID); err != nil {
		t.Fatal(err)
	}
	st, err := adminClient(s).AdvanceClock(t.Context(), 2*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	after := s.Clock().Now()

	evs, err := s.reg.After(t.Context(), regA.DeviceID, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []control.ClockChanged
	for _, ev := range evs {
		if ev.Type != control.EventClockChanged {
			continue
		}
		var p control.ClockChanged
		if err := json.Unmarshal(ev.Payload, &p); err != nil {
			t.Fatalf("clock_changed payload %s: %v", ev.Payload, err)
		}
		got = append(got, p)
	}
	if len(got) != 1 {
		t.Fatalf("alice's device got %d clock_changed events (%+v), want 1", len(got), evs)
	}
	if p := got[0]; p.Now.Before(st.Now) || p.Now.After(after) || p.Offset != st.Offset {
		t.Fatalf("clock_changed says now %v offset %s; the advance answered now %v offset %s, and the clock read %v after it", p.Now, p.Offset, st.Now, st.Offset, after)
	}

	evsB, err := s.reg.After(t.Context(), regB.DeviceID, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evsB {
		if ev.Type == control.EventClockChanged {
			t.Fatalf("the revoked device got clock_changed: %+v", ev)
		}
	}
}

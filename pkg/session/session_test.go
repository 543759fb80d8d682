package session

import (
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var t0 = time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)

func TestS5_ParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"1h30m0s": 90 * time.Minute,
		"300s":    5 * time.Minute,
		"1h":      time.Hour,
		"45m":     45 * time.Minute,
		"1.5h":    90 * time.Minute,
		"1ms":     time.Millisecond,
	} {
		got, err := ParseDuration(in)
		if err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for in, wantMsg := range map[string]string{
		"":       "empty",
		"0s":     `"0s" must be positive`,
		"0":      `"0" must be positive`,
		"-1h":    `"-1h" must be positive`,
		"1d":     `"1d" is not a duration`,
		"90":     `"90" is not a duration`,
		"1h30":   `"1h30" is not a duration`,
		"abc":    `"abc" is not a duration`,
		" 1h":    `" 1h" is not a duration`,
		"1h 30m": `"1h 30m" is not a duration`,
	} {
		_, err := ParseDuration(in)
		if err == nil {
			t.Errorf("ParseDuration(%q) accepted", in)
			continue
		}
		if !strings.Contains(err.Error(), wantMsg) || !strings.Contains(err.Error(), "1h30m0s") {
			t.Errorf("ParseDuration(%q) error %q should contain %q and an example", in, err, wantMsg)
		}
	}
}

func TestS1_AgeIsEdgeNowMinusAuthTime(t *testing.T) {
	if got := Age(t0, t0.Add(90*time.Minute)); got != 90*time.Minute {
		t.Fatalf("Age = %v", got)
	}
	if got := Age(t0, t0.Add(-time.Minute)); got != 0 {
		t.Fatalf("future auth_time: Age = %v, want 0", got)
	}
}

// TestS1_DeviceClockNeverDecides skews the device clock by hours both ways:
// the edge's deadline, and whether it has passed, must not change.
func TestS1_DeviceClockNeverDecides(t *testing.T) {
	reqs := []Requirement{{PolicyID: "p1", Name: "wiki", Filter: "l4", Duration: time.Hour}}
	edgeNow := t0.Add(59 * time.Minute)
	for _, skew := range []time.Duration{0, 3 * time.Hour, -3 * time.Hour, 17 * time.Second} {
		local := edgeNow.Add(skew) // what the device's clock shows
		clk := NewEdgeClock(edgeNow, local)
		m := ExpiryMap(reqs, t0, clk, local)
		if len(m) != 1 {
			t.Fatalf("skew %v: %d entries", skew, len(m))
		}
		e := m[0]
		if e.Expired || e.Remaining != time.Minute || !e.ExpiresAt.Equal(t0.Add(time.Hour)) {
			t.Fatalf("skew %v: %+v", skew, e)
		}
		if !e.ExpiresAtLocal.Equal(t0.Add(time.Hour).Add(skew)) {
			t.Fatalf("skew %v: local deadline %v", skew, e.ExpiresAtLocal)
		}
		// Two minutes later on the device clock, the edge says expired.
		later := ExpiryMap(reqs, t0, clk, local.Add(2*time.Minute))[0]
		if !later.Expired || later.Remaining != 0 {
			t.Fatalf("skew %v: two minutes later %+v", skew, later)
		}
	}
}

func TestS3_ExpiryBoundary(t *testing.T) {
	r := Requirement{Duration: time.Hour}
	if r.Expired(t0, t0.Add(time.Hour)) {
		t.Fatal("a session exactly as old as the duration is expired")
	}
	if !r.Expired(t0, t0.Add(time.Hour+time.Nanosecond)) {
		t.Fatal("a session older than the duration is not expired")
	}
}

func TestS4_NoCheckSessionMeansNoLimit(t *testing.T) {
	unlimited := Requirement{PolicyID: "p0", Name: "open", Filter: "http"}
	if unlimited.Limited() || unlimited.Expired(t0, t0.Add(10*365*24*time.Hour)) {
		t.Fatal("an unlimited requirement expired")
	}
	if _, ok := unlimited.ExpiresAt(t0); ok {
		t.Fatal("an unlimited requirement has a deadline")
	}
	m := ExpiryMap([]Requirement{unlimited, {PolicyID: "p1", Name: "wiki", Filter: "l4", Duration: time.Hour}}, t0, EdgeClock{}, t0)
	if len(m) != 1 || m[0].PolicyID != "p1" {
		t.Fatalf("expiry map %+v should list only the limited policy", m)
	}
}

func TestExpiryMapOrderAndNextExpiry(t *testing.T) {
	reqs := []Requirement{
		{PolicyID: "h", Name: "http-1h", Filter: "http", Duration: time.Hour},
		{PolicyID: "w", Name: "wiki-90m", Filter: "l4", Duration: 90 * time.Minute},
		{PolicyID: "s", Name: "ssh-10m", Filter: "l4", Duration: 10 * time.Minute},
		{PolicyID: "g", Name: "git-1h", Filter: "l4", Duration: time.Hour},
	}
	m := ExpiryMap(reqs, t0, EdgeClock{}, t0.Add(30*time.Minute))
	var names []string
	for _, e := range m {
		names = append(names, e.Name)
	}
	if strings.Join(names, ",") != "ssh-10m,git-1h,http-1h,wiki-90m" {
		t.Fatalf("order %v", names)
	}
	if !m[0].Expired || m[1].Expired || m[1].Remaining != 30*time.Minute || m[3].DurationText != "1h30m0s" {
		t.Fatalf("map %+v", m)
	}
	next, ok := NextExpiry(m)
	if !ok || next.Name != "git-1h" {
		t.Fatalf("NextExpiry = %+v, %v", next, ok)
	}
	all := ExpiryMap(reqs, t0, EdgeClock{}, t0.Add(2*time.Hour))
	if _, ok := NextExpiry(all); ok {
		t.Fatal("NextExpiry found one after every policy expired")
	}
}

func TestS8_GlobalTimeoutIsOneDeadline(t *testing.T) {
	reqs := []Requirement{
		{PolicyID: "a", Name: "a", Filter: "l4", Duration: 8 * time.Hour},
		{PolicyID: "b", Name: "b", Filter: "http", Duration: 8 * time.Hour},
	}
	m := ExpiryMap(reqs, t0, EdgeClock{}, t0)
	if !m[0].ExpiresAt.Equal(m[1].ExpiresAt) {
		t.Fatal("same duration, different deadlines")
	}
	w := NewExpiryWarner(time.Minute)
	got := w.Check(ExpiryMap(reqs, t0, EdgeClock{}, t0.Add(8*time.Hour-30*time.Second)))
	if len(got) != 1 || len(got[0].PolicyNames) != 2 {
		t.Fatalf("global timeout warnings %+v, want one naming both policies", got)
	}
}

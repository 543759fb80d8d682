package session

import (
	"sort"
	"sync"
	"time"
)

// DefaultWarningLead is how long before an expiry the user is warned.
const DefaultWarningLead = 5 * time.Minute

// Warning says that the session will expire for the named policies at
// ExpiresAt (edge time) and ExpiresAtLocal (device time).
type Warning struct {
	PolicyNames    []string
	ExpiresAt      time.Time
	ExpiresAtLocal time.Time
	Remaining      time.Duration
}

// ExpiryWarner turns an expiry map into warnings, each distinct deadline
// warned about once, however often it is checked. Policies sharing a deadline
// (a global timeout, S8) share one warning. A re-authentication produces new
// deadlines, which are warned about afresh. It is safe for concurrent use.
type ExpiryWarner struct {
	lead time.Duration

	mu sync.Mutex
	// fired holds the deadlines warned about, as Unix nanoseconds: a
	// time.Time key would tell apart one instant in two locations.
	fired map[int64]bool
}

// NewExpiryWarner returns a warner that warns lead before each deadline
// (DefaultWarningLead when lead is zero or negative).
func NewExpiryWarner(lead time.Duration) *ExpiryWarner {
	if lead <= 0 {
		lead = DefaultWarningLead
	}
	return &ExpiryWarner{lead: lead, fired: make(map[int64]bool)}
}

// Check returns the warnings due for m, an expiry map computed by ExpiryMap
// for the current time, earliest deadline first.
func (w *ExpiryWarner) Check(m []Expiry) []Warning {
	w.mu.Lock()
	defer w.mu.Unlock()
	byDeadline := map[int64]*Warning{}
	var order []int64
	for _, e := range m {
		at := e.ExpiresAt.UnixNano()
		if e.Expired || e.Remaining > w.lead || w.fired[at] {
			continue
		}
		wn, ok := byDeadline[at]
		if !ok {
			wn = &Warning{ExpiresAt: e.ExpiresAt, ExpiresAtLocal: e.ExpiresAtLocal, Remaining: e.Remaining}
			byDeadline[at] = wn
			order = append(order, at)
		}
		wn.PolicyNames = append(wn.PolicyNames, e.Name)
	}
	sort.Slice(order, func(i, j int) bool { return order[i] < order[j] })
	out := make([]Warning, 0, len(order))
	for _, at := range order {
		w.fired[at] = true
		out = append(out, *byDeadline[at])
	}
	w.forgetPast(m)
	return out
}

// NextCheck returns the local time at which Check next has a warning to give
// for m, and false when no deadline is left to warn about. A caller arms a
// timer for it rather than polling.
func (w *ExpiryWarner) NextCheck(m []Expiry) (time.Time, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var next time.Time
	found := false
	for _, e := range m {
		if e.Expired || w.fired[e.ExpiresAt.UnixNano()] {
			continue
		}
		at := e.ExpiresAtLocal.Add(-w.lead)
		if !found || at.Before(next) {
			next, found = at, true
		}
	}
	return next, found
}

// forgetPast drops fired deadlines that are no longer in the map, so the set
// stays as small as the map itself.
func (w *ExpiryWarner) forgetPast(m []Expiry) {
	live := make(map[int64]bool, len(m))
	for _, e := range m {
		live[e.ExpiresAt.UnixNano()] = true
	}
	for at := range w.fired {
		if !live[at] {
			delete(w.fired, at)
		}
	}
}

package session

import (
	"sort"
	"time"
)

// EdgeClock relates the device's clock to the edge's. The edge decides every
// expiry (S1: the device clock never does), so the agent converts the edge's
// absolute deadlines to local time with the offset it last measured.
type EdgeClock struct {
	// Offset is edge time minus local time.
	Offset time.Duration
}

// NewEdgeClock returns the clock relation measured when a response carrying
// the edge's serverTime arrived at local time receivedAt. A zero receivedAt
// (no measurement) means no offset.
func NewEdgeClock(serverTime, receivedAt time.Time) EdgeClock {
	if serverTime.IsZero() || receivedAt.IsZero() {
		return EdgeClock{}
	}
	return EdgeClock{Offset: serverTime.Sub(receivedAt)}
}

// EdgeNow returns the edge's time at local time local.
func (c EdgeClock) EdgeNow(local time.Time) time.Time { return local.Round(0).Add(c.Offset) }

// ToLocal returns the local time at which the edge's clock shows edge.
func (c EdgeClock) ToLocal(edge time.Time) time.Time { return edge.Add(-c.Offset) }

// Age returns the session age at edge time edgeNow: edge now minus the IdP's
// auth_time of the last authentication (S1). An auth_time in the future
// counts as age zero.
func Age(authTime, edgeNow time.Time) time.Duration {
	if age := edgeNow.Sub(authTime); age > 0 {
		return age
	}
	return 0
}

// Requirement is one session limit: a Gateway policy's check_session, or the
// Access device-identity duration.
type Requirement struct {
	PolicyID string
	Name     string
	// Filter is the policy's filter: "l4", "http" (or "access").
	Filter string
	// Duration is the session limit; zero means no limit (S4: no
	// check_session, or enforce = false).
	Duration time.Duration
}

// Limited reports whether the requirement limits the session at all (S4).
func (r Requirement) Limited() bool { return r.Duration > 0 }

// ExpiresAt returns the edge time after which a session authenticated at
// authTime no longer meets r, and false when r sets no limit.
func (r Requirement) ExpiresAt(authTime time.Time) (time.Time, bool) {
	if !r.Limited() {
		return time.Time{}, false
	}
	return authTime.Add(r.Duration), true
}

// Expired reports whether a session authenticated at authTime is too old for
// r at edge time edgeNow: its age exceeds the duration (S3). A session exactly
// as old as the duration still passes; without a limit it never expires (S4).
func (r Requirement) Expired(authTime, edgeNow time.Time) bool {
	return r.Limited() && Age(authTime, edgeNow) > r.Duration
}

// Expiry is one line of the per-policy expiry map.
type Expiry struct {
	PolicyID string        `json:"policy_id"`
	Name     string        `json:"name"`
	Filter   string        `json:"filter"`
	Duration time.Duration `json:"-"`
	// DurationText is Duration as Cloudflare writes it ("1h30m0s").
	DurationText string `json:"duration"`
	// ExpiresAt is the deadline on the edge's clock.
	ExpiresAt time.Time `json:"expires_at"`
	// ExpiresAtLocal is when the device's clock will show the deadline.
	ExpiresAtLocal time.Time `json:"expires_at_local"`
	// Remaining is the time left, zero once expired.
	Remaining time.Duration `json:"-"`
	Expired   bool          `json:"expired"`
	// NoIdPSession marks a device that never signed in with an IdP (it
	// enrolled with a service token): the policy blocks it for good, and
	// the deadlines are zero.
	NoIdPSession bool `json:"no_idp_session,omitempty"`
}

// ExpiryMap returns, for each limited requirement, when a session
// authenticated at authTime expires and how long remains at local time
// localNow, correcting for the device's clock skew through clk. Unlimited
// requirements (S4) are left out; a zero authTime (no IdP sign-in ever)
// expires every limited one, with no deadline. The result is ordered by deadline, then
// name, so the first entry is the earliest expiry.
func ExpiryMap(reqs []Requirement, authTime time.Time, clk EdgeClock, localNow time.Time) []Expiry {
	edgeNow := clk.EdgeNow(localNow)
	out := make([]Expiry, 0, len(reqs))
	for _, r := range reqs {
		at, ok := r.ExpiresAt(authTime)
		if !ok {
			continue
		}
		if authTime.IsZero() {
			out = append(out, Expiry{PolicyID: r.PolicyID, Name: r.Name, Filter: r.Filter,
				Duration: r.Duration, DurationText: r.Duration.String(), Expired: true, NoIdPSession: true})
			continue
		}
		e := Expiry{
			PolicyID: r.PolicyID, Name: r.Name, Filter: r.Filter,
			Duration: r.Duration, DurationText: r.Duration.String(),
			ExpiresAt: at, ExpiresAtLocal: clk.ToLocal(at),
			Expired: r.Expired(authTime, edgeNow),
		}
		if !e.Expired {
			e.Remaining = at.Sub(edgeNow)
		}
		out = append(out, e)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].ExpiresAt.Equal(out[j].ExpiresAt) {
			return out[i].ExpiresAt.Before(out[j].ExpiresAt)
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// NextExpiry returns the earliest entry of an expiry map that has not yet
// expired, and false when every limited policy has expired or none exists.
func NextExpiry(m []Expiry) (Expiry, bool) {
	for _, e := range m {
		if !e.Expired {
			return e, true
		}
	}
	return Expiry{}, false
}

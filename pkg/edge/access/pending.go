package access

import (
	"container/list"
	"time"

	"github.com/ztagent/ztagent/internal/randtoken"
)

// Bounds of the sign-ins waiting for the IdP's callback. Anyone can start
// one without signing in, so the table must never refuse a sign-in because
// someone else filled it: when it is full, the newest sign-in displaces
// the oldest one of the client holding the most, and one client (an
// address; an IPv6 /64) past its own bound displaces its own oldest. A
// flood from elsewhere then costs a user nothing, and a past flood from
// this host (where every local user is 127.0.0.1) is pushed out by the
// next sign-in. What remains is a flood from this host that runs while a
// user types their password: it displaces their sign-in once it has
// started DefaultMaxPendingLogins more.
const (
	// DefaultMaxPendingLogins bounds the table: about 4 MB of sign-ins
	// with parameters near their limits, far less for real ones.
	DefaultMaxPendingLogins = 10000
	// DefaultMaxPendingLoginsPerClient bounds one remote client; the
	// loopback client, which all local users share, is bounded by the
	// table alone.
	DefaultMaxPendingLoginsPerClient = 1000
)

// pendingTable holds the pending logins by state and, per client, in the
// order they started (which is also the order they expire, since every
// login lives LoginLifetime). It is guarded by TeamDomain.mu.
type pendingTable struct {
	max, maxPerClient int
	byState           map[string]*pendingLogin
	byClient          map[string]*list.List // of *pendingLogin, oldest first
}

func newPendingTable(max, maxPerClient int) *pendingTable {
	if max <= 0 {
		max = DefaultMaxPendingLogins
	}
	if maxPerClient <= 0 {
		maxPerClient = DefaultMaxPendingLoginsPerClient
	}
	return &pendingTable{max: max, maxPerClient: min(max, maxPerClient),
		byState: make(map[string]*pendingLogin), byClient: make(map[string]*list.List)}
}

// put stores pl under a new state and returns the state and how many
// other sign-ins it displaced. It never refuses.
func (pt *pendingTable) put(pl *pendingLogin, now time.Time) (state string, displaced int) {
	q := pt.byClient[pl.client]
	if q != nil {
		pt.dropExpired(q, now)
		if !pl.loopback && q.Len() >= pt.maxPerClient {
			pt.remove(q.Front().Value.(*pendingLogin))
			displaced++
		}
	}
	if len(pt.byState) >= pt.max {
		for _, cq := range pt.byClient {
			pt.dropExpired(cq, now)
		}
	}
	if len(pt.byState) >= pt.max {
		pt.remove(pt.heaviest().Front().Value.(*pendingLogin))
		displaced++
	}
	if q = pt.byClient[pl.client]; q == nil {
		q = list.New()
		pt.byClient[pl.client] = q
	}
	pl.state = randtoken.New(32)
	pl.elem = q.PushBack(pl)
	pt.byState[pl.state] = pl
	return pl.state, displaced
}

// take removes and returns the login for state, or nil.
func (pt *pendingTable) take(state string) *pendingLogin {
	pl := pt.byState[state]
	if pl != nil {
		pt.remove(pl)
	}
	return pl
}

func (pt *pendingTable) len() int { return len(pt.byState) }

// heaviest returns the queue of the client with the most sign-ins; the
// one whose oldest is oldest among equals, so that ties go to age.
func (pt *pendingTable) heaviest() *list.List {
	var best *list.List
	for _, q := range pt.byClient {
		if best == nil || q.Len() > best.Len() ||
			(q.Len() == best.Len() && q.Front().Value.(*pendingLogin).expires.Before(best.Front().Value.(*pendingLogin).expires)) {
			best = q
		}
	}
	return best
}

func (pt *pendingTable) dropExpired(q *list.List, now time.Time) {
	for q.Len() > 0 {
		pl := q.Front().Value.(*pendingLogin)
		if now.Before(pl.expires) {
			return
		}
		pt.remove(pl)
	}
}

func (pt *pendingTable) remove(pl *pendingLogin) {
	delete(pt.byState, pl.state)
	q := pt.byClient[pl.client]
	if q == nil || pl.elem == nil {
		return
	}
	q.Remove(pl.elem)
	pl.elem = nil
	if q.Len() == 0 {
		delete(pt.byClient, pl.client)
	}
}

// oldestExpiry returns the earliest expiry among m's entries, to tell a
// person refused by a full table how long until a place frees up.
func oldestExpiry[K comparable, T any](m map[K]T, expires func(T) time.Time) time.Time {
	var first time.Time
	for _, v := range m {
		if e := expires(v); first.IsZero() || e.Before(first) {
			first = e
		}
	}
	return first
}

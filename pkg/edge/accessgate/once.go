package accessgate

import (
	"sync"
	"time"
)

// kindSessionOnce is the cookie of a session that "expires immediately"
// (session_duration "0s" on the application or the matching policy): it
// admits the one request the login redirects back to, and the next
// request signs in again, as Access's "No duration, expires immediately"
// does.
const kindSessionOnce = "session_once"

// onceLifetime bounds how long the browser has to follow the redirect
// after the login; the token is void once used.
const onceLifetime = time.Minute

// maxOnce bounds the spent single-use tokens remembered; past it the
// expired ones are dropped, and if none has expired the oldest goes first
// (a token forgotten early could be replayed only until its minute ends).
const maxOnce = 4096

// onceSet remembers the IDs of spent single-use session tokens until they
// expire.
type onceSet struct {
	mu sync.Mutex
	m  map[string]time.Time // token ID → expiry
}

// spend reports whether the token with this ID and expiry was unspent,
// and marks it spent.
func (s *onceSet) spend(id string, exp, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, spent := s.m[id]; spent {
		return false
	}
	if len(s.m) >= maxOnce {
		oldestID, oldest := "", time.Time{}
		for k, e := range s.m {
			if !now.Before(e) {
				delete(s.m, k)
			} else if oldestID == "" || e.Before(oldest) {
				oldestID, oldest = k, e
			}
		}
		if len(s.m) >= maxOnce {
			delete(s.m, oldestID)
		}
	}
	s.m[id] = exp
	return true
}

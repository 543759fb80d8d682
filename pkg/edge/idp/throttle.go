package idp

import (
	"strings"
	"time"
)

// Limits on password guessing. A form allows maxLoginAttempts tries, but a
// guesser just opens another form, so failures are also counted per
// account and client (and per client across accounts, against a guesser
// who sprays one password over many accounts), on the provider's clock.
// The account is the email as typed, known or not, so that a lockout says
// nothing about which accounts exist. Keying by client as well means a
// guesser elsewhere cannot lock a user out; on this host every local user
// is 127.0.0.1, so a local guesser can, for the length of a lockout.
const (
	// freeFailures wrong passwords for one account from one client cost
	// nothing; the next lock it out for lockoutBase, each one after that
	// for twice as long, up to lockoutMax.
	freeFailures = 5
	// freeClientFailures is the same across all accounts from one client.
	freeClientFailures = 20
	lockoutBase        = time.Minute
	lockoutMax         = 15 * time.Minute
	// failureMemory is how long a failure counts: a record with no
	// failure for that long (and no lockout running) is forgotten.
	failureMemory = time.Hour
	// maxThrottled bounds the records; when they are all in use, a new
	// account or client is refused until one is forgotten.
	maxThrottled = 100000
	// maxAccountKey bounds the email stored in a record.
	maxAccountKey = 254
)

// throttleKey names a failure record: account "" counts a client's
// failures over every account.
type throttleKey struct{ account, client string }

type failures struct {
	n     int       // failures since the record was made or last reset
	last  time.Time // the latest failure
	until time.Time // locked until then
}

// throttleState is the provider's failure records, guarded by Provider.mu.
type throttleState struct {
	m map[throttleKey]*failures
}

// lockedLocked returns how long account's logins from client stay locked,
// or 0. Every record it reads is current.
func (th *throttleState) lockedLocked(account, client string, now time.Time) time.Duration {
	var wait time.Duration
	for _, k := range []throttleKey{{account, client}, {"", client}} {
		if f := th.m[k]; f != nil && now.Before(f.until) {
			wait = max(wait, f.until.Sub(now))
		}
	}
	return wait
}

// failLocked records a wrong password. It returns the lockout it started
// (0 for none) and false when no record could be made (the table is full
// of live records), in which case the attempt must be refused as if
// locked.
func (th *throttleState) failLocked(account, client string, now time.Time) (time.Duration, bool) {
	var started time.Duration
	for _, c := range []struct {
		key  throttleKey
		free int
	}{{throttleKey{account, client}, freeFailures}, {throttleKey{"", client}, freeClientFailures}} {
		f := th.m[c.key]
		if f != nil && !now.Before(f.until) && now.Sub(f.last) >= failureMemory {
			f = nil // forgotten: start over
		}
		if f == nil {
			if !th.roomLocked(now) {
				return 0, false
			}
			f = &failures{}
			th.m[c.key] = f
		}
		f.n++
		f.last = now
		if f.n >= c.free {
			d := lockoutBase << min(f.n-c.free, 10)
			d = min(d, lockoutMax)
			f.until = now.Add(d)
			started = max(started, d)
		}
	}
	return started, true
}

// succeedLocked forgets the account's failures from client after a right
// password. The client's count over all accounts stays: a guesser with an
// account of their own must not reset it by signing in.
func (th *throttleState) succeedLocked(account, client string) {
	delete(th.m, throttleKey{account, client})
}

// roomLocked reports whether one more record fits, forgetting the
// records that no longer count when the table is full.
func (th *throttleState) roomLocked(now time.Time) bool {
	if len(th.m) < maxThrottled {
		return true
	}
	for k, f := range th.m {
		if !now.Before(f.until) && now.Sub(f.last) >= failureMemory {
			delete(th.m, k)
		}
	}
	return len(th.m) < maxThrottled
}

// accountKey is the account a login attempt is counted under.
func accountKey(email string) string {
	k := strings.ToLower(email)
	if len(k) > maxAccountKey {
		k = k[:maxAccountKey]
	}
	return k
}

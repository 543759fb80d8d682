package session

import (
	"sync"
	"time"

	"github.com/ztagent/ztagent/internal/clock"
)

// DefaultRepromptInterval is how long the broker waits before prompting again
// for a session that is still expired (S16).
const DefaultRepromptInterval = 5 * time.Minute

// Reasons a Prompt gives.
const (
	ReasonSessionExpired = "session_expired"
	ReasonReprompt       = "session_still_expired"
	ReasonManual         = "manual"
)

// ExpirySignal is the edge's word that a policy blocked a flow because the
// session authenticated at AuthTime expired.
type ExpirySignal struct {
	AuthTime   time.Time
	PolicyID   string
	PolicyName string
	Filter     string
	// URL is where the user re-authenticates: the refresh-identity URL.
	URL string
}

// Prompt asks front-ends to open URL (a browse_to_url event).
type Prompt struct {
	URL    string
	Reason string
	// PolicyName names the policy whose block caused the prompt, if any.
	PolicyName string
	// AuthTime is the expired session's auth_time (zero for manual prompts).
	AuthTime time.Time
}

// BrokerOptions configures a ReauthBroker.
type BrokerOptions struct {
	// Clock is the time source; the real clock when nil.
	Clock clock.Clock
	// RepromptInterval is the least time between two automatic prompts for
	// the same expiry; DefaultRepromptInterval when zero.
	RepromptInterval time.Duration
	// AllowedOrigins returns the origins or hosts a prompt may open: the
	// registration's team domain and IdP. Every URL is checked against them
	// (SEC4) before it becomes a prompt; without it every URL is refused.
	AllowedOrigins func() []string
}

// ReauthBroker decides when an expired session becomes a browser prompt
// (S16): one prompt per expiry, however many policies block and however often
// they repeat; another only after RepromptInterval if the session is still
// expired; a prompt whenever the user asks. An expiry is identified by the
// auth_time of the session that expired, so a re-authentication (a newer
// auth_time) starts afresh and late signals about the old session are
// dropped. It is safe for concurrent use and starts no goroutines.
type ReauthBroker struct {
	clk      clock.Clock
	interval time.Duration
	allowed  func() []string

	mu         sync.Mutex
	current    time.Time // newest auth_time known to be valid or expired
	pending    bool      // the session at current has expired and is not yet refreshed
	lastPrompt time.Time // when the last prompt for the pending expiry was issued
}

// NewReauthBroker returns a broker with no expiry pending.
func NewReauthBroker(opts BrokerOptions) *ReauthBroker {
	b := &ReauthBroker{clk: opts.Clock, interval: opts.RepromptInterval, allowed: opts.AllowedOrigins}
	if b.clk == nil {
		b.clk = clock.Real()
	}
	if b.interval <= 0 {
		b.interval = DefaultRepromptInterval
	}
	return b
}

// SessionExpired records sig and returns the prompt to publish, or false when
// the user was already prompted for this expiry less than RepromptInterval
// ago, or when sig is about a session older than the newest one known. A
// signal without an AuthTime is taken to be about the newest session. An
// unsafe URL is an error and changes nothing.
func (b *ReauthBroker) SessionExpired(sig ExpirySignal) (Prompt, bool, error) {
	if err := b.check(sig.URL); err != nil {
		return Prompt{}, false, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.clk.Now()
	if sig.AuthTime.IsZero() {
		sig.AuthTime = b.current
	}
	switch {
	case sig.AuthTime.Before(b.current):
		return Prompt{}, false, nil // stale: the user re-authenticated since
	case sig.AuthTime.After(b.current) || !b.pending:
		b.current, b.pending, b.lastPrompt = sig.AuthTime, true, now
		return Prompt{URL: sig.URL, Reason: ReasonSessionExpired, PolicyName: sig.PolicyName, AuthTime: sig.AuthTime}, true, nil
	case now.Sub(b.lastPrompt) >= b.interval:
		b.lastPrompt = now
		return Prompt{URL: sig.URL, Reason: ReasonReprompt, PolicyName: sig.PolicyName, AuthTime: sig.AuthTime}, true, nil
	default:
		return Prompt{}, false, nil
	}
}

// Manual returns a prompt for a re-authentication the user asked for; it is
// never suppressed (only an unsafe URL is refused), and it restarts the
// re-prompt interval.
func (b *ReauthBroker) Manual(url string) (Prompt, error) {
	if err := b.check(url); err != nil {
		return Prompt{}, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.lastPrompt = b.clk.Now()
	return Prompt{URL: url, Reason: ReasonManual}, nil
}

func (b *ReauthBroker) check(url string) error {
	var allowed []string
	if b.allowed != nil {
		allowed = b.allowed()
	}
	_, err := ValidateBrowseURL(url, allowed...)
	return err
}

// SessionRefreshed records a successful IdP authentication at authTime (S2):
// a pending expiry of an older session is resolved. An older authTime than
// the newest known is ignored.
func (b *ReauthBroker) SessionRefreshed(authTime time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if authTime.After(b.current) {
		b.current, b.pending = authTime, false
	}
}

// Pending reports whether an expiry awaits re-authentication.
func (b *ReauthBroker) Pending() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.pending
}

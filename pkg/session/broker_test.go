package session

import (
	"testing"
	"time"

	"github.com/ztagent/ztagent/internal/clock"
)

const refreshURL = "http://acme.localhost:8781/cdn-cgi/access/refresh-identity"

func newBroker(clk clock.Clock) *ReauthBroker {
	return NewReauthBroker(BrokerOptions{Clock: clk, AllowedOrigins: func() []string {
		return []string{"http://acme.localhost:8781", "http://idp.localhost:8782"}
	}})
}

// prompted calls SessionExpired, failing the test on an error.
func prompted(t *testing.T, b *ReauthBroker, sig ExpirySignal) (Prompt, bool) {
	t.Helper()
	p, ok, err := b.SessionExpired(sig)
	if err != nil {
		t.Fatal(err)
	}
	return p, ok
}

func manual(t *testing.T, b *ReauthBroker, url string) Prompt {
	t.Helper()
	p, err := b.Manual(url)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func expired(auth time.Time, policy string) ExpirySignal {
	return ExpirySignal{AuthTime: auth, PolicyID: policy, PolicyName: policy, Filter: "l4", URL: refreshURL}
}

func TestS16_OnePromptPerExpiryAcrossPoliciesAndRepeats(t *testing.T) {
	clk := clock.NewFake(t0)
	b := newBroker(clk)
	if b.Pending() {
		t.Fatal("pending before any expiry")
	}
	p, ok := prompted(t, b, expired(t0, "wiki"))
	if !ok || p.URL != refreshURL || p.Reason != ReasonSessionExpired || p.PolicyName != "wiki" {
		t.Fatalf("first expiry: %+v, %v", p, ok)
	}
	if !b.Pending() {
		t.Fatal("not pending after an expiry")
	}
	for i, policy := range []string{"wiki", "git", "http", "wiki", "ssh"} {
		clk.Advance(30 * time.Second)
		if p, ok := prompted(t, b, expired(t0, policy)); ok {
			t.Fatalf("signal %d (%s) prompted again: %+v", i, policy, p)
		}
	}
}

func TestS16_RepromptAtMostEveryFiveMinutes(t *testing.T) {
	clk := clock.NewFake(t0)
	b := newBroker(clk)
	prompted(t, b, expired(t0, "wiki"))

	clk.Advance(DefaultRepromptInterval - time.Second)
	if _, ok := prompted(t, b, expired(t0, "git")); ok {
		t.Fatal("re-prompted before five minutes")
	}
	clk.Advance(time.Second)
	p, ok := prompted(t, b, expired(t0, "git"))
	if !ok || p.Reason != ReasonReprompt {
		t.Fatalf("no re-prompt at five minutes: %+v %v", p, ok)
	}
	clk.Advance(time.Minute)
	if _, ok := prompted(t, b, expired(t0, "wiki")); ok {
		t.Fatal("re-prompted a minute after a re-prompt")
	}
	// Without new signals nothing is published: the broker only answers.
	clk.Advance(time.Hour)
	if _, ok := prompted(t, b, expired(t0, "wiki")); !ok {
		t.Fatal("no re-prompt an hour later")
	}
}

func TestS16_ManualRequestAlwaysGoesThrough(t *testing.T) {
	clk := clock.NewFake(t0)
	b := newBroker(clk)
	prompted(t, b, expired(t0, "wiki"))
	for i := 0; i < 3; i++ {
		p := manual(t, b, refreshURL)
		if p.Reason != ReasonManual || p.URL != refreshURL {
			t.Fatalf("manual %d: %+v", i, p)
		}
	}
	// A manual prompt restarts the interval for automatic ones.
	clk.Advance(4 * time.Minute)
	if _, ok := prompted(t, b, expired(t0, "wiki")); ok {
		t.Fatal("automatic prompt right after a manual one")
	}
	// Manual works with nothing pending too (agentctl reauth on a valid session).
	if p := manual(t, newBroker(clk), refreshURL); p.URL != refreshURL {
		t.Fatalf("manual without expiry: %+v", p)
	}
}

func TestS16_RefreshStartsAfreshAndDropsStaleSignals(t *testing.T) {
	clk := clock.NewFake(t0)
	b := newBroker(clk)
	prompted(t, b, expired(t0, "wiki"))

	reauth := t0.Add(2 * time.Hour)
	b.SessionRefreshed(reauth)
	if b.Pending() {
		t.Fatal("still pending after the session was refreshed")
	}
	// A signal about the old session that arrives late is stale.
	if _, ok := prompted(t, b, expired(t0, "git")); ok {
		t.Fatal("prompted for a session that was already refreshed")
	}
	// An older refresh does not roll the broker back.
	b.SessionRefreshed(t0)
	// The new session expires later: one prompt again, immediately, even
	// though the last prompt was under five minutes ago.
	clk.Advance(time.Minute)
	p, ok := prompted(t, b, expired(reauth, "wiki"))
	if !ok || p.Reason != ReasonSessionExpired || !p.AuthTime.Equal(reauth) {
		t.Fatalf("new expiry after refresh: %+v, %v", p, ok)
	}
}

func TestS16_RefreshWithSameAuthTimeKeepsPending(t *testing.T) {
	b := newBroker(clock.NewFake(t0))
	prompted(t, b, expired(t0, "wiki"))
	b.SessionRefreshed(t0) // the same, expired session: nothing changed
	if !b.Pending() {
		t.Fatal("a refresh with the expired auth_time resolved the expiry")
	}
}

func TestS16_CustomInterval(t *testing.T) {
	clk := clock.NewFake(t0)
	b := NewReauthBroker(BrokerOptions{Clock: clk, RepromptInterval: time.Minute, AllowedOrigins: func() []string { return []string{"acme.localhost:8781"} }})
	prompted(t, b, expired(t0, "wiki"))
	clk.Advance(time.Minute)
	if _, ok := prompted(t, b, expired(t0, "wiki")); !ok {
		t.Fatal("custom interval ignored")
	}
}

func TestS16_ExpiryWarningFiresOncePerDistinctDeadline(t *testing.T) {
	reqs := []Requirement{
		{PolicyID: "s", Name: "ssh", Filter: "l4", Duration: 30 * time.Minute},
		{PolicyID: "w", Name: "wiki", Filter: "l4", Duration: time.Hour},
	}
	clk := clock.NewFake(t0)
	w := NewExpiryWarner(5 * time.Minute)
	check := func() []Warning { return w.Check(ExpiryMap(reqs, t0, EdgeClock{}, clk.Now())) }
	next := func() time.Time {
		at, ok := w.NextCheck(ExpiryMap(reqs, t0, EdgeClock{}, clk.Now()))
		if !ok {
			t.Fatal("NextCheck found nothing")
		}
		return at
	}

	if got := check(); len(got) != 0 {
		t.Fatalf("warned at start: %+v", got)
	}
	if at := next(); !at.Equal(t0.Add(25 * time.Minute)) {
		t.Fatalf("NextCheck = %v, want 25m after auth", at)
	}
	clk.Set(t0.Add(25 * time.Minute))
	got := check()
	if len(got) != 1 || got[0].PolicyNames[0] != "ssh" || got[0].Remaining != 5*time.Minute {
		t.Fatalf("warnings at 25m: %+v", got)
	}
	for i := 0; i < 3; i++ {
		clk.Advance(time.Minute)
		if got := check(); len(got) != 0 {
			t.Fatalf("repeated warning: %+v", got)
		}
	}
	if at := next(); !at.Equal(t0.Add(55 * time.Minute)) {
		t.Fatalf("NextCheck after ssh warned = %v", at)
	}
	// Jumping past a deadline without checking in its window: no warning
	// for an expiry that already happened.
	clk.Set(t0.Add(61 * time.Minute))
	if got := check(); len(got) != 0 {
		t.Fatalf("warned about an expired deadline: %+v", got)
	}
	if _, ok := w.NextCheck(ExpiryMap(reqs, t0, EdgeClock{}, clk.Now())); ok {
		t.Fatal("NextCheck with everything expired")
	}

	// After re-authentication the deadlines are new and warned about again.
	reauth := t0.Add(61 * time.Minute)
	clk.Set(reauth.Add(26 * time.Minute))
	got = w.Check(ExpiryMap(reqs, reauth, EdgeClock{}, clk.Now()))
	if len(got) != 1 || got[0].PolicyNames[0] != "ssh" || !got[0].ExpiresAt.Equal(reauth.Add(30*time.Minute)) {
		t.Fatalf("warnings after re-authentication: %+v", got)
	}
	if len(w.fired) > 2 {
		t.Fatalf("warner remembers %d deadlines", len(w.fired))
	}
}

func TestS16_SignalWithoutAuthTimeIsAboutTheCurrentSession(t *testing.T) {
	clk := clock.NewFake(t0)
	b := newBroker(clk)
	b.SessionRefreshed(t0)
	p, ok := prompted(t, b, ExpirySignal{PolicyName: "wiki", URL: refreshURL})
	if !ok || !p.AuthTime.Equal(t0) {
		t.Fatalf("signal without auth_time dropped: %+v %v", p, ok)
	}
	if _, ok := prompted(t, b, ExpirySignal{PolicyName: "git", URL: refreshURL}); ok {
		t.Fatal("second signal without auth_time prompted again")
	}
}

func TestS16_BrokerRefusesUnsafeURLs(t *testing.T) {
	b := newBroker(clock.NewFake(t0))
	for _, bad := range []string{"file:///etc/passwd", "calc", "http://evil.example/", "https://acme.localhost:8781/"} {
		if _, ok, err := b.SessionExpired(ExpirySignal{AuthTime: t0, URL: bad}); err == nil || ok {
			t.Errorf("expiry with %q: ok=%v err=%v", bad, ok, err)
		}
		if _, err := b.Manual(bad); err == nil {
			t.Errorf("manual %q accepted", bad)
		}
	}
	if b.Pending() {
		t.Fatal("an unsafe signal changed the broker's state")
	}
	noOrigins := NewReauthBroker(BrokerOptions{Clock: clock.NewFake(t0)})
	if _, err := noOrigins.Manual(refreshURL); err == nil {
		t.Fatal("a broker without allowed origins opened a URL")
	}
}

func TestExpiryWarnerSameInstantInTwoLocations(t *testing.T) {
	reqs := []Requirement{{PolicyID: "s", Name: "ssh", Filter: "l4", Duration: 30 * time.Minute}}
	w := NewExpiryWarner(5 * time.Minute)
	now := t0.Add(26 * time.Minute)
	if got := w.Check(ExpiryMap(reqs, t0, EdgeClock{}, now)); len(got) != 1 {
		t.Fatalf("first check: %+v", got)
	}
	other := t0.In(time.FixedZone("IST", 5*3600+1800))
	if got := w.Check(ExpiryMap(reqs, other, EdgeClock{}, now)); len(got) != 0 {
		t.Fatalf("the same deadline in another location warned again: %+v", got)
	}
}

package accessgate

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/ztagent/ztagent/internal/clock"
	"github.com/ztagent/ztagent/pkg/tfconfig"
)

// loginCookie runs /cdn-cgi/access/authorized for email at host and
// returns the session cookie it sets, with its Max-Age.
func loginCookie(t *testing.T, g *Gate, host, email string) (string, int) {
	t.Helper()
	resp := g.HookRequest(context.Background(), request(t, "http://"+host+"/cdn-cgi/access/authorized?token=ok:"+host+":"+email), requester(email, t0))
	if resp == nil || resp.StatusCode != http.StatusFound {
		t.Fatalf("authorized at %s: %+v", host, resp)
	}
	cs := (&http.Response{Header: resp.Header}).Cookies()
	if len(cs) != 1 {
		t.Fatalf("cookies: %+v", cs)
	}
	return cs[0].Value, cs[0].MaxAge
}

// session_duration "0s" is Access's "No duration, expires immediately":
// the login admits the one request it redirects back to, and the next
// request signs in again. A policy's own duration overrides the
// application's "0s", and a policy's "0s" overrides the application's
// duration.
func TestSessionExpiresImmediately(t *testing.T) {
	staff := pol("Staff", "allow", rules(rule("email_domain", "example.com")), nil, nil)
	hourly := pol("Hourly", "allow", rules(rule("email", "bob@example.com")), nil, nil)
	hourly.SessionDuration = time.Hour
	instant := pol("Instant", "allow", rules(rule("email", "carol@example.com")), nil, nil)
	instant.SessionExpiresImmediately = true
	cfg := &tfconfig.Config{AccessApplications: []*tfconfig.AccessApplication{
		{Name: "Vault", Type: "self_hosted", Domain: "vault.acme.internal", SessionExpiresImmediately: true,
			Policies: apPrec(hourly, 1, staff, 2)},
		{Name: "Wiki", Type: "self_hosted", Domain: "wiki.acme.internal", SessionDuration: 8 * time.Hour,
			Policies: apPrec(instant, 1, staff, 2)},
	}}
	apps, err := Compile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	g, err := New(Options{Apps: apps, TeamDomain: fakeTeam{}, Clock: clock.NewFake(t0)})
	if err != nil {
		t.Fatal(err)
	}
	visit := func(host, email, cookie string) *http.Response {
		return g.HookRequest(context.Background(), request(t, "http://"+host+"/page", "Cookie", CookieName+"="+cookie), requester(email, t0))
	}
	for _, c := range []struct {
		host, email string
		once        bool
		maxAge      int
	}{
		{"vault.acme.internal", "alice@example.com", true, int(onceLifetime / time.Second)},
		{"vault.acme.internal", "bob@example.com", false, 3600},
		{"wiki.acme.internal", "carol@example.com", true, int(onceLifetime / time.Second)},
		{"wiki.acme.internal", "alice@example.com", false, 8 * 3600},
	} {
		cookie, maxAge := loginCookie(t, g, c.host, c.email)
		if maxAge != c.maxAge {
			t.Errorf("%s at %s: cookie Max-Age %d, want %d", c.email, c.host, maxAge, c.maxAge)
		}
		if resp := visit(c.host, c.email, cookie); resp != nil {
			t.Fatalf("%s at %s, the request after the login: %d; want it admitted", c.email, c.host, resp.StatusCode)
		}
		resp := visit(c.host, c.email, cookie)
		switch {
		case c.once && (resp == nil || resp.StatusCode != http.StatusFound):
			t.Errorf("%s at %s, a second request with a session that expires immediately: %+v; want a login redirect", c.email, c.host, resp)
		case !c.once && resp != nil:
			t.Errorf("%s at %s, a second request within the session: %d; want it admitted", c.email, c.host, resp.StatusCode)
		}
	}
}

// A spent token stays spent until it expires; the set never holds more
// than maxOnce, dropping expired tokens first, then the oldest.
func TestOnceSetBound(t *testing.T) {
	s := onceSet{m: map[string]time.Time{}}
	if !s.spend("a", t0.Add(time.Minute), t0) || s.spend("a", t0.Add(time.Minute), t0) {
		t.Fatal("a token was spendable twice, or not once")
	}
	for i := range maxOnce + 10 {
		s.spend(string(rune(0x1000+i)), t0.Add(time.Duration(i+2)*time.Second), t0.Add(90*time.Second))
	}
	if len(s.m) > maxOnce {
		t.Fatalf("%d spent tokens remembered, want at most %d", len(s.m), maxOnce)
	}
	if _, ok := s.m["a"]; ok {
		t.Fatal("an expired token was kept over unexpired ones")
	}
}

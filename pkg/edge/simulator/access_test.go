package simulator

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/ztagent/ztagent/internal/testenv/scriptbrowser"
	"github.com/ztagent/ztagent/pkg/control"
	"github.com/ztagent/ztagent/pkg/edge/accessgate"
)

// S9: the wiki application accepts alice's device session instead of an
// IdP login. The origin receives her e-mail and a JWT that verifies with
// the gate's published key for the wiki's audience, and never the
// Cf-Access-* headers the device sent itself.
func TestS9_DeviceIdentityLetsAliceIntoWiki(t *testing.T) {
	tc := newTestConfig(t)
	wiki := startOrigin(t, "wiki")
	tc.routeWiki(t, wiki)
	s := startSim(t, tc.options(stateDir(t)))
	a := newAgent(t, s, "fp-1")
	a.enroll(alice)
	tn := a.startTunnel()

	spoof := http.Header{
		"Cf-Access-Authenticated-User-Email": {"mallory@contractor.test"},
		"Cf-Access-Jwt-Assertion":            {"forged"},
		"Cf-Access-Client-Id":                {"forged"},
	}
	r := fetchThrough(t, tn, "http://wiki.acme.internal/page", spoof)
	if r.status != http.StatusOK || r.body != "wiki: GET /page" {
		t.Fatalf("wiki with device identity: %d %q (location %q); want the page with no login", r.status, r.body, r.location)
	}
	h := wiki.last(t)
	if got := h.Values(accessgate.HeaderEmail); !slices.Equal(got, []string{alice.Email}) {
		t.Fatalf("the origin saw %s = %q, want only alice's", accessgate.HeaderEmail, got)
	}
	if got := h.Values("Cf-Access-Client-Id"); len(got) != 0 {
		t.Fatalf("a client-supplied Cf-Access-Client-Id reached the origin: %q", got)
	}
	raw := h.Values(accessgate.HeaderAssertion)
	if len(raw) != 1 {
		t.Fatalf("the origin saw %d assertions, want 1", len(raw))
	}

	// Verify as an origin does: with the published key set, for its own
	// audience.
	tok, err := jwt.ParseSigned(raw[0], []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatalf("assertion: %v", err)
	}
	jwks := s.gateway.access.JWKS()
	var c accessgate.Claims
	if err := tok.Claims(jwks.Keys[0].Key, &c); err != nil {
		t.Fatalf("the assertion does not verify with the gate's key: %v", err)
	}
	now := s.Clock().Now()
	if err := c.ValidateWithLeeway(jwt.Expected{Issuer: s.TeamDomainURL(), AnyAudience: jwt.Audience{"wiki.acme.internal"}, Time: now}, 0); err != nil {
		t.Fatalf("assertion claims: %v (%+v)", err, c)
	}
	if c.Email != alice.Email || c.Via != "device" || !slices.Contains(c.Groups, "engineering") {
		t.Fatalf("assertion claims: %+v", c)
	}
	if exp := c.Expiry.Time(); exp.Before(now.Add(11*time.Hour)) || exp.After(now.Add(12*time.Hour+time.Minute)) {
		t.Fatalf("the assertion expires at %v; want the end of the 12h device session (now %v)", exp, now)
	}
	if _, err := s.gateway.access.VerifyAssertion(raw[0], "git.acme.internal"); err == nil {
		t.Fatal("the wiki's assertion verified for the git application")
	}
}

// S9: device identity authenticates bob, and the applications' policies
// decide: the employees' wiki lets him in, the engineers-only application
// (a group rule he does not meet) answers 403 and its origin sees nothing,
// while alice, an engineer, gets in.
func TestS9_GroupsKeepBobOut(t *testing.T) {
	tc := newTestConfig(t)
	eng := startOrigin(t, "eng")
	tc.addEngineers(t, eng)
	s := startSim(t, tc.options(stateDir(t)))

	ab := newAgent(t, s, "fp-bob")
	ab.enroll(bob)
	tb := ab.startTunnel()
	r := fetchThrough(t, tb, "http://eng.acme.internal/", nil)
	if r.status != http.StatusForbidden || !strings.Contains(r.body, "Access denied") || !strings.Contains(r.body, "bob@example.com") {
		t.Fatalf("bob at the engineers' application: %d %q", r.status, r.body)
	}
	if eng.count() != 0 {
		t.Fatal("the engineers' origin received bob's request")
	}
	if r := fetchThrough(t, tb, "http://wiki.acme.internal/", nil); r.status != http.StatusOK {
		t.Fatalf("bob at the employees' wiki: %d %q", r.status, r.body)
	}

	aa := newAgent(t, s, "fp-alice")
	aa.enroll(alice)
	ta := aa.startTunnel()
	if r := fetchThrough(t, ta, "http://eng.acme.internal/x", nil); r.status != http.StatusOK || r.body != "eng: GET /x" {
		t.Fatalf("alice at the engineers' application: %d %q", r.status, r.body)
	}
	if got := eng.last(t).Get(accessgate.HeaderEmail); got != alice.Email {
		t.Fatalf("the engineers' origin saw %q", got)
	}
	if !containsKind(auditKinds(t, s), "access_denied") {
		t.Fatal("bob's denial is not in the audit log")
	}
}

// S10: once the Access device session (warp_auth_session_duration, 1h in
// this copy; the wiki's Gateway policy allows 1h30m) has expired, the wiki
// sends alice to the team domain's login, and her device gets one
// session_expired for the application. Completing that login (an IdP
// authentication, S2) brings her to the page she asked for, and the device
// session starts again.
func TestS10_ExpiredDeviceSessionAsksForLogin(t *testing.T) {
	tc := newTestConfig(t)
	tc.editTF(t, `warp_auth_session_duration\s*=\s*"12h"`, `warp_auth_session_duration  = "1h"`)
	s := startSim(t, tc.options(stateDir(t)))
	a := newAgent(t, s, "fp-1")
	reg := a.enroll(alice)
	tn := a.startTunnel()
	st, err := a.api().Events(t.Context(), reg.DeviceID, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()

	if r := fetchThrough(t, tn, "http://wiki.acme.internal/page?x=1", nil); r.status != http.StatusOK {
		t.Fatalf("wiki inside the device session: %d %q", r.status, r.body)
	}
	advance(t, s, 61*time.Minute)
	r := fetchThrough(t, tn, "http://wiki.acme.internal/page?x=1", nil)
	wantLogin := s.TeamDomainURL() + "/cdn-cgi/access/login/wiki.acme.internal?" +
		url.Values{"redirect_url": {"http://wiki.acme.internal/page?x=1"}}.Encode()
	if r.status != http.StatusFound || r.location != wantLogin {
		t.Fatalf("wiki after the device session: %d to %q; want 302 to %q", r.status, r.location, wantLogin)
	}
	ev := nextEvent(t, st)
	var se control.SessionExpired
	if ev.Type != control.EventSessionExpired || json.Unmarshal(ev.Payload, &se) != nil ||
		se.PolicyName != "Company wiki" || se.Filter != "access" || se.PolicyID == "" {
		t.Fatalf("event: %+v %s", ev, ev.Payload)
	}
	fetchThrough(t, tn, "http://wiki.acme.internal/again", nil) // no second signal for the same session

	b := browserThrough(t, tn)
	res, err := b.Visit(t.Context(), "http://wiki.acme.internal/page?x=1", scriptbrowser.VisitOptions{Login: alice})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != http.StatusOK || res.Body != "wiki: GET /page" || res.FormsSubmitted != 1 {
		t.Fatalf("login from the wiki ended at %s with %d %q (forms submitted %d)\n%v", res.URL, res.Status, res.Body, res.FormsSubmitted, res.Visited)
	}
	if !slices.ContainsFunc(res.Visited, func(u string) bool {
		return strings.HasPrefix(u, "http://wiki.acme.internal/cdn-cgi/access/authorized?")
	}) {
		t.Fatalf("the login did not go through the wiki's authorized endpoint: %v", res.Visited)
	}
	// The signal came once: the next event is the login's refresh (S2).
	if ev := nextEvent(t, st); ev.Type != control.EventSessionRefreshed {
		t.Fatalf("after the Access login: %+v %s", ev, ev.Payload)
	}
	if r := fetchThrough(t, tn, "http://wiki.acme.internal/", nil); r.status != http.StatusOK {
		t.Fatalf("wiki with no cookie after the login reset the device session: %d %q", r.status, r.body)
	}
	if !containsKind(auditKinds(t, s), "access_login_required") {
		t.Fatal("the login redirect is not in the audit log")
	}
}

// The git web UI binds its cookie to the browser, so device identity never
// applies: even a fresh device session is sent to log in, and no
// session_expired is signalled. The scripted browser, through the tunnel,
// completes /cdn-cgi/access/login and /cdn-cgi/access/authorized and gets
// the application; its CF_Authorization cookie then lets it in without a
// login, and a token that is not the team domain's is refused.
func TestBindingCookieAppAsksForLogin(t *testing.T) {
	tc := newTestConfig(t)
	git := startOrigin(t, "git")
	tc.routeGit(t, git)
	s := startSim(t, tc.options(stateDir(t)))
	a := newAgent(t, s, "fp-1")
	a.enroll(alice)
	tn := a.startTunnel()

	r := fetchThrough(t, tn, "http://git.acme.internal/repo", nil)
	if r.status != http.StatusFound || !strings.HasPrefix(r.location, s.TeamDomainURL()+"/cdn-cgi/access/login/git.acme.internal?") {
		t.Fatalf("git with a fresh device session: %d to %q; want a login", r.status, r.location)
	}
	if git.count() != 0 {
		t.Fatal("the git origin received a request before the login")
	}

	b := browserThrough(t, tn)
	res, err := b.Visit(t.Context(), "http://git.acme.internal/repo", scriptbrowser.VisitOptions{Login: alice})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != http.StatusOK || res.Body != "git: GET /repo" || res.FormsSubmitted != 1 {
		t.Fatalf("login from git ended at %s with %d %q (forms submitted %d)\n%v", res.URL, res.Status, res.Body, res.FormsSubmitted, res.Visited)
	}
	if got := git.last(t).Get(accessgate.HeaderEmail); got != alice.Email {
		t.Fatalf("the git origin saw %q", got)
	}
	if ck := b.Cookies("http://git.acme.internal/"); !slices.ContainsFunc(ck, func(c *http.Cookie) bool { return c.Name == accessgate.CookieName }) {
		t.Fatalf("no %s cookie on the git application: %v", accessgate.CookieName, ck)
	}

	res, err = b.Visit(t.Context(), "http://git.acme.internal/tree", scriptbrowser.VisitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != http.StatusOK || res.Body != "git: GET /tree" || len(res.Visited) != 1 {
		t.Fatalf("git with its cookie: %d %q after %v", res.Status, res.Body, res.Visited)
	}
	if ck := b.Cookies("http://wiki.acme.internal/"); len(ck) != 0 {
		t.Fatalf("the git cookie is sent to the wiki: %v", ck)
	}

	r = fetchThrough(t, tn, "http://git.acme.internal/cdn-cgi/access/authorized?token=forged&redirect_url=http://git.acme.internal/", nil)
	if r.status != http.StatusUnauthorized || !strings.Contains(r.body, "/cdn-cgi/access/login/git.acme.internal") {
		t.Fatalf("a forged application token: %d %q", r.status, r.body)
	}
	r = fetchThrough(t, tn, "http://git.acme.internal/repo", http.Header{"Cookie": {accessgate.CookieName + "=forged"}})
	if r.status != http.StatusFound {
		t.Fatalf("git with a forged cookie: %d", r.status)
	}
}

package access

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/ztagent/ztagent/internal/testenv/scriptbrowser"
	"github.com/ztagent/ztagent/pkg/apierror"
)

func TestEnrollmentEndToEnd(t *testing.T) {
	e := newEnv(t, envOptions{})
	b := e.browser()
	code, verifier, res := e.enroll(b, alice)
	if res.FormsShown != 1 {
		t.Fatalf("the IdP form was shown %d times, want 1", res.FormsShown)
	}
	// The browser went team domain → IdP → team domain → agent.
	if !strings.HasPrefix(res.Visited[0], e.tdURL+PathWARP) || !slices.ContainsFunc(res.Visited, func(u string) bool {
		return strings.HasPrefix(u, e.tdURL+PathCallback+"?")
	}) {
		t.Fatalf("visited %v", res.Visited)
	}
	if l := e.loginsSoFar(); len(l) != 1 || l[0].Trigger != TriggerEnrollment || l[0].Email != "alice@acme.example" {
		t.Fatalf("OnLogin calls: %+v", l)
	}

	login, err := e.td.RedeemEnrollment(context.Background(), code, verifier)
	if err != nil {
		t.Fatal(err)
	}
	if login.Email != "alice@acme.example" || login.Name != "Alice Liddell" || !slices.Equal(login.Groups, []string{"engineering"}) ||
		!login.AuthTime.Equal(epoch) || login.Trigger != TriggerEnrollment || login.IdPType != "azureAD" || login.Subject == "" ||
		login.Issuer != "http://idp.localhost:"+e.idpSrv.port {
		t.Fatalf("login: %+v", login)
	}

	// One shot.
	_, err = e.td.RedeemEnrollment(context.Background(), code, verifier)
	var ae *apierror.Error
	if !errors.Is(err, ErrInvalidGrant) || !errors.As(err, &ae) || !strings.Contains(err.Error(), "already used") {
		t.Fatalf("reused code: %v", err)
	}
	for _, typ := range []string{"authorize", "login", "enrollment_redeemed", "enrollment_refused"} {
		if e.countEvents(typ) != 1 {
			t.Errorf("audit: %d %q events, want 1: %+v", e.countEvents(typ), typ, e.events())
		}
	}
}

func TestEnrollmentOverIPv6Loopback(t *testing.T) {
	e := newEnv(t, envOptions{})
	const cb = "http://[::1]:4567/cb?x=1"
	b := e.browser()
	verifier := oauth2.GenerateVerifier()
	res := e.visit(b, e.warpURL(cb, "s6", verifier), scriptbrowser.VisitOptions{Login: alice, StopAt: []string{"http://[::1]:4567/"}})
	q := res.Query()
	if !res.Stopped || q.Get("x") != "1" || q.Get("state") != "s6" || q.Get("code") == "" {
		t.Fatalf("IPv6 callback: %+v", res)
	}
	if _, err := e.td.RedeemEnrollment(context.Background(), q.Get("code"), verifier); err != nil {
		t.Fatal(err)
	}
}

func TestRedeemWrongVerifierBurnsCode(t *testing.T) {
	e := newEnv(t, envOptions{})
	code, verifier, _ := e.enroll(e.browser(), alice)

	_, err := e.td.RedeemEnrollment(context.Background(), code, oauth2.GenerateVerifier())
	if !errors.Is(err, ErrInvalidGrant) || !strings.Contains(err.Error(), "does not match") {
		t.Fatalf("wrong verifier: %v", err)
	}
	if _, err := e.td.RedeemEnrollment(context.Background(), code, verifier); !errors.Is(err, ErrInvalidGrant) {
		t.Fatalf("the right verifier after a wrong one: %v, want the code burned", err)
	}

	code, _, _ = e.enroll(e.browser(), alice)
	if _, err := e.td.RedeemEnrollment(context.Background(), code, "short"); !errors.Is(err, ErrInvalidGrant) {
		t.Fatalf("malformed verifier: %v", err)
	}
	_, err = e.td.RedeemEnrollment(context.Background(), "", verifier)
	var ae *apierror.Error
	if !errors.Is(err, ErrInvalidRequest) || !errors.As(err, &ae) {
		t.Fatalf("empty code: %v", err)
	}
	if _, err := e.td.RedeemEnrollment(context.Background(), "made-up-code", verifier); !errors.Is(err, ErrInvalidGrant) {
		t.Fatalf("unknown code: %v", err)
	}
}

func TestEnrollmentCodeExpires(t *testing.T) {
	e := newEnv(t, envOptions{})
	b := e.browser()
	code, verifier, _ := e.enroll(b, alice)
	e.clk.Advance(EnrollmentCodeLifetime - time.Second)
	if _, err := e.td.RedeemEnrollment(context.Background(), code, verifier); err != nil {
		t.Fatalf("a code just inside its lifetime: %v", err)
	}

	code, verifier, _ = e.enroll(b, nil) // the IdP session signs in silently
	e.clk.Advance(EnrollmentCodeLifetime)
	_, err := e.td.RedeemEnrollment(context.Background(), code, verifier)
	if !errors.Is(err, ErrInvalidGrant) || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("expired code: %v", err)
	}
}

// callbackURL starts an enrollment in b (which must have an IdP session)
// and stops at the team domain's callback, returning its URL unvisited.
func (e *env) callbackURL(b *scriptbrowser.Browser, verifier string) string {
	e.t.Helper()
	res := e.visit(b, e.warpURL(agentCB, "s", verifier), scriptbrowser.VisitOptions{StopAt: []string{e.tdURL + PathCallback}})
	if !res.Stopped || res.Query().Get("code") == "" {
		e.t.Fatalf("expected to stop at the callback: %+v", res)
	}
	return res.URL
}

func TestPendingLoginExpires(t *testing.T) {
	e := newEnv(t, envOptions{})
	b := e.browser()
	e.enroll(b, alice) // an IdP session
	before := len(e.loginsSoFar())

	cb := e.callbackURL(b, oauth2.GenerateVerifier())
	e.clk.Advance(LoginLifetime)
	res := e.visit(b, cb, scriptbrowser.VisitOptions{})
	if res.Status != http.StatusBadRequest || !strings.Contains(res.ErrorText, "expired") || res.Stopped {
		t.Fatalf("expired login: %d %q", res.Status, res.ErrorText)
	}
	if len(e.loginsSoFar()) != before {
		t.Fatal("OnLogin called for an expired login")
	}
}

func TestCallbackRefusesWrongStateAndOtherBrowser(t *testing.T) {
	e := newEnv(t, envOptions{})
	b := e.browser()
	e.enroll(b, alice)
	before := len(e.loginsSoFar())

	// A state nobody issued.
	cb := e.callbackURL(b, oauth2.GenerateVerifier())
	u, _ := url.Parse(cb)
	q := u.Query()
	q.Set("state", "forged-state")
	u.RawQuery = q.Encode()
	res := e.visit(b, u.String(), scriptbrowser.VisitOptions{})
	if res.Status != http.StatusBadRequest || !strings.Contains(res.ErrorText, "unknown") {
		t.Fatalf("wrong state: %d %q", res.Status, res.ErrorText)
	}

	// The real callback URL, replayed in another browser, then in the
	// right one: the state was spent by the first attempt.
	cb = e.callbackURL(b, oauth2.GenerateVerifier())
	res = e.visit(e.browser(), cb, scriptbrowser.VisitOptions{})
	if res.Status != http.StatusBadRequest || !strings.Contains(res.ErrorText, "another browser") {
		t.Fatalf("other browser: %d %q", res.Status, res.ErrorText)
	}
	res = e.visit(b, cb, scriptbrowser.VisitOptions{})
	if res.Status != http.StatusBadRequest || res.Stopped {
		t.Fatalf("replayed callback: %d %+v", res.Status, res)
	}
	if len(e.loginsSoFar()) != before {
		t.Fatal("OnLogin called for a refused callback")
	}
	// The IdP's own error comes back as a page, too.
	cb = e.callbackURL(b, oauth2.GenerateVerifier())
	u, _ = url.Parse(cb)
	q = u.Query()
	q.Del("code")
	q.Set("error", "access_denied")
	u.RawQuery = q.Encode()
	res = e.visit(b, u.String(), scriptbrowser.VisitOptions{})
	if res.Status != http.StatusBadRequest || !strings.Contains(res.ErrorText, "denied") {
		t.Fatalf("IdP error: %d %q", res.Status, res.ErrorText)
	}
}

func TestWARPRefusesBadRequests(t *testing.T) {
	e := newEnv(t, envOptions{})
	verifier := oauth2.GenerateVerifier()
	for _, ru := range []string{
		"", "http://localhost:4567/callback", "http://10.0.0.1:4567/callback", "https://evil.example/callback",
		"https://127.0.0.1:4567/callback", "http://127.0.0.1/callback", "http://127.0.0.1:0/callback",
		"http://127.1:4567/callback", "http://127.0.0.2:4567/callback", "http://[::ffff:127.0.0.1]:4567/callback",
		"http://[::1%25lo]:4567/callback", "http://user@127.0.0.1:4567/callback", "http://127.0.0.1:4567/callback#frag",
		"http://127.0.0.1:04567/callback", "//127.0.0.1:4567/callback", "http://evil.example@127.0.0.1:4567/",
	} {
		res := e.visit(e.browser(), e.warpURL(ru, "s", verifier), scriptbrowser.VisitOptions{Login: alice})
		if res.Status != http.StatusBadRequest || !strings.Contains(res.ErrorText, "redirect_uri") || res.FormShown() || len(res.Visited) != 1 {
			t.Errorf("redirect_uri %q: %d %q visited %v", ru, res.Status, res.ErrorText, res.Visited)
		}
	}

	base := url.Values{"redirect_uri": {agentCB}, "state": {"s"}, "code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}, "code_challenge_method": {"S256"}}
	for name, mutate := range map[string]func(url.Values){
		"no state":          func(v url.Values) { v.Del("state") },
		"plain method":      func(v url.Values) { v.Set("code_challenge_method", "plain") },
		"no challenge":      func(v url.Values) { v.Del("code_challenge") },
		"short challenge":   func(v url.Values) { v.Set("code_challenge", "abc") },
		"repeated state":    func(v url.Values) { v.Add("state", "t") },
		"repeated redirect": func(v url.Values) { v.Add("redirect_uri", "http://10.0.0.1:1/") },
	} {
		v := url.Values{}
		for k, x := range base {
			v[k] = slices.Clone(x)
		}
		mutate(v)
		res := e.visit(e.browser(), e.tdURL+PathWARP+"?"+v.Encode(), scriptbrowser.VisitOptions{Login: alice})
		if res.Status != http.StatusBadRequest || res.ErrorText == "" || len(res.Visited) != 1 {
			t.Errorf("%s: %d %q", name, res.Status, res.ErrorText)
		}
	}
	if n := e.countEvents("authorize"); n != 0 || len(e.loginsSoFar()) != 0 {
		t.Fatalf("refused requests reached the IdP: %d authorize events", n)
	}
}

func TestLoopbackRedirectAccepts(t *testing.T) {
	for _, ok := range []string{"http://127.0.0.1:4567/callback", "http://[::1]:1/", "http://127.0.0.1:65535", "HTTP://127.0.0.1:80/a?b=c"} {
		if _, why := loopbackRedirect(ok); why != "" {
			t.Errorf("%q refused: %s", ok, why)
		}
	}
}

// TestIdPDiscoveredLazily: the team domain starts while the IdP is down,
// explains the failure, and works once the IdP is up.
func TestIdPDiscoveredLazily(t *testing.T) {
	e := newEnv(t, envOptions{startIdPLater: true})
	b := e.browser()
	res := e.visit(b, e.warpURL(agentCB, "s", oauth2.GenerateVerifier()), scriptbrowser.VisitOptions{Login: alice})
	if res.Status != http.StatusBadGateway || !strings.Contains(res.ErrorText, "could not be reached") || res.FormShown() {
		t.Fatalf("IdP down: %d %q", res.Status, res.ErrorText)
	}
	e.startIdP()
	code, verifier, _ := e.enroll(b, alice)
	if _, err := e.td.RedeemEnrollment(context.Background(), code, verifier); err != nil {
		t.Fatal(err)
	}
}

// TestGenericOIDCProvider: a second IdP instance, configured as a generic
// "oidc" provider with explicit endpoints (no discovery) and an RSA key,
// enrolls a device: the relying party is not tied to the built-in IdP.
func TestGenericOIDCProvider(t *testing.T) {
	e := newEnv(t, envOptions{idpType: "oidc", explicitEndpoints: true})
	code, verifier, _ := e.enroll(e.browser(), bob)
	login, err := e.td.RedeemEnrollment(context.Background(), code, verifier)
	if err != nil {
		t.Fatal(err)
	}
	if login.IdPType != "oidc" || login.Email != "bob@acme.example" || !slices.Equal(login.Groups, []string{"sales"}) || login.Prompt != "" {
		t.Fatalf("login: %+v", login)
	}
}

func TestOnLoginFailureStopsTheFlow(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.setFailOn(func(Login) error {
		return errors.New("the device registry is closed; try again once the edge has restarted")
	})
	res := e.visit(e.browser(), e.warpURL(agentCB, "s", oauth2.GenerateVerifier()), scriptbrowser.VisitOptions{Login: alice})
	if res.Stopped || res.Status != http.StatusInternalServerError || !strings.Contains(res.ErrorText, "registry is closed") {
		t.Fatalf("OnLogin failure: %d stopped=%v %q", res.Status, res.Stopped, res.ErrorText)
	}
	if e.countEvents("login") != 0 || e.countEvents("login_failed") != 1 {
		t.Fatalf("audit: %+v", e.events())
	}
}

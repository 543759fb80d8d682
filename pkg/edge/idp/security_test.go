package idp

import (
	"context"
	"crypto"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/crypto/bcrypt"

	"github.com/ztagent/ztagent/internal/secret"
)

func TestAuditEventsCarryPromptAndReuse(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.signIn(authParams(), "alice@acme.example", alicePassword)                                   // authorize(form) + login
	e.clk.Advance(time.Minute)                                                                    //
	codeFrom(t, b.authorize(authParams()), accessCB, "st-123")                                    // authorize(reused)
	b.login(formID(t, b.authorize(authParams("prompt", "login"))), "alice@acme.example", "wrong") // authorize(form) + login_failed
	b.authorize(authParams("prompt", "none", "max_age", "1"))                                     // authorize(login_required)

	got := e.events()
	want := []AuditEvent{
		{Type: "authorize", Time: epoch, ClientID: accessID, Result: "form"},
		{Type: "login", Time: epoch, ClientID: accessID, User: "alice@acme.example", AuthTime: epoch, Result: "code"},
		{Type: "authorize", Time: epoch.Add(time.Minute), ClientID: accessID, SessionReused: true, User: "alice@acme.example", AuthTime: epoch, Result: "code"},
		{Type: "authorize", Time: epoch.Add(time.Minute), ClientID: accessID, Prompt: "login", Result: "form"},
		{Type: "login_failed", Time: epoch.Add(time.Minute), ClientID: accessID, Prompt: "login", User: "alice@acme.example", Result: "invalid_credentials", Client: "127.0.0.1"},
		{Type: "authorize", Time: epoch.Add(time.Minute), ClientID: accessID, Prompt: "none", Result: "login_required"},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("audit events:\n got %+v\nwant %+v", got, want)
	}
}

// TestSecretsNeverInLogsOrAudit plants canary passwords and a client secret
// and greps every log line and audit event for them (SEC5).
func TestSecretsNeverInLogsOrAudit(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	id := formID(t, b.authorize(authParams()))
	b.login(id, "alice@acme.example", bobPassword)   // another user's password
	b.login(id, alicePassword, alicePassword)        // password typed into the email field
	b.login(id, "bob@acme.example", "x"+bobPassword) // near miss
	code := codeFrom(t, b.login(id, "alice@acme.example", alicePassword), accessCB, "st-123")
	e.exchange(accessID, "wrong-"+accessSecret, code, accessCB, testVerifier)
	e.exchangeOK(b.signIn(authParams("prompt", "login"), "alice@acme.example", alicePassword))

	logs := e.logs.String()
	audit := fmt.Sprintf("%+v %#v", e.events(), e.events())
	if !strings.Contains(logs, "idp: login") || len(e.events()) < 5 {
		t.Fatalf("expected logs and audit events, got %q", logs)
	}
	for _, canary := range []string{"CANARY", code} {
		if strings.Contains(logs, canary) || strings.Contains(audit, canary) {
			t.Fatalf("%q leaked:\nlogs: %s\naudit: %s", canary, logs, audit)
		}
	}
}

// TestLoginFormIsBoundToTheBrowser: a form posted from another browser
// (login CSRF) or from another site is refused.
func TestLoginFormIsBoundToTheBrowser(t *testing.T) {
	e := newEnv(t)
	id := formID(t, e.browser().authorize(authParams()))
	if pg := e.browser().login(id, "alice@acme.example", alicePassword); pg.status != http.StatusBadRequest || pg.location != "" {
		t.Fatalf("form posted from another browser: %d %q", pg.status, pg.location)
	}
	b := e.browser()
	id = formID(t, b.authorize(authParams()))
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+PathLogin, strings.NewReader(url.Values{
		"request": {id}, "email": {"alice@acme.example"}, "password": {alicePassword}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://evil.example")
	if pg := b.do(req); pg.status != http.StatusForbidden {
		t.Fatalf("cross-origin post: %d", pg.status)
	}
	if pg := b.login("made-up-id", "alice@acme.example", alicePassword); pg.status != http.StatusBadRequest {
		t.Fatalf("unknown form id: %d", pg.status)
	}
}

func TestLoginFormExpires(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	id := formID(t, b.authorize(authParams()))
	e.clk.Advance(PendingLifetime)
	if pg := b.login(id, "alice@acme.example", alicePassword); pg.status != http.StatusBadRequest || !strings.Contains(pg.body, "sign in again") {
		t.Fatalf("expired form: %d %q", pg.status, pg.body)
	}
}

func TestSessionCookie(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	pg := b.authorize(authParams())
	resp, err := b.c.PostForm(e.srv.URL+PathLogin, url.Values{"request": {formID(t, pg)}, "email": {"alice@acme.example"}, "password": {alicePassword}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var found bool
	for _, c := range resp.Cookies() {
		if c.Name == sessionCookie {
			found = true
			if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" {
				t.Fatalf("session cookie attributes: %+v", c)
			}
		}
	}
	if !found {
		t.Fatal("no session cookie after login")
	}
	// The session ends after its lifetime.
	e.clk.Advance(DefaultSessionLifetime)
	formID(t, b.authorize(authParams()))
}

// TestSetUsersReloadsGroups: a reload keeps the session and the next token
// carries the new groups (S12).
func TestSetUsersReloadsGroups(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	e.exchangeOK(b.signIn(authParams(), "alice@acme.example", alicePassword))
	users := testUsers()
	users[0].Groups = []string{"contractors"}
	if err := e.p.SetUsers(users); err != nil {
		t.Fatal(err)
	}
	c := claimsOf(t, e.exchangeOK(codeFrom(t, b.authorize(authParams()), accessCB, "st-123")))
	if fmt.Sprint(c.Groups) != "[contractors]" || c.AuthTime != epoch.Unix() {
		t.Fatalf("after reload: %+v", c)
	}
	if err := e.p.SetUsers([]User{{Email: "x@y", Password: secret.Value{}}}); err == nil {
		t.Fatal("SetUsers accepted a user without a password")
	}
	if err := e.p.SetUsers(users[1:]); err != nil {
		t.Fatal(err)
	}
	formID(t, b.authorize(authParams())) // alice is gone: her session is too
}

func TestBodiesAreBounded(t *testing.T) {
	e := newEnv(t)
	big := strings.Repeat("a", maxBodyBytes+1)
	for _, path := range []string{PathToken, PathLogin, PathAuthorize} {
		resp, err := e.srv.Client().PostForm(e.srv.URL+path, url.Values{"x": {big}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s with a %d-byte body: %d", path, len(big), resp.StatusCode)
		}
	}
}

func TestNewReportsEveryConfigError(t *testing.T) {
	_, err := New(Options{
		Issuer: "idp.localhost:8782",
		Users: []User{
			{Email: "alice", Password: secret.New("pw-123456")},
			{Email: "bob@x", Password: secret.New(strings.Repeat("p", 73))},
			{Email: "carol@x"},
		},
		Clients: []Client{
			{ID: "a"}, {ID: "b", RedirectURIs: []string{"/relative"}},
		},
		BcryptCost: bcrypt.MinCost,
	})
	if err == nil {
		t.Fatal("New accepted a bad configuration")
	}
	for _, want := range []string{"issuer", `"alice" is not an email`, "longer than 72 bytes", `"carol@x" has no password`,
		`client 1 ("a"): no redirect URIs`, `"/relative" must be an absolute URL`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "pw-123456") {
		t.Fatal("a password leaked into the error")
	}
}

// TestDefaultRSAKey: without a signing key the provider makes an RSA key
// and signs with RS256, the algorithm every OIDC relying party supports.
func TestDefaultRSAKey(t *testing.T) {
	e := newEnv(t)
	p, err := New(Options{Issuer: e.srv.URL, Users: testUsers(), Clients: []Client{{ID: "c", RedirectURIs: []string{accessCB}}}, BcryptCost: bcrypt.MinCost})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if p.alg != "RS256" || p.jwks.Keys[0].Algorithm != "RS256" {
		t.Fatalf("alg %s", p.alg)
	}
	raw, err := p.sign(Claims{Issuer: p.Issuer(), Audience: "c", Subject: "s", Expiry: time.Now().Add(time.Hour).Unix(), IssuedAt: time.Now().Unix()})
	if err != nil {
		t.Fatal(err)
	}
	ks := &oidc.StaticKeySet{PublicKeys: []crypto.PublicKey{p.jwks.Keys[0].Key}}
	if _, err := oidc.NewVerifier(p.Issuer(), ks, &oidc.Config{ClientID: "c"}).Verify(context.Background(), raw); err != nil {
		t.Fatal(err)
	}
}

func TestClosedProviderRefuses(t *testing.T) {
	e := newEnv(t)
	_ = e.p.Close()
	if pg := e.browser().get(e.srv.URL + PathDiscovery); pg.status != http.StatusServiceUnavailable {
		t.Fatalf("after Close: %d", pg.status)
	}
}

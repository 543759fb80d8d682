package idp

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"
)

func TestDiscoveryAndJWKS(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	pg := b.get(e.srv.URL + PathDiscovery)
	var d map[string]any
	if err := json.Unmarshal([]byte(pg.body), &d); err != nil || pg.status != http.StatusOK {
		t.Fatalf("discovery: %d %v", pg.status, err)
	}
	for k, want := range map[string]string{
		"issuer": e.srv.URL, "authorization_endpoint": e.srv.URL + PathAuthorize,
		"token_endpoint": e.srv.URL + PathToken, "jwks_uri": e.srv.URL + PathJWKS,
	} {
		if d[k] != want {
			t.Errorf("%s = %v, want %s", k, d[k], want)
		}
	}
	if fmt.Sprint(d["code_challenge_methods_supported"]) != "[S256]" || fmt.Sprint(d["id_token_signing_alg_values_supported"]) != "[ES256]" {
		t.Errorf("discovery: %v", d)
	}
	var set jose.JSONWebKeySet
	pg = b.get(e.srv.URL + PathJWKS)
	if err := json.Unmarshal([]byte(pg.body), &set); err != nil {
		t.Fatal(err)
	}
	if len(set.Keys) != 1 || !set.Keys[0].IsPublic() || set.Keys[0].KeyID == "" || set.Keys[0].Algorithm != "ES256" {
		t.Fatalf("jwks: %+v", set.Keys)
	}
}

// TestRelyingPartyCodeFlowWithPKCE drives the whole flow as a standard
// relying party would: go-oidc discovery and verification, x/oauth2's
// AuthCodeURL and Exchange with PKCE, and a browser with a cookie jar.
func TestRelyingPartyCodeFlowWithPKCE(t *testing.T) {
	for _, tc := range []struct{ name, id, secret, cb string }{
		{"confidential", accessID, accessSecret, accessCB},
		{"public", agentID, "", agentCB},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			ctx := context.WithValue(context.Background(), oauth2.HTTPClient, e.srv.Client())
			ctx = oidc.ClientContext(ctx, e.srv.Client())
			rp, err := oidc.NewProvider(ctx, e.srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			conf := oauth2.Config{ClientID: tc.id, ClientSecret: tc.secret, Endpoint: rp.Endpoint(),
				RedirectURL: tc.cb, Scopes: []string{oidc.ScopeOpenID, "email", "profile"}}
			verifier := oauth2.GenerateVerifier()
			authURL := conf.AuthCodeURL("state-xyz", oauth2.S256ChallengeOption(verifier), oidc.Nonce("nonce-abc"))

			b := e.browser()
			code := codeFrom(t, b.login(formID(t, b.get(authURL)), "Alice@acme.example", alicePassword), tc.cb, "state-xyz")
			tok, err := conf.Exchange(ctx, code, oauth2.VerifierOption(verifier))
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := tok.Extra("id_token").(string)
			idt, err := rp.Verifier(&oidc.Config{ClientID: tc.id, Now: e.clk.Now}).Verify(ctx, raw)
			if err != nil {
				t.Fatal(err)
			}
			if idt.Nonce != "nonce-abc" || idt.Issuer != e.srv.URL || !slices.Equal(idt.Audience, []string{tc.id}) {
				t.Fatalf("id token: iss %q aud %v nonce %q", idt.Issuer, idt.Audience, idt.Nonce)
			}
			var c Claims
			if err := idt.Claims(&c); err != nil {
				t.Fatal(err)
			}
			if c.Email != "alice@acme.example" || c.Name != "Alice Liddell" || !slices.Equal(c.Groups, []string{"engineering", "admins"}) ||
				c.AuthTime != epoch.Unix() || c.Subject == "" {
				t.Fatalf("claims: %+v", c)
			}
			if tok.AccessToken == "" || tok.TokenType != "Bearer" {
				t.Fatalf("access token: %+v", tok)
			}
			// Another audience is refused by the relying party's verifier.
			if _, err := rp.Verifier(&oidc.Config{ClientID: "other", Now: e.clk.Now}).Verify(ctx, raw); err == nil {
				t.Fatal("token accepted for another audience")
			}
		})
	}
}

// TestS1S2SessionReuseKeepsAuthTime: with an IdP session the next authorize
// request gets a code without the form, and its ID token carries the
// original auth_time.
func TestS1S2SessionReuseKeepsAuthTime(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	e.exchangeOK(b.signIn(authParams(), "alice@acme.example", alicePassword))

	e.clk.Advance(30 * time.Minute)
	pg := b.authorize(authParams("state", "second"))
	code := codeFrom(t, pg, accessCB, "second") // no form in between
	if c := claimsOf(t, e.exchangeOK(code)); c.AuthTime != epoch.Unix() || c.IssuedAt != epoch.Add(30*time.Minute).Unix() {
		t.Fatalf("reused session: auth_time %d iat %d, want auth_time %d", c.AuthTime, c.IssuedAt, epoch.Unix())
	}
	// Another browser has no session.
	formID(t, e.browser().authorize(authParams()))
}

// TestS11PromptLoginForcesFormAndNewAuthTime: prompt=login and
// prompt=select_account show the form despite the session; logging in again
// renews auth_time (S2).
func TestS11PromptLoginForcesFormAndNewAuthTime(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	e.exchangeOK(b.signIn(authParams(), "alice@acme.example", alicePassword))
	for i, prompt := range []string{"login", "select_account", "login consent"} {
		e.clk.Advance(time.Hour)
		code := b.signIn(authParams("prompt", prompt), "alice@acme.example", alicePassword)
		if c := claimsOf(t, e.exchangeOK(code)); c.AuthTime != epoch.Add(time.Duration(i+1)*time.Hour).Unix() {
			t.Fatalf("prompt=%s: auth_time %d, want the time of the new login", prompt, c.AuthTime)
		}
	}
	// Without prompt the latest login is reused.
	e.clk.Advance(time.Minute)
	if c := claimsOf(t, e.exchangeOK(codeFrom(t, b.authorize(authParams()), accessCB, "st-123"))); c.AuthTime != epoch.Add(3*time.Hour).Unix() {
		t.Fatalf("auth_time %d after silent reuse", c.AuthTime)
	}
}

func TestPromptNone(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	pg := b.authorize(authParams("prompt", "none"))
	u, _ := url.Parse(pg.location)
	if pg.status != http.StatusSeeOther || u.Query().Get("error") != "login_required" || u.Query().Get("state") != "st-123" ||
		!strings.HasPrefix(pg.location, accessCB+"?") {
		t.Fatalf("prompt=none without a session: %d %q", pg.status, pg.location)
	}
	e.exchangeOK(b.signIn(authParams(), "alice@acme.example", alicePassword))
	codeFrom(t, b.authorize(authParams("prompt", "none")), accessCB, "st-123")

	// max_age shorter than the session's age: prompt=none fails, without it the form shows.
	e.clk.Advance(10 * time.Minute)
	pg = b.authorize(authParams("prompt", "none", "max_age", "60"))
	if !strings.Contains(pg.location, "error=login_required") {
		t.Fatalf("prompt=none max_age=60 on a 10-minute session: %q", pg.location)
	}
	formID(t, b.authorize(authParams("max_age", "60")))
	codeFrom(t, b.authorize(authParams("max_age", "3600")), accessCB, "st-123")
}

func TestWrongPasswordShowsFormAgain(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	id := formID(t, b.authorize(authParams()))
	wrongPW := b.login(id, "alice@acme.example", "not-the-password")
	noUser := b.login(id, "nobody@acme.example", alicePassword)
	for _, pg := range []page{wrongPW, noUser} {
		if formID(t, pg) != id || !strings.Contains(pg.body, "The email or password is not correct") {
			t.Fatalf("wrong credentials: %d %q", pg.status, pg.body)
		}
	}
	// The same message either way: nothing says which part was wrong.
	if strings.ReplaceAll(wrongPW.body, "alice@acme.example", "X") != strings.ReplaceAll(noUser.body, "nobody@acme.example", "X") {
		t.Fatal("the error page differs between a wrong password and an unknown user")
	}
	codeFrom(t, b.login(id, "alice@acme.example", alicePassword), accessCB, "st-123")
	// The form is used up.
	if pg := b.login(id, "alice@acme.example", alicePassword); pg.status != http.StatusBadRequest {
		t.Fatalf("second use of a form: %d", pg.status)
	}
}

// TestTooManyWrongPasswordsEndTheForm: a form takes maxLoginAttempts
// tries. The tries go to different accounts, so that no account's lockout
// (throttle_test.go) comes first.
func TestTooManyWrongPasswordsEndTheForm(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	id := formID(t, b.authorize(authParams()))
	for i := range maxLoginAttempts - 1 {
		formID(t, b.login(id, fmt.Sprintf("guess%d@acme.example", i), "wrong"))
	}
	if pg := b.login(id, "alice@acme.example", "wrong"); pg.status != http.StatusTooManyRequests {
		t.Fatalf("attempt %d: %d", maxLoginAttempts, pg.status)
	}
	if pg := b.login(id, "alice@acme.example", alicePassword); pg.status != http.StatusBadRequest {
		t.Fatalf("form after too many attempts: %d", pg.status)
	}
}

func TestBadClientOrRedirectURIIsNotRedirected(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	for name, v := range map[string]url.Values{
		"unregistered redirect_uri":    authParams("redirect_uri", "https://evil.example/cb"),
		"redirect_uri with extra path": authParams("redirect_uri", accessCB+"/x"),
		"other client's redirect_uri":  authParams("redirect_uri", agentCB),
		"unknown client":               authParams("client_id", "nope"),
		"missing redirect_uri":         authParams("redirect_uri", ""),
	} {
		pg := b.authorize(v)
		if pg.status != http.StatusBadRequest || pg.location != "" || !strings.Contains(pg.body, "Sign-in error") {
			t.Errorf("%s: %d location=%q", name, pg.status, pg.location)
		}
	}
	// Other errors go back to the (registered) client.
	for name, v := range map[string]url.Values{
		"response_type token": authParams("response_type", "token"),
		"no openid scope":     authParams("scope", "email"),
		"plain PKCE":          authParams("code_challenge_method", "plain"),
		"bad prompt":          authParams("prompt", "bogus"),
		"none with login":     authParams("prompt", "none login"),
		"bad max_age":         authParams("max_age", "-1"),
	} {
		pg := b.authorize(v)
		if pg.status != http.StatusSeeOther || !strings.HasPrefix(pg.location, accessCB+"?") || !strings.Contains(pg.location, "error=") {
			t.Errorf("%s: %d location=%q", name, pg.status, pg.location)
		}
	}
}

func TestPublicClientMustUsePKCE(t *testing.T) {
	e := newEnv(t)
	v := authParams("client_id", agentID, "redirect_uri", agentCB)
	v.Del("code_challenge")
	v.Del("code_challenge_method")
	pg := e.browser().authorize(v)
	if !strings.Contains(pg.location, "error=invalid_request") {
		t.Fatalf("public client without PKCE: %d %q", pg.status, pg.location)
	}
}

func TestCodeIsOneTimeAndExpires(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	code := b.signIn(authParams(), "alice@acme.example", alicePassword)
	e.exchangeOK(code)
	if status, out := e.exchange(accessID, accessSecret, code, accessCB, testVerifier); status != http.StatusBadRequest || out["error"] != "invalid_grant" {
		t.Fatalf("reused code: %d %v", status, out)
	}

	code = codeFrom(t, b.authorize(authParams()), accessCB, "st-123")
	e.clk.Advance(CodeLifetime)
	if status, out := e.exchange(accessID, accessSecret, code, accessCB, testVerifier); status != http.StatusBadRequest || out["error"] != "invalid_grant" {
		t.Fatalf("expired code: %d %v", status, out)
	}
	// Just inside the lifetime it works.
	code = codeFrom(t, b.authorize(authParams()), accessCB, "st-123")
	e.clk.Advance(CodeLifetime - time.Second)
	e.exchangeOK(code)
}

func TestTokenRequestsRefused(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	e.exchangeOK(b.signIn(authParams(), "alice@acme.example", alicePassword))
	for _, tc := range []struct {
		name, id, secret, redirect, verifier, wantErr string
	}{
		{"PKCE verifier mismatch", accessID, accessSecret, accessCB, strings.Repeat("a", 43), "invalid_grant"},
		{"PKCE verifier missing", accessID, accessSecret, accessCB, "", "invalid_grant"},
		{"wrong client secret", accessID, "wrong-secret", accessCB, testVerifier, "invalid_client"},
		{"code of another client", agentID, "", agentCB, testVerifier, "invalid_grant"},
		{"different redirect_uri", accessID, accessSecret, accessCB + "?x=1", testVerifier, "invalid_grant"},
	} {
		code := codeFrom(t, b.authorize(authParams()), accessCB, "st-123")
		status, out := e.exchange(tc.id, tc.secret, code, tc.redirect, tc.verifier)
		if out["error"] != tc.wantErr || status < 400 || out["id_token"] != nil {
			t.Errorf("%s: %d %v", tc.name, status, out)
		}
		if tc.wantErr == "invalid_grant" {
			// A refused code is spent as well.
			if status, _ := e.exchange(accessID, accessSecret, code, accessCB, testVerifier); status != http.StatusBadRequest {
				t.Errorf("%s: the code still worked after a refused attempt", tc.name)
			}
		}
	}
}

func TestClientSecretBasic(t *testing.T) {
	e := newEnv(t)
	code := e.browser().signIn(authParams(), "bob@acme.example", bobPassword)
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {accessCB}, "code_verifier": {testVerifier}}
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+PathToken, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(accessID), url.QueryEscape(accessSecret))
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	if resp.StatusCode != http.StatusOK || claimsOf(t, out).Email != "bob@acme.example" || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("basic auth: %d %v", resp.StatusCode, out)
	}
}

func (e *env) exchangeOK(code string) map[string]any {
	e.t.Helper()
	status, out := e.exchange(accessID, accessSecret, code, accessCB, testVerifier)
	if status != http.StatusOK {
		e.t.Fatalf("token exchange: %d %v", status, out)
	}
	if c := claimsOf(e.t, out); c.Nonce != "n-456" || c.Audience != accessID || c.Issuer != e.srv.URL {
		e.t.Fatalf("claims: %+v", c)
	}
	return out
}

package access

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/ztagent/ztagent/internal/testenv/scriptbrowser"
	"github.com/ztagent/ztagent/pkg/control"
)

// deviceAgent is the agent's side of the device flow: it asks for a code
// pair and polls, from its own HTTP client (no browser, no loopback).
type deviceAgent struct {
	e        *env
	verifier string
	pair     control.DevicePair
}

func startDevice(t *testing.T, e *env, name string) *deviceAgent {
	t.Helper()
	d := &deviceAgent{e: e, verifier: oauth2.GenerateVerifier()}
	resp, err := (&http.Client{Transport: e.tr}).PostForm(e.tdURL+PathDeviceCode, url.Values{
		"code_challenge": {oauth2.S256ChallengeFromVerifier(d.verifier)}, "code_challenge_method": {"S256"}, "client_name": {name},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&d.pair) != nil {
		t.Fatalf("device authorization: %s", resp.Status)
	}
	return d
}

// poll returns the token endpoint's error code, or "" and the enrollment
// code.
func (d *deviceAgent) poll(t *testing.T, verifier string) (errCode, code string) {
	t.Helper()
	resp, err := (&http.Client{Transport: d.e.tr}).PostForm(d.e.tdURL+PathDeviceToken, url.Values{
		"grant_type": {"urn:ietf:params:oauth:grant-type:device_code"}, "device_code": {d.pair.DeviceCode}, "code_verifier": {verifier},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct{ Error, Code string }
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return body.Error, body.Code
}

// The device authorization flow (RFC 8628): the person types the code on
// another machine's browser, signs in at the IdP and confirms on a page
// that names the device and the code; the agent's polls answer
// authorization_pending, slow_down when too fast, then an enrollment code
// bound to the agent's PKCE verifier, once.
func TestDeviceFlow(t *testing.T) {
	e := newEnv(t, envOptions{})
	d := startDevice(t, e, "build-server-7")
	p := d.pair
	if len(normalUserCode(p.UserCode)) != 8 || strings.Trim(normalUserCode(p.UserCode), userCodeAlphabet) != "" ||
		p.VerificationURI != e.tdURL+PathDevice || p.VerificationURIComplete != p.VerificationURI+"?user_code="+p.UserCode ||
		p.ExpiresIn != 600 || p.Interval != 5 {
		t.Fatalf("code pair: %+v", p)
	}
	if errCode, _ := d.poll(t, d.verifier); errCode != control.CodeAuthorizationPending {
		t.Fatalf("first poll: %q, want %s", errCode, control.CodeAuthorizationPending)
	}
	if errCode, _ := d.poll(t, d.verifier); errCode != control.CodeSlowDown {
		t.Fatalf("an immediate second poll: %q, want %s", errCode, control.CodeSlowDown)
	}

	// The person, in another browser: the form, then the code typed in
	// lower case without the dash.
	b := e.browser()
	form := e.visit(b, p.VerificationURI, scriptbrowser.VisitOptions{})
	if form.Status != http.StatusOK || !strings.Contains(form.Body, `id="user_code"`) {
		t.Fatalf("verification page: %d\n%s", form.Status, form.Body)
	}
	typed := strings.ToLower(normalUserCode(p.UserCode))
	res := e.visit(b, p.VerificationURI+"?user_code="+typed, scriptbrowser.VisitOptions{Login: alice})
	if res.FormsShown != 1 || res.Confirmations != 1 || res.Status != http.StatusOK || !strings.Contains(res.Body, "Device approved") ||
		!strings.Contains(res.Body, "build-server-7") {
		t.Fatalf("after the code, the IdP and the confirmation: %d forms, %d confirmations, status %d\n%s", res.FormsShown, res.Confirmations, res.Status, res.Body)
	}

	e.clk.Advance(6 * time.Second)
	if errCode, _ := d.poll(t, "wrong-verifier-"+strings.Repeat("x", 40)); errCode != CodeInvalidGrant {
		t.Fatalf("poll with another verifier: %q, want %s", errCode, CodeInvalidGrant)
	}
	// The wrong verifier voided the grant: start again, and this time poll
	// right.
	d = startDevice(t, e, "build-server-7")
	res = e.visit(b, d.pair.VerificationURIComplete, scriptbrowser.VisitOptions{Login: alice})
	if !strings.Contains(res.Body, "Device approved") {
		t.Fatalf("second approval:\n%s", res.Body)
	}
	errCode, code := d.poll(t, d.verifier)
	if errCode != "" || code == "" {
		t.Fatalf("poll after the approval: %q %q", errCode, code)
	}
	login, err := e.td.RedeemEnrollment(context.Background(), code, d.verifier)
	if err != nil || login.Email != "alice@acme.example" || login.Trigger != TriggerEnrollment {
		t.Fatalf("redeeming the device's enrollment code: %+v, %v", login, err)
	}
	if errCode, _ := d.poll(t, d.verifier); errCode != CodeInvalidGrant {
		t.Fatalf("a poll after the code was handed out: %q, want %s (one use)", errCode, CodeInvalidGrant)
	}
}

// A code pair the person never completes expires; the poll says so.
func TestDeviceFlowExpires(t *testing.T) {
	e := newEnv(t, envOptions{})
	d := startDevice(t, e, "kiosk")
	e.clk.Advance(DeviceCodeLifetime)
	if errCode, _ := d.poll(t, d.verifier); errCode != control.CodeExpiredToken {
		t.Fatalf("poll after 10 minutes: %q, want %s", errCode, control.CodeExpiredToken)
	}
	res := e.visit(e.browser(), d.pair.VerificationURIComplete, scriptbrowser.VisitOptions{Login: alice})
	if res.Status != http.StatusBadRequest || res.FormShown() {
		t.Fatalf("the expired code at the verification page: %d, %d forms", res.Status, res.FormsShown)
	}
}

// Guessing user codes is bounded per client: of 1,000 guesses only the
// first maxCodeGuesses are looked up, the rest get 429 without a lookup,
// and a real code entered then is refused too until the window ends.
func TestDeviceCodeGuessingIsRateLimited(t *testing.T) {
	e := newEnv(t, envOptions{})
	d := startDevice(t, e, "target")
	c := &http.Client{Transport: e.tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	wrong, limited := 0, 0
	for i := range 1000 {
		guess := strings.Repeat(string(userCodeAlphabet[i%len(userCodeAlphabet)]), 8)
		if guess == normalUserCode(d.pair.UserCode) {
			continue
		}
		resp, err := c.Get(e.tdURL + PathDevice + "?user_code=" + guess)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusBadRequest:
			wrong++
		case http.StatusTooManyRequests:
			limited++
		default:
			t.Fatalf("guess %s: %s", guess, resp.Status)
		}
	}
	if wrong != maxCodeGuesses || wrong+limited < 990 {
		t.Fatalf("%d guesses looked up, %d refused; want %d looked up and the rest refused", wrong, limited, maxCodeGuesses)
	}
	resp, err := c.Get(d.pair.VerificationURIComplete)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("the real code from the guessing client: %s, want 429 until the window ends", resp.Status)
	}
	e.clk.Advance(guessWindow) // the code has expired meanwhile too
	d = startDevice(t, e, "target")
	resp, err = c.Get(d.pair.VerificationURIComplete)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther && resp.StatusCode != http.StatusFound {
		t.Fatalf("a real code after the window: %s, want the redirect to the IdP", resp.Status)
	}
}

// Re-authentication with a device code: only the device's own user
// completes it (bob is refused, and the poll says access_denied); alice's
// sign-in refreshes the session, and the poll reports it with the new
// auth_time and no enrollment code.
func TestDeviceReauth(t *testing.T) {
	e := newEnv(t, envOptions{})
	start := func() *deviceAgent {
		d := &deviceAgent{e: e, verifier: oauth2.GenerateVerifier()}
		p, err := e.td.StartDeviceReauth(control.DeviceCodeRequest{CodeChallenge: oauth2.S256ChallengeFromVerifier(d.verifier), Name: "laptop"},
			"dev-1", "alice@acme.example", "")
		if err != nil {
			t.Fatal(err)
		}
		d.pair = p
		return d
	}
	d := start()
	res := e.visit(e.browser(), d.pair.VerificationURIComplete, scriptbrowser.VisitOptions{Login: bob})
	if res.Status != http.StatusForbidden || !strings.Contains(res.Body, "Not your device") || !strings.Contains(res.Body, "registered to alice@acme.example") {
		t.Fatalf("bob at alice's device code: %d\n%s", res.Status, res.Body)
	}
	if errCode, _ := d.poll(t, d.verifier); errCode != control.CodeAccessDenied {
		t.Fatalf("poll after bob: %q, want %s", errCode, control.CodeAccessDenied)
	}

	e.clk.Advance(time.Hour)
	d = start()
	res = e.visit(e.browser(), d.pair.VerificationURIComplete, scriptbrowser.VisitOptions{Login: alice})
	if res.Status != http.StatusOK || !strings.Contains(res.Body, "Session refreshed") || res.Confirmations != 0 {
		t.Fatalf("alice: %d, %d confirmations\n%s", res.Status, res.Confirmations, res.Body)
	}
	tok, err := e.td.PollDevice(control.DeviceTokenRequest{DeviceCode: d.pair.DeviceCode, CodeVerifier: d.verifier})
	if err != nil || !tok.Reauthenticated || tok.Code != "" || !tok.AuthTime.Equal(e.clk.Now()) {
		t.Fatalf("poll after alice: %+v, %v", tok, err)
	}
	if l := e.loginsSoFar(); len(l) == 0 || l[len(l)-1].Trigger != TriggerRefreshIdentity || l[len(l)-1].Email != "alice@acme.example" {
		t.Fatalf("the sign-in was not reported as a refresh: %+v", l)
	}
}

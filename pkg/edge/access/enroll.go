package access

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/ztagent/ztagent/internal/randtoken"
	"github.com/ztagent/ztagent/internal/secret"
	"github.com/ztagent/ztagent/pkg/apierror"
	"github.com/ztagent/ztagent/pkg/edge/internal/limits"
)

// enrollment is what an enrollment code stands for.
type enrollment struct {
	login     Login
	challenge string // the agent's PKCE S256 code_challenge
	expires   time.Time
}

// serveWARP starts an enrollment: GET /warp?redirect_uri&state&code_challenge&code_challenge_method.
func (t *TeamDomain) serveWARP(w http.ResponseWriter, r *http.Request) {
	q, ok := t.query(w, r)
	if !ok {
		return
	}
	redirect, why := loopbackRedirect(q.Get("redirect_uri"))
	if why != "" {
		t.refuseEnrollment(w, "invalid_redirect_uri", why)
		return
	}
	state, challenge := q.Get("state"), q.Get("code_challenge")
	switch {
	case state == "" || !printable(state):
		t.refuseEnrollment(w, "invalid_request", "The enrollment request has no usable state parameter. The device client that sent you here has a bug; update it and run the registration again.")
		return
	case q.Get("code_challenge_method") != "S256" || !validChallenge(challenge):
		t.refuseEnrollment(w, "invalid_request", "The enrollment request must carry a PKCE code_challenge (43 characters of base64url) with code_challenge_method=S256. The device client that sent you here is out of date or broken; update it and run the registration again.")
		return
	}
	idp, ok := t.chooseIdP(w, r, q, TriggerEnrollment, "")
	if !ok {
		return
	}
	t.startLogin(w, r, &pendingLogin{trigger: TriggerEnrollment, agentRedirect: redirect, agentState: state, agentChallenge: challenge}, idp)
}

func (t *TeamDomain) refuseEnrollment(w http.ResponseWriter, reason, msg string) {
	t.log.Info("access: enrollment request refused", zap.String("reason", reason))
	t.errorPage(w, http.StatusBadRequest, "Enrollment refused", msg)
}

// loopbackRedirect checks the agent's redirect_uri: http on a loopback IP
// literal with a port (SEC6, RFC 8252 §7.3), so that the enrollment code
// goes only to a program on this computer. A name such as localhost is
// refused, since what it resolves to is not ours to check. It returns the
// URL, or a message for the page saying why it is refused.
func loopbackRedirect(raw string) (*url.URL, string) {
	refuse := func(why string) (*url.URL, string) {
		return nil, fmt.Sprintf("The redirect_uri %q is not allowed: %s. The device client must listen on http://127.0.0.1:PORT/… or http://[::1]:PORT/… so that the enrollment code never leaves this computer. If you did not start this enrollment yourself, close this page.", truncate(raw, 200), why)
	}
	if raw == "" {
		return refuse("it is missing")
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return refuse("it is not a URL")
	case u.Scheme != "http":
		return refuse("its scheme must be http")
	case u.Opaque != "" || u.User != nil:
		return refuse("it must not carry user information")
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return refuse("it must not have a fragment")
	}
	host := u.Hostname()
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return refuse("its host must be the IP address 127.0.0.1 or [::1], not a name")
	}
	if addr.Zone() != "" || (addr != netip.MustParseAddr("127.0.0.1") && addr != netip.IPv6Loopback()) {
		return refuse("its host must be the loopback address 127.0.0.1 or [::1]")
	}
	// The literal must be written canonically, so that what a browser
	// dials is what was checked.
	if want := addr.String(); host != want {
		return refuse("its host must be written as " + want)
	}
	port, err := strconv.ParseUint(u.Port(), 10, 16)
	if err != nil || port == 0 || strconv.FormatUint(port, 10) != u.Port() {
		return refuse("it must name the port the device client listens on")
	}
	if u.Path != "" && !strings.HasPrefix(u.Path, "/") {
		return refuse("its path must start with /")
	}
	return u, ""
}

func validChallenge(s string) bool {
	if len(s) != 43 {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func validVerifier(s string) bool {
	if len(s) < 43 || len(s) > 128 {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~') {
			return false
		}
	}
	return true
}

func printable(s string) bool {
	for _, c := range []byte(s) {
		if c < 0x21 || c > 0x7e {
			return false
		}
	}
	return true
}

// finishEnrollment mints the one-time enrollment code and hands it, with the
// agent's state, to the agent's loopback listener.
func (t *TeamDomain) finishEnrollment(w http.ResponseWriter, r *http.Request, pl *pendingLogin, login Login, now time.Time) {
	if t.perms != nil {
		if err := t.perms.Enroll(login); err != nil {
			if pl.device != nil {
				t.denyDevice(pl.device)
			}
			t.emit(AuditEvent{Type: "enrollment_refused", Time: now, Trigger: TriggerEnrollment, User: login.Email, Reason: CodeEnrollmentNotPermitted})
			t.log.Info("access: enrollment not permitted", zap.String("user", login.Email), zap.String("reason", err.Error()))
			t.render(w, http.StatusForbidden, pageData{
				Title:    "You cannot register a device",
				Message:  "You signed in, but your organization does not let you register a device: " + err.Error() + ". Ask your administrator to add you to the device enrollment permissions.",
				Identity: &login.Identity,
			})
			return
		}
	}
	// The code is not handed out yet: the person confirms first, on a page
	// that names the account and the local port. Without this, a web page
	// could walk a browser with an IdP session silently through /warp to
	// a port another local user listens on, and register a device as
	// this person.
	id := randtoken.New(32)
	t.mu.Lock()
	if len(t.consents) >= maxConsents {
		for k, c := range t.consents {
			if !now.Before(c.expires) {
				delete(t.consents, k)
			}
		}
	}
	var wait time.Duration
	if len(t.consents) >= maxConsents {
		wait = oldestExpiry(t.consents, func(c *consent) time.Time { return c.expires }).Sub(now)
	} else {
		t.consents[id] = &consent{pl: pl, login: login, expires: now.Add(LoginLifetime)}
	}
	t.mu.Unlock()
	if wait > 0 {
		t.errorPage(w, http.StatusServiceUnavailable, "Too many enrollments", "Too many enrollments are waiting to be confirmed. Wait "+limits.Wait(wait)+" and run the registration again.")
		return
	}
	var msg string
	if pl.device != nil {
		msg = "The device " + pl.device.name + " asked to be registered to your account with the code " + formatUserCode(pl.device.userCode) +
			". Register it only if that code is the one the device shows you."
	} else {
		msg = "A ztagent client on this computer (listening on " + pl.agentRedirect.Host + ") asked to register this device to your account. " +
			"Register it only if you started the registration yourself."
	}
	t.render(w, http.StatusOK, pageData{
		Title:    "Register this device?",
		Message:  msg,
		Identity: &login.Identity,
		AuthTime: login.AuthenticatedAt.UTC().Format(time.RFC1123),
		Consent:  &consentForm{Action: PathWARPConfirm, ID: id},
	})
}

// consent is an enrollment waiting for the person's confirmation.
type consent struct {
	pl      *pendingLogin
	login   Login
	expires time.Time
}

// serveConfirm hands the enrollment code to the agent once the person
// confirmed, in the browser that logged in.
func (t *TeamDomain) serveConfirm(w http.ResponseWriter, r *http.Request) {
	now := t.clock.Now()
	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	if err := r.ParseForm(); err != nil {
		t.errorPage(w, http.StatusBadRequest, "Registration not confirmed", "The confirmation could not be read. Run the registration again.")
		return
	}
	// "null" is what a browser sends under Referrer-Policy: no-referrer;
	// the confirmation stays bound to the browser cookie and the one-shot
	// ID only this page knew.
	if o := r.Header.Get("Origin"); o != "" && o != "null" && o != t.origin {
		t.errorPage(w, http.StatusForbidden, "Registration not confirmed", "The confirmation came from another site. Run the registration again from your device client.")
		return
	}
	id := r.PostForm.Get("id")
	t.mu.Lock()
	c := t.consents[id]
	delete(t.consents, id) // one shot, whatever happens next
	t.mu.Unlock()
	browser := ""
	if ck, err := r.Cookie(browserCookie); err == nil {
		browser = ck.Value
	}
	switch {
	case c == nil:
		t.errorPage(w, http.StatusBadRequest, "Registration not confirmed", "This confirmation is unknown, was already used, or has expired. Run the registration again.")
		return
	case !now.Before(c.expires):
		t.errorPage(w, http.StatusBadRequest, "Registration not confirmed", "This confirmation waited more than 10 minutes and has expired. Run the registration again.")
		return
	case browser == "" || subtle.ConstantTimeCompare([]byte(browser), []byte(c.pl.browser)) != 1:
		t.errorPage(w, http.StatusForbidden, "Registration not confirmed", "This registration was started in another browser. Run the registration again in the browser you want to use.")
		return
	}
	t.handOverCode(w, r, c.pl, c.login, now)
}

// handOverCode mints the one-time enrollment code and sends the browser to
// the agent's loopback callback with it.
func (t *TeamDomain) handOverCode(w http.ResponseWriter, r *http.Request, pl *pendingLogin, login Login, now time.Time) {
	if pl.device != nil {
		t.approveDevice(w, pl.device, login, now)
		return
	}
	code, wait := t.mintCode(login, pl.agentChallenge, now)
	if wait > 0 {
		t.errorPage(w, http.StatusServiceUnavailable, "Too many enrollments", "Too many enrollment codes are waiting to be redeemed. Wait "+limits.Wait(wait)+" and run the registration again.")
		return
	}
	target := *pl.agentRedirect
	v := target.Query()
	v.Set("code", code)
	v.Set("state", pl.agentState)
	target.RawQuery = v.Encode()
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	http.Redirect(w, r, target.String(), http.StatusSeeOther)
}

// mintCode stores a one-time enrollment code for login, bound to the
// agent's PKCE challenge, and returns it; or, with the table full, how
// long until a place frees up.
func (t *TeamDomain) mintCode(login Login, challenge string, now time.Time) (string, time.Duration) {
	code := randtoken.New(32)
	secret.New(code) // so that no log line can carry it
	key := sha256.Sum256([]byte(code))
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.codes) >= maxCodes {
		for k, e := range t.codes {
			if !now.Before(e.expires) {
				delete(t.codes, k)
			}
		}
	}
	if len(t.codes) >= maxCodes {
		return "", oldestExpiry(t.codes, func(e *enrollment) time.Time { return e.expires }).Sub(now)
	}
	t.codes[key] = &enrollment{login: login, challenge: challenge, expires: now.Add(EnrollmentCodeLifetime)}
	return code, 0
}

// RedeemEnrollment exchanges an enrollment code and the PKCE verifier of
// the challenge it was issued for (SEC6) for the login it stands for. A code
// is good for one attempt: a wrong verifier burns it too. Errors are *apierror.Error
// with Code invalid_request or invalid_grant.
func (t *TeamDomain) RedeemEnrollment(_ context.Context, code, codeVerifier string) (Login, error) {
	now := t.clock.Now()
	if code == "" || codeVerifier == "" {
		return Login{}, t.refuseRedeem(now, "", &apierror.Error{Code: CodeInvalidRequest, Message: "code and code_verifier are required",
			Hint: "send the code the team domain handed to the device client's callback and the verifier of its code_challenge"})
	}
	// Codes are found by their SHA-256, so the map lookup's timing says
	// nothing about the code itself.
	key := sha256.Sum256([]byte(code))
	t.mu.Lock()
	e := t.codes[key]
	delete(t.codes, key)
	t.mu.Unlock()
	switch {
	case e == nil:
		return Login{}, t.refuseRedeem(now, "", &apierror.Error{Code: CodeInvalidGrant, Message: "the enrollment code is unknown or was already used",
			Hint: "run the registration again to get a new code"})
	case !now.Before(e.expires):
		return Login{}, t.refuseRedeem(now, e.login.Email, &apierror.Error{Code: CodeInvalidGrant, Message: "the enrollment code has expired (codes are valid for 10 minutes)",
			Hint: "run the registration again and complete it within 10 minutes"})
	case !validVerifier(codeVerifier):
		return Login{}, t.refuseRedeem(now, e.login.Email, &apierror.Error{Code: CodeInvalidGrant, Message: "the code_verifier is malformed (43 to 128 characters of A-Z a-z 0-9 - . _ ~); the code is now void",
			Hint: "run the registration again"})
	}
	sum := sha256.Sum256([]byte(codeVerifier))
	if subtle.ConstantTimeCompare([]byte(base64.RawURLEncoding.EncodeToString(sum[:])), []byte(e.challenge)) != 1 {
		return Login{}, t.refuseRedeem(now, e.login.Email, &apierror.Error{Code: CodeInvalidGrant, Message: "the code_verifier does not match the code_challenge the enrollment started with; the code is now void",
			Hint: "run the registration again from the same device client"})
	}
	t.emit(AuditEvent{Type: "enrollment_redeemed", Time: now, Trigger: TriggerEnrollment, User: e.login.Email, AuthTime: e.login.AuthenticatedAt, IdPAuthTime: e.login.AuthTime})
	t.log.Info("access: enrollment code redeemed", zap.String("user", e.login.Email))
	return e.login, nil
}

func (t *TeamDomain) refuseRedeem(now time.Time, user string, err *apierror.Error) error {
	t.emit(AuditEvent{Type: "enrollment_refused", Time: now, Trigger: TriggerEnrollment, User: user, Reason: err.Code})
	t.log.Info("access: enrollment code refused", zap.String("user", user), zap.String("reason", err.Message))
	return err
}

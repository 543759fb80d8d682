package access

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/ztagent/ztagent/internal/randtoken"
	"github.com/ztagent/ztagent/pkg/apierror"
	"github.com/ztagent/ztagent/pkg/control"
	"github.com/ztagent/ztagent/pkg/edge/internal/limits"
)

// The device authorization flow (RFC 8628), for a device whose person
// signs in with a browser on another machine: the agent asks for a code
// pair, shows the person the user code and the verification URL, and
// polls; the person opens the URL anywhere, types (or confirms) the code,
// signs in at the IdP and confirms the registration; the agent's next
// poll gets a one-time enrollment code, bound to its PKCE challenge, that
// it redeems at the control API as after the loopback flow.
const (
	// PathDeviceCode is the device authorization endpoint (POST).
	PathDeviceCode = "/cdn-cgi/access/device/code"
	// PathDeviceToken is where the agent polls (POST).
	PathDeviceToken = "/cdn-cgi/access/device/token"
	// PathDevice is the verification page the person opens.
	PathDevice = "/cdn-cgi/access/device"

	// DeviceCodeLifetime is how long a code pair waits for the person.
	DeviceCodeLifetime = 10 * time.Minute
	// DevicePollInterval is the shortest time between two polls; a
	// faster poll gets slow_down and 5 more seconds.
	DevicePollInterval = 5 * time.Second

	maxDeviceGrants = 10000
	// maxCodeGuesses bounds the wrong user codes one client may enter in
	// guessWindow: with 20^8 codes, guessing one of 10,000 live codes at
	// this rate takes years.
	maxCodeGuesses = 10
	guessWindow    = 10 * time.Minute
)

// userCodeAlphabet is RFC 8628 §6.1's: 20 consonants, so that codes spell
// no words and hold nothing read as a digit (no O, I).
const userCodeAlphabet = "BCDFGHJKLMNPQRSTVWXZ"

// codeUnavailable answers when the edge's tables are full (503).
const codeUnavailable = "temporarily_unavailable"

// deviceHint goes with every refusal of the device flow.
const deviceHint = "keep polling on authorization_pending, poll 5 s slower on slow_down, start the registration again on anything else (RFC 8628 §3.5)"

// deviceRefusal is a refusal of the device flow with its RFC 8628 / RFC
// 6749 code: 503 when the edge is full, 400 otherwise.
func deviceRefusal(code, msg string) *apierror.Error {
	status := http.StatusBadRequest
	if code == codeUnavailable {
		status = http.StatusServiceUnavailable
	}
	return apierror.WithStatus(status, code, msg, deviceHint)
}

// deviceGrant is one code pair waiting for its person.
type deviceGrant struct {
	userCode  string // 8 characters of userCodeAlphabet, without the dash
	challenge string // the agent's PKCE S256 challenge
	name      string // the device's name, shown to the person
	expires   time.Time
	interval  time.Duration
	lastPoll  time.Time
	approved  *Login // set when the person confirmed
	denied    bool
	// reauth is set for a re-authentication of a registered device: who
	// must sign in, and with which IdP.
	reauth *reauthTarget
	key    [32]byte // SHA-256 of the device code
}

// reauthTarget is the device a re-authentication grant is for.
type reauthTarget struct {
	deviceID, email, idpID string
}

// guesses counts one client's wrong user codes in its current window.
type guesses struct {
	n     int
	since time.Time
}

func newUserCode() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	out := make([]byte, 8)
	for i, c := range b {
		// 256 is not a multiple of 20: reject the top to stay uniform.
		for c >= 240 {
			var one [1]byte
			_, _ = rand.Read(one[:])
			c = one[0]
		}
		out[i] = userCodeAlphabet[int(c)%len(userCodeAlphabet)]
	}
	return string(out)
}

// normalUserCode returns what the person typed as the stored form: upper
// case, without dashes and spaces.
func normalUserCode(s string) string {
	var b strings.Builder
	for _, r := range strings.ToUpper(s) {
		if r != '-' && r != ' ' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

func formatUserCode(c string) string {
	if len(c) != 8 {
		return c
	}
	return c[:4] + "-" + c[4:]
}

// StartDevice issues a code pair for the device req.Name, bound to the
// agent's PKCE S256 challenge (controlapi.DeviceFlow). Errors are
// *apierror.Error with the RFC's codes.
func (t *TeamDomain) StartDevice(req control.DeviceCodeRequest) (control.DevicePair, error) {
	return t.startDevice(req, nil)
}

// StartDeviceReauth issues a code pair that re-authenticates the
// registered device deviceID (controlapi.DeviceFlow): the person must sign
// in as email, with the IdP idpID when not "". The sign-in refreshes the
// device's session as any sign-in of its user does (S2); the poll then
// reports it instead of handing out an enrollment code.
func (t *TeamDomain) StartDeviceReauth(req control.DeviceCodeRequest, deviceID, email, idpID string) (control.DevicePair, error) {
	return t.startDevice(req, &reauthTarget{deviceID: deviceID, email: email, idpID: idpID})
}

func (t *TeamDomain) startDevice(req control.DeviceCodeRequest, reauth *reauthTarget) (control.DevicePair, error) {
	now := t.clock.Now()
	challenge, name := req.CodeChallenge, strings.TrimSpace(req.Name)
	switch {
	case !validChallenge(challenge):
		return control.DevicePair{}, deviceRefusal(CodeInvalidRequest, "send a PKCE code_challenge (43 characters of base64url) with code_challenge_method=S256")
	case name == "" || len(name) > 64 || !printableText(name):
		return control.DevicePair{}, deviceRefusal(CodeInvalidRequest, "send the device's name (1 to 64 printable characters), which the person is shown")
	}
	deviceCode := randtoken.New(32)
	g := &deviceGrant{userCode: newUserCode(), challenge: challenge, name: name, expires: now.Add(DeviceCodeLifetime),
		interval: DevicePollInterval, key: sha256.Sum256([]byte(deviceCode)), reauth: reauth}
	t.mu.Lock()
	t.dropExpiredGrants(now)
	full := len(t.grants) >= maxDeviceGrants
	for !full && t.byUserCode[g.userCode] != nil {
		g.userCode = newUserCode()
	}
	if !full {
		t.grants[g.key], t.byUserCode[g.userCode] = g, g
	}
	t.mu.Unlock()
	if full {
		return control.DevicePair{}, deviceRefusal(codeUnavailable, "too many devices are waiting to be registered; try again in a few minutes")
	}
	t.log.Info("access: device code issued", zap.String("device", name))
	verify := t.origin + PathDevice
	return control.DevicePair{
		DeviceCode: deviceCode, UserCode: formatUserCode(g.userCode),
		VerificationURI: verify, VerificationURIComplete: verify + "?user_code=" + formatUserCode(g.userCode),
		ExpiresIn: int(DeviceCodeLifetime / time.Second), Interval: int(DevicePollInterval / time.Second),
	}, nil
}

// serveDeviceCode is the device authorization endpoint: POST
// code_challenge, code_challenge_method=S256, client_name.
func (t *TeamDomain) serveDeviceCode(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, CodeInvalidRequest, "the request is not a form of at most 4 KiB")
		return
	}
	if r.PostForm.Get("code_challenge_method") != "S256" {
		oauthError(w, http.StatusBadRequest, CodeInvalidRequest, "code_challenge_method must be S256")
		return
	}
	pair, err := t.StartDevice(control.DeviceCodeRequest{CodeChallenge: r.PostForm.Get("code_challenge"), Name: r.PostForm.Get("client_name")})
	if err != nil {
		writeRefusal(w, err)
		return
	}
	writeJSON(w, http.StatusOK, pair)
}

// dropExpiredGrants forgets grants past their expiry; t.mu is held.
func (t *TeamDomain) dropExpiredGrants(now time.Time) {
	if len(t.grants) < maxDeviceGrants/2 {
		return
	}
	for k, g := range t.grants {
		if !now.Before(g.expires) {
			delete(t.grants, k)
			delete(t.byUserCode, g.userCode)
		}
	}
}

// serveDevice is the verification page: a form for the user code, then,
// with a live code, the sign-in at the IdP.
func (t *TeamDomain) serveDevice(w http.ResponseWriter, r *http.Request) {
	q, ok := t.query(w, r)
	if !ok {
		return
	}
	raw := q.Get("user_code")
	if raw == "" {
		t.render(w, http.StatusOK, pageData{Title: "Register a device", Message: "Enter the code your device shows.", CodeForm: &codeForm{Action: PathDevice}})
		return
	}
	now := t.clock.Now()
	client, _ := limits.ClientKey(r.RemoteAddr)
	t.mu.Lock()
	gs := t.guesses[client]
	if gs == nil || now.Sub(gs.since) >= guessWindow {
		gs = &guesses{since: now}
		t.guesses[client] = gs
	}
	if gs.n >= maxCodeGuesses {
		wait := gs.since.Add(guessWindow).Sub(now)
		t.mu.Unlock()
		t.log.Info("access: device code guessing refused", zap.String("client", client))
		t.render(w, http.StatusTooManyRequests, pageData{Title: "Too many wrong codes", Error: true,
			Message: "Too many wrong codes were entered from here. Wait " + limits.Wait(wait) + " and enter the code again, exactly as the device shows it."})
		return
	}
	g := t.byUserCode[normalUserCode(raw)]
	live := g != nil && now.Before(g.expires) && g.approved == nil && !g.denied
	if !live {
		gs.n++
		if len(t.guesses) > maxDeviceGrants {
			clear(t.guesses) // bounded: the windows start over
		}
	}
	t.mu.Unlock()
	if !live {
		t.render(w, http.StatusBadRequest, pageData{Title: "Code not accepted", Error: true, CodeForm: &codeForm{Action: PathDevice},
			Message: "This code is unknown, was already used or has expired (codes live 10 minutes). Check it against the device, or start the registration on the device again."})
		return
	}
	if g.reauth != nil {
		// The device's user signs in again with the IdP it enrolled with.
		if g.reauth.idpID != "" && q.Get(ParamIdP) == "" {
			q.Set(ParamIdP, g.reauth.idpID)
		}
		idp, ok := t.chooseIdP(w, r, q, TriggerRefreshIdentity, "")
		if !ok {
			return
		}
		t.startLogin(w, r, &pendingLogin{trigger: TriggerRefreshIdentity, device: g}, idp)
		return
	}
	idp, ok := t.chooseIdP(w, r, q, TriggerEnrollment, "")
	if !ok {
		return
	}
	t.startLogin(w, r, &pendingLogin{trigger: TriggerEnrollment, device: g}, idp)
}

// finishDeviceReauth ends the sign-in of a re-authentication grant: the
// device's own user completes it (the sign-in already refreshed their
// devices, S2); anyone else is refused, and so is the device's poll.
func (t *TeamDomain) finishDeviceReauth(w http.ResponseWriter, g *deviceGrant, login Login, now time.Time) {
	if !strings.EqualFold(login.Email, g.reauth.email) {
		t.denyDevice(g)
		t.log.Info("access: device re-authentication by another user refused", zap.String("device", g.name), zap.String("user", login.Email))
		t.errorPage(w, http.StatusForbidden, "Not your device",
			"You signed in as "+login.Email+", but the device "+g.name+" is registered to "+g.reauth.email+". Only "+g.reauth.email+" can sign in again for it; start again on the device.")
		return
	}
	if g.reauth.idpID != "" && login.IdPID != g.reauth.idpID {
		// Only a sign-in with the IdP the device enrolled with resets it.
		t.denyDevice(g)
		t.errorPage(w, http.StatusForbidden, "Wrong identity provider",
			"The device "+g.name+" enrolled with another identity provider, and only a sign-in there refreshes its session. Start again on the device.")
		return
	}
	if !t.approveGrant(g, login, now) {
		t.errorPage(w, http.StatusBadRequest, "Sign-in not completed", "The device's code expired or was used while you signed in. Start again on the device.")
		return
	}
	t.log.Info("access: device re-authenticated with a device code", zap.String("device", g.name), zap.String("user", login.Email))
	t.render(w, http.StatusOK, pageData{Title: "Session refreshed",
		Message: "Your session on the device " + g.name + " is refreshed. You can close this page and go back to the device."})
}

// approveDevice records the person's confirmation; the device's next poll
// gets its enrollment code.
func (t *TeamDomain) approveDevice(w http.ResponseWriter, g *deviceGrant, login Login, now time.Time) {
	if !t.approveGrant(g, login, now) {
		t.errorPage(w, http.StatusBadRequest, "Registration not completed", "The device's code expired or was used while you signed in. Start the registration on the device again.")
		return
	}
	t.log.Info("access: device registration approved", zap.String("device", g.name), zap.String("user", login.Email))
	t.render(w, http.StatusOK, pageData{Title: "Device approved",
		Message: "The device " + g.name + " is being registered to your account. You can close this page and go back to the device."})
}

// approveGrant records login on g, and reports false when g expired, was
// used or denied meanwhile.
func (t *TeamDomain) approveGrant(g *deviceGrant, login Login, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.grants[g.key] != g || !now.Before(g.expires) || g.approved != nil || g.denied {
		return false
	}
	l := login
	g.approved = &l
	return true
}

// denyDevice ends a grant whose person may not register a device.
func (t *TeamDomain) denyDevice(g *deviceGrant) {
	t.mu.Lock()
	g.denied = true
	t.mu.Unlock()
}

// PollDevice is one poll of the agent (controlapi.DeviceFlow): the
// enrollment code once the person confirmed, else an *apierror.Error with
// code authorization_pending, slow_down, expired_token, access_denied or
// invalid_grant. The code is handed out once, and only with the verifier
// of the challenge.
func (t *TeamDomain) PollDevice(req control.DeviceTokenRequest) (control.DeviceToken, error) {
	now := t.clock.Now()
	verifier := req.CodeVerifier
	key := sha256.Sum256([]byte(req.DeviceCode))
	t.mu.Lock()
	g := t.grants[key]
	var fail *apierror.Error
	switch {
	case g == nil:
		fail = deviceRefusal(CodeInvalidGrant, "the device code is unknown or was already used")
	case !now.Before(g.expires):
		fail = deviceRefusal(control.CodeExpiredToken, "the code expired before the person signed in; start the registration again")
		t.forgetGrantLocked(g)
	case g.denied && g.reauth != nil:
		fail = deviceRefusal(control.CodeAccessDenied, "someone other than the device's user signed in (or with another identity provider); the session was not refreshed")
		t.forgetGrantLocked(g)
	case g.denied:
		fail = deviceRefusal(control.CodeAccessDenied, "the person who signed in may not register a device (device enrollment permissions)")
		t.forgetGrantLocked(g)
	case g.approved == nil && now.Sub(g.lastPoll) < g.interval:
		g.interval += 5 * time.Second
		g.lastPoll = now
		fail = deviceRefusal(control.CodeSlowDown, "poll every "+strconv.Itoa(int(g.interval/time.Second))+" seconds")
	case g.approved == nil:
		g.lastPoll = now
		fail = deviceRefusal(control.CodeAuthorizationPending, "the person has not signed in and confirmed yet")
	default:
		t.forgetGrantLocked(g) // one use, whatever the verifier
		sum := sha256.Sum256([]byte(verifier))
		if !validVerifier(verifier) || subtle.ConstantTimeCompare([]byte(base64.RawURLEncoding.EncodeToString(sum[:])), []byte(g.challenge)) != 1 {
			fail = deviceRefusal(CodeInvalidGrant, "the code_verifier does not match the code_challenge the device code was issued for; the code is now void")
		}
	}
	var login Login
	if fail == nil {
		login = *g.approved
	}
	t.mu.Unlock()
	if fail != nil {
		return control.DeviceToken{}, fail
	}
	if g.reauth != nil {
		return control.DeviceToken{Reauthenticated: true, AuthTime: login.AuthenticatedAt}, nil
	}
	code, wait := t.mintCode(login, g.challenge, now)
	if wait > 0 {
		return control.DeviceToken{}, deviceRefusal(codeUnavailable, "too many enrollment codes are waiting; try again in "+limits.Wait(wait))
	}
	t.log.Info("access: device code exchanged for an enrollment code", zap.String("device", g.name), zap.String("user", login.Email))
	return control.DeviceToken{Code: code}, nil
}

// serveDeviceToken answers the agent's polls: POST grant_type (RFC 8628's),
// device_code, code_verifier.
func (t *TeamDomain) serveDeviceToken(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, CodeInvalidRequest, "the request is not a form of at most 4 KiB")
		return
	}
	if gt := r.PostForm.Get("grant_type"); gt != GrantTypeDeviceCode {
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "grant_type must be "+GrantTypeDeviceCode)
		return
	}
	tok, err := t.PollDevice(control.DeviceTokenRequest{DeviceCode: r.PostForm.Get("device_code"), CodeVerifier: r.PostForm.Get("code_verifier")})
	if err != nil {
		writeRefusal(w, err)
		return
	}
	writeJSON(w, http.StatusOK, tok)
}

// GrantTypeDeviceCode is RFC 8628's grant type.
const GrantTypeDeviceCode = "urn:ietf:params:oauth:grant-type:device_code"

func (t *TeamDomain) forgetGrantLocked(g *deviceGrant) {
	delete(t.grants, g.key)
	delete(t.byUserCode, g.userCode)
}

// codeForm is the user-code form of the verification page.
type codeForm struct{ Action string }

func printableText(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

// writeRefusal answers with a refusal of StartDevice or PollDevice in
// OAuth's form, {"error", "error_description"}.
func writeRefusal(w http.ResponseWriter, err error) {
	ae := err.(*apierror.Error)
	oauthError(w, ae.Status, ae.Code, ae.Message)
}

func oauthError(w http.ResponseWriter, status int, code, desc string) {
	writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

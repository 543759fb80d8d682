package idp

import (
	"crypto/subtle"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"
	"golang.org/x/crypto/bcrypt"

	"github.com/ztagent/ztagent/internal/randtoken"
	"github.com/ztagent/ztagent/pkg/edge/internal/limits"
)

// authRequest is a validated authorization request.
type authRequest struct {
	clientID, redirectURI, state, nonce, scope string
	challenge                                  string // PKCE S256 code_challenge, or ""
	prompt                                     string // as sent, for the audit log
	prompts                                    []string
	maxAge                                     time.Duration // -1 when absent
	loginHint                                  string
}

// pending is a login form waiting for credentials. The form posts back only
// its ID; the request's parameters stay here.
type pending struct {
	req      authRequest
	browser  string // idp_browser cookie the form was shown to
	expires  time.Time
	attempts int
}

// session is an IdP browser session: single sign-on until it expires.
type session struct {
	email    string // lower-case key into users
	authTime time.Time
	expires  time.Time
}

// grant is what an authorization code stands for.
type grant struct {
	req      authRequest
	email    string
	authTime time.Time
	expires  time.Time
}

// authError is an error answered by redirecting to the client.
type authError struct{ code, desc string }

func (e *authError) Error() string { return e.code + ": " + e.desc }

// parseAuthorize checks the client and redirect URI first: when either is
// wrong it returns a message for an error page (never a redirect, or the
// IdP would be an open redirector). Other problems come back as *authError,
// to be sent to the now trusted redirect URI.
func (p *Provider) parseAuthorize(q url.Values) (authRequest, string, *authError) {
	for k, v := range q {
		if len(v) > 1 {
			return authRequest{}, fmt.Sprintf("The parameter %q appears more than once. The application that sent you here has a bug; go back and try again.", k), nil
		}
		if len(v[0]) > maxParamLen {
			return authRequest{}, fmt.Sprintf("The parameter %q is too long. The application that sent you here has a bug.", k), nil
		}
	}
	r := authRequest{
		clientID: q.Get("client_id"), redirectURI: q.Get("redirect_uri"), state: q.Get("state"),
		nonce: q.Get("nonce"), scope: q.Get("scope"), prompt: q.Get("prompt"), loginHint: q.Get("login_hint"),
		maxAge: -1,
	}
	c := p.clients[r.clientID]
	if c == nil {
		return r, fmt.Sprintf("The application is not registered with this identity provider (client_id %q). Register it in the simulator file, or check the client_id the application was configured with.", r.clientID), nil
	}
	if !c.redirects[r.redirectURI] {
		return r, fmt.Sprintf("The redirect_uri %q is not registered for client %q. Register this exact URL for the client in the simulator file, or fix the application's callback URL.", r.redirectURI, r.clientID), nil
	}
	if rt := q.Get("response_type"); rt != "code" {
		return r, "", &authError{"unsupported_response_type", "only response_type=code is supported"}
	}
	if !slices.Contains(strings.Fields(r.scope), "openid") {
		return r, "", &authError{"invalid_scope", "the scope must include openid"}
	}
	for _, name := range []string{"request", "request_uri"} {
		if q.Has(name) {
			return r, "", &authError{name + "_not_supported", name + " is not supported; send the parameters in the query"}
		}
	}
	r.challenge = q.Get("code_challenge")
	method := q.Get("code_challenge_method")
	switch {
	case r.challenge == "" && c.secret.IsZero():
		return r, "", &authError{"invalid_request", "a public client must send code_challenge with code_challenge_method=S256 (PKCE)"}
	case r.challenge == "" && method != "":
		return r, "", &authError{"invalid_request", "code_challenge_method without code_challenge"}
	case r.challenge != "" && method != "S256":
		return r, "", &authError{"invalid_request", "code_challenge_method must be S256"}
	case r.challenge != "" && !validChallenge(r.challenge):
		return r, "", &authError{"invalid_request", "code_challenge must be the 43-character base64url SHA-256 of the verifier"}
	}
	r.prompts = strings.Fields(r.prompt)
	for _, pr := range r.prompts {
		switch pr {
		case "login", "select_account", "consent":
		case "none":
			if len(r.prompts) > 1 {
				return r, "", &authError{"invalid_request", "prompt=none cannot be combined with other prompt values"}
			}
		default:
			return r, "", &authError{"invalid_request", fmt.Sprintf("prompt value %q is not supported", pr)}
		}
	}
	if s := q.Get("max_age"); s != "" {
		n, err := strconv.ParseUint(s, 10, 31)
		if err != nil {
			return r, "", &authError{"invalid_request", "max_age must be a non-negative number of seconds"}
		}
		r.maxAge = time.Duration(n) * time.Second
	}
	return r, "", nil
}

func validChallenge(s string) bool {
	if len(s) != 43 {
		return false
	}
	for _, c := range []byte(s) {
		if !isUnreserved(c) || c == '.' || c == '~' {
			return false
		}
	}
	return true
}

func isUnreserved(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~'
}

func (r *authRequest) has(prompt string) bool { return slices.Contains(r.prompts, prompt) }

func (p *Provider) serveAuthorize(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
	if err := r.ParseForm(); err != nil {
		p.errorPage(w, http.StatusBadRequest, "The sign-in request could not be read (it may be too large). Go back to the application and start again.")
		return
	}
	now := p.clock.Now()
	req, pageMsg, aerr := p.parseAuthorize(r.Form)
	ev := AuditEvent{Type: "authorize", Time: now, ClientID: req.clientID, Prompt: req.prompt}
	if pageMsg != "" {
		ev.Result = "invalid_request"
		p.emit(ev)
		p.log.Info("idp: authorize request refused", zap.String("client_id", req.clientID), zap.String("reason", "unregistered client or redirect_uri"))
		p.errorPage(w, http.StatusBadRequest, pageMsg)
		return
	}
	if aerr != nil {
		ev.Result = aerr.code
		p.emit(ev)
		p.log.Info("idp: authorize request refused", zap.String("client_id", req.clientID), zap.String("error", aerr.code))
		p.redirectError(w, r, req, aerr)
		return
	}

	sess := p.currentSession(r, now)
	fresh := sess != nil && (req.maxAge < 0 || now.Sub(sess.authTime) <= req.maxAge)
	forced := req.has("login") || req.has("select_account")
	switch {
	case req.has("none") && !fresh:
		ev.Result = "login_required"
	case req.has("none") || (fresh && !forced):
		code, err := p.newCode(req, sess, now)
		if err != nil {
			ev.Result = "temporarily_unavailable"
			p.emit(ev)
			p.redirectError(w, r, req, &authError{"temporarily_unavailable", err.Error()})
			return
		}
		ev.Result, ev.SessionReused, ev.User, ev.AuthTime = "code", true, sess.email, sess.authTime
		p.emit(ev)
		p.log.Info("idp: signed in with the browser session", zap.String("client_id", req.clientID),
			zap.String("prompt", req.prompt), zap.String("user", sess.email), zap.Time("auth_time", sess.authTime))
		p.redirectCode(w, r, req, code)
		return
	default:
		ev.Result = "form"
	}
	p.emit(ev)
	p.log.Info("idp: authorize request", zap.String("client_id", req.clientID), zap.String("prompt", req.prompt),
		zap.Bool("session", sess != nil), zap.String("result", ev.Result))
	if ev.Result == "login_required" {
		p.redirectError(w, r, req, &authError{"login_required", "prompt=none was sent but the user must sign in"})
		return
	}
	browser := p.browserID(w, r)
	id, err := p.newPending(req, browser, now)
	if err != nil {
		p.errorPage(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	hint := req.loginHint
	if hint == "" && sess != nil && req.has("login") {
		hint = p.userEmail(sess.email)
	}
	p.loginPage(w, http.StatusOK, id, hint, "")
}

// serveLogin checks the credentials posted by the login form.
func (p *Provider) serveLogin(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
	if err := r.ParseForm(); err != nil {
		p.errorPage(w, http.StatusBadRequest, "The form could not be read (it may be too large). Go back to the application and sign in again.")
		return
	}
	if o := r.Header.Get("Origin"); o != "" && o != "null" && o != p.iss {
		p.errorPage(w, http.StatusForbidden, "This form was submitted from another site. Go back to the application and sign in from there.")
		return
	}
	id, email, password := r.PostForm.Get("request"), strings.TrimSpace(r.PostForm.Get("email")), r.PostForm.Get("password")
	browser := ""
	if c, err := r.Cookie(browserCookie); err == nil {
		browser = c.Value
	}
	now := p.clock.Now()
	client, _ := limits.ClientKey(r.RemoteAddr)
	account := accountKey(email)
	p.mu.Lock()
	pd := p.pending[id]
	if pd != nil && !now.Before(pd.expires) {
		delete(p.pending, id)
		pd = nil
	}
	ok := pd != nil && browser != "" && subtle.ConstantTimeCompare([]byte(browser), []byte(pd.browser)) == 1
	var u *user
	var locked time.Duration
	if ok {
		u = p.users[strings.ToLower(email)]
		locked = p.throttle.lockedLocked(account, client, now)
	}
	p.mu.Unlock()
	if !ok {
		p.errorPage(w, http.StatusBadRequest, "This sign-in form has expired, was already used, or was opened in another browser. Go back to the application and sign in again.")
		return
	}
	ev := AuditEvent{Type: "login_failed", Time: now, ClientID: pd.req.clientID, Prompt: pd.req.prompt, Client: client}
	if u != nil {
		ev.User = u.email
	}
	// A locked-out account is refused before its password is checked, so
	// that guesses during the lockout learn nothing, the right password
	// included; the form stays usable for after the wait.
	if locked > 0 {
		ev.Result, ev.LockedUntil = "locked_out", now.Add(locked)
		p.emit(ev)
		p.log.Info("idp: login refused during a lockout", zap.String("client_id", pd.req.clientID), zap.String("user", ev.User),
			zap.String("client", client), zap.Duration("wait", locked))
		p.loginPage(w, http.StatusTooManyRequests, id, email, lockedMessage(locked))
		return
	}

	hash := p.dummy
	if u != nil {
		hash = u.hash
	}
	match := bcrypt.CompareHashAndPassword(hash, []byte(password)) == nil && u != nil
	if !match {
		p.mu.Lock()
		pd.attempts++
		tooMany := pd.attempts >= maxLoginAttempts
		if tooMany {
			delete(p.pending, id)
		}
		lock, recorded := p.throttle.failLocked(account, client, now)
		p.mu.Unlock()
		ev.Result = "invalid_credentials"
		p.emit(ev)
		p.log.Info("idp: login refused", zap.String("client_id", pd.req.clientID), zap.String("user", ev.User))
		switch {
		case lock > 0:
			p.emit(AuditEvent{Type: "login_locked", Time: now, ClientID: pd.req.clientID, Prompt: pd.req.prompt, User: ev.User,
				Client: client, Result: "locked_out", LockedUntil: now.Add(lock)})
			p.log.Warn("idp: account locked out after wrong passwords", zap.String("user", ev.User), zap.String("client", client),
				zap.Duration("for", lock))
			if !tooMany {
				p.loginPage(w, http.StatusTooManyRequests, id, email, lockedMessage(lock))
				return
			}
			p.errorPage(w, http.StatusTooManyRequests, lockedMessage(lock)+" Then go back to the application and start again.")
		case !recorded:
			p.errorPage(w, http.StatusServiceUnavailable, "The identity provider is refusing sign-ins after too many wrong passwords from many places. Wait "+limits.Wait(lockoutMax)+" and try again.")
		case tooMany:
			p.errorPage(w, http.StatusTooManyRequests, "Too many wrong passwords for this sign-in. Go back to the application and start again.")
		default:
			p.loginPage(w, http.StatusOK, id, email, "The email or password is not correct. Try again.")
		}
		return
	}

	// One form, one login: a second POST of the same form finds nothing.
	p.mu.Lock()
	if p.pending[id] != pd {
		p.mu.Unlock()
		p.errorPage(w, http.StatusBadRequest, "This sign-in form was already used. Go back to the application and sign in again.")
		return
	}
	delete(p.pending, id)
	p.throttle.succeedLocked(account, client)
	key := strings.ToLower(u.email)
	// A new session ID at every login, so that an ID planted before the login
	// (session fixation) is worth nothing after it.
	if c, err := r.Cookie(sessionCookie); err == nil {
		delete(p.sessions, c.Value)
	}
	sid, err := putLocked(p.sessions, maxSessions, &session{email: key, authTime: now, expires: now.Add(p.sessTTL)}, now)
	p.mu.Unlock()
	if err != nil {
		p.errorPage(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	sess := &session{email: key, authTime: now}
	code, err := p.newCode(pd.req, sess, now)
	if err != nil {
		p.errorPage(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: sid, Path: "/", HttpOnly: true, Secure: p.secure, SameSite: http.SameSiteLaxMode})
	p.emit(AuditEvent{Type: "login", Time: now, ClientID: pd.req.clientID, Prompt: pd.req.prompt, User: u.email, AuthTime: now, Result: "code"})
	p.log.Info("idp: login", zap.String("client_id", pd.req.clientID), zap.String("user", u.email), zap.Time("auth_time", now))
	p.redirectCode(w, r, pd.req, code)
}

// lockedMessage tells the person at the form how long to wait. It says
// the same for an account that does not exist.
func lockedMessage(wait time.Duration) string {
	return "Too many wrong passwords for this account from your computer. Wait " + limits.Wait(wait) +
		" and try again; if you forgot your password, ask your administrator."
}

// currentSession returns the browser's live session whose user still
// exists, or nil.
func (p *Provider) currentSession(r *http.Request, now time.Time) *session {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.sessions[c.Value]
	if s == nil {
		return nil
	}
	if !now.Before(s.expires) || p.users[s.email] == nil {
		delete(p.sessions, c.Value)
		return nil
	}
	cp := *s
	return &cp
}

func (p *Provider) userEmail(key string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if u := p.users[key]; u != nil {
		return u.email
	}
	return ""
}

// browserID returns the browser's idp_browser cookie, setting one when
// missing. A login form is bound to it: SameSite=Lax keeps it off a
// cross-site POST, so another site cannot submit the form (login CSRF).
func (p *Provider) browserID(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(browserCookie); err == nil && len(c.Value) == 43 {
		return c.Value
	}
	id := randtoken.New(32)
	http.SetCookie(w, &http.Cookie{Name: browserCookie, Value: id, Path: "/", HttpOnly: true, Secure: p.secure, SameSite: http.SameSiteLaxMode})
	return id
}

// newPending stores a login form. Anyone can open one without signing
// in, so a full table never refuses: the oldest form makes room, and a
// flood of forms pushes out its own before anyone's who opened theirs
// after it began (the team domain's pending sign-ins work the same way).
func (p *Provider) newPending(req authRequest, browser string, now time.Time) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.pending) >= maxPending {
		sweepLocked(p.pending, now)
	}
	if len(p.pending) >= maxPending {
		var oldest string
		var first time.Time
		for k, x := range p.pending {
			if oldest == "" || x.expires.Before(first) {
				oldest, first = k, x.expires
			}
		}
		delete(p.pending, oldest)
	}
	return putLocked(p.pending, maxPending, &pending{req: req, browser: browser, expires: now.Add(PendingLifetime)}, now)
}

func (p *Provider) newCode(req authRequest, s *session, now time.Time) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return putLocked(p.codes, maxCodes, &grant{req: req, email: s.email, authTime: s.authTime, expires: now.Add(CodeLifetime)}, now)
}

// expirer is what putLocked needs to sweep a table.
type expirer interface{ expiry() time.Time }

func (x *pending) expiry() time.Time { return x.expires }
func (x *session) expiry() time.Time { return x.expires }
func (x *grant) expiry() time.Time   { return x.expires }

// putLocked stores v under a new random ID. When the table is full it first
// drops expired entries; if it is still full it refuses, saying how long
// until the oldest entry expires. Only tables whose entries need a
// successful sign-in refuse; see newPending.
func putLocked[T expirer](m map[string]T, limit int, v T, now time.Time) (string, error) {
	if len(m) >= limit {
		sweepLocked(m, now)
		if len(m) >= limit {
			var first time.Time
			for _, x := range m {
				if e := x.expiry(); first.IsZero() || e.Before(first) {
					first = e
				}
			}
			return "", fmt.Errorf("the identity provider has too many sign-ins in progress; wait %s and try again", limits.Wait(first.Sub(now)))
		}
	}
	id := randtoken.New(32)
	m[id] = v
	return id, nil
}

// sweepLocked drops m's expired entries.
func sweepLocked[T expirer](m map[string]T, now time.Time) {
	for k, x := range m {
		if !now.Before(x.expiry()) {
			delete(m, k)
		}
	}
}

func (p *Provider) redirectCode(w http.ResponseWriter, r *http.Request, req authRequest, code string) {
	v := url.Values{"code": {code}}
	if req.state != "" {
		v.Set("state", req.state)
	}
	p.redirect(w, r, req.redirectURI, v)
}

func (p *Provider) redirectError(w http.ResponseWriter, r *http.Request, req authRequest, e *authError) {
	v := url.Values{"error": {e.code}, "error_description": {e.desc}}
	if req.state != "" {
		v.Set("state", req.state)
	}
	p.redirect(w, r, req.redirectURI, v)
}

// redirect sends the browser to a registered redirect URI with v added to
// its query.
func (p *Provider) redirect(w http.ResponseWriter, r *http.Request, target string, v url.Values) {
	u, _ := url.Parse(target) // validated in New
	q := u.Query()
	for k, vals := range v {
		q[k] = vals
	}
	u.RawQuery = q.Encode()
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, u.String(), http.StatusSeeOther)
}

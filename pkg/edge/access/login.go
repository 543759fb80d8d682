package access

import (
	"container/list"
	"crypto/subtle"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"go.uber.org/zap"
	"golang.org/x/oauth2"

	"github.com/ztagent/ztagent/internal/randtoken"
	"github.com/ztagent/ztagent/pkg/edge/internal/limits"
)

// pendingLogin is a sign-in sent to the IdP, waiting for its callback. The
// state parameter is its key; nothing about it travels in the URL.
type pendingLogin struct {
	trigger  Trigger
	browser  string        // the browserCookie value it is bound to
	rp       *relyingParty // the IdP configuration it started with
	nonce    string
	verifier string // our PKCE verifier towards the IdP
	prompt   string
	expires  time.Time

	// Enrollment: where and what to hand the agent; device instead for
	// the device authorization flow.
	device         *deviceGrant
	agentRedirect  *url.URL
	agentState     string
	agentChallenge string

	// Access login: the application.
	appDomain string
	// next is where to go after success: a same-origin path for
	// refresh-identity, a URL on the application for an Access login.
	next string

	// Its place in the pending table: the state it is stored under, the
	// client (limits.ClientKey) that started it, and its element in that
	// client's queue.
	state    string
	client   string
	loopback bool
	elem     *list.Element
}

// startLogin sends the browser to the IdP for pl. It fills in the IdP side
// of pl (nonce, PKCE, expiry, browser binding) and stores it.
func (t *TeamDomain) startLogin(w http.ResponseWriter, r *http.Request, pl *pendingLogin, idp IdP) {
	rp, err := t.relyingParty(r.Context(), idp.ID)
	if err != nil {
		t.log.Warn("access: identity provider discovery failed", zap.String("trigger", string(pl.trigger)),
			zap.String("idp", idp.label()), zap.String("issuer", idp.Issuer), zap.Error(err))
		t.emit(AuditEvent{Type: "login_failed", Time: t.clock.Now(), Trigger: pl.trigger, Reason: "idp_unreachable"})
		t.errorPage(w, http.StatusBadGateway, "Identity provider unavailable",
			"The sign-in with "+idp.label()+" could not start: "+err.Error()+". Try again in a minute; if it keeps failing, ask your administrator to check that the identity provider is running and its URLs are right.")
		return
	}
	// Only an external IdP can be down while edged runs.
	if err := t.probe(r.Context(), idp, rp); err != nil {
		t.log.Warn("access: identity provider unreachable", zap.String("trigger", string(pl.trigger)),
			zap.String("idp", idp.label()), zap.String("url", rp.probe), zap.Error(err))
		t.emit(AuditEvent{Type: "login_failed", Time: t.clock.Now(), Trigger: pl.trigger, Reason: "idp_unreachable"})
		t.errorPage(w, http.StatusBadGateway, "Identity provider unavailable",
			"The sign-in with "+idp.label()+" could not start: "+rp.probe+" did not answer ("+truncate(strings.Join(strings.Fields(err.Error()), " "), 200)+"). Try again in a minute; if it keeps failing, ask your administrator to check that the identity provider is running and its URLs are right.")
		return
	}
	now := t.clock.Now()
	pl.rp, pl.prompt = rp, rp.cfg.Prompt
	pl.nonce, pl.verifier = randtoken.New(32), oauth2.GenerateVerifier()
	pl.expires = now.Add(LoginLifetime)
	pl.browser = t.browserID(w, r)
	pl.client, pl.loopback = limits.ClientKey(r.RemoteAddr)
	state := t.putPending(pl, now)
	opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(pl.verifier), oidc.Nonce(pl.nonce)}
	if pl.prompt != "" {
		opts = append(opts, oauth2.SetAuthURLParam("prompt", pl.prompt))
	}
	t.emit(AuditEvent{Type: "authorize", Time: now, Trigger: pl.trigger, Prompt: pl.prompt})
	t.log.Info("access: sign-in sent to the identity provider", zap.String("trigger", string(pl.trigger)),
		zap.String("idp", rp.cfg.label()), zap.String("issuer", rp.cfg.Issuer), zap.String("prompt", pl.prompt))
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, rp.oauth.AuthCodeURL(state, opts...), http.StatusSeeOther)
}

// browserID returns the browser's binding cookie, setting one when missing.
// SameSite=Lax still sends it on the IdP's top-level redirect back to us.
func (t *TeamDomain) browserID(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(browserCookie); err == nil && len(c.Value) == 43 {
		return c.Value
	}
	id := randtoken.New(32)
	http.SetCookie(w, &http.Cookie{Name: browserCookie, Value: id, Path: "/", HttpOnly: true, Secure: t.secure, SameSite: http.SameSiteLaxMode})
	return id
}

// putPending stores pl and returns its state. A full table never refuses
// a sign-in: see pendingTable.
func (t *TeamDomain) putPending(pl *pendingLogin, now time.Time) string {
	t.mu.Lock()
	state, displaced := t.pending.put(pl, now)
	t.mu.Unlock()
	if displaced > 0 {
		// Debug: a flood would otherwise write a line per request.
		t.log.Debug("access: a new sign-in displaced the oldest pending one", zap.String("client", pl.client), zap.Int("displaced", displaced))
	}
	return state
}

// takePending removes and returns the login for state: a state is good for
// one callback, whatever its outcome.
func (t *TeamDomain) takePending(state string) *pendingLogin {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.pending.take(state)
}

// serveCallback is where the IdP sends the browser back.
func (t *TeamDomain) serveCallback(w http.ResponseWriter, r *http.Request) {
	q, ok := t.query(w, r)
	if !ok {
		return
	}
	now := t.clock.Now()
	pl := t.takePending(q.Get("state"))
	var browser string
	if c, err := r.Cookie(browserCookie); err == nil {
		browser = c.Value
	}
	switch {
	case pl == nil:
		t.refuseCallback(w, "", "unknown_state", "This sign-in is unknown: it was already completed, has expired, or was not started here. Start again from the application (to enroll a device, run the registration again).")
		return
	case !now.Before(pl.expires):
		t.refuseCallback(w, pl.trigger, "expired", "This sign-in took longer than 10 minutes and has expired. Start again from the application.")
		return
	case browser == "" || subtle.ConstantTimeCompare([]byte(browser), []byte(pl.browser)) != 1:
		t.refuseCallback(w, pl.trigger, "wrong_browser", "This sign-in was started in another browser (or its cookies were cleared). Start again in the browser you want to use.")
		return
	}
	if e := q.Get("error"); e != "" {
		t.refuseCallback(w, pl.trigger, truncate(e, 64), idpErrorMessage(e, q.Get("error_description"), pl.prompt))
		return
	}
	code := q.Get("code")
	if code == "" {
		t.refuseCallback(w, pl.trigger, "invalid_request", "The identity provider sent you back without a sign-in code. Start the sign-in again.")
		return
	}
	id, err := pl.rp.complete(r.Context(), t.client, code, pl.verifier, pl.nonce)
	if err != nil {
		fe := &flowError{status: http.StatusBadGateway, reason: "server_error", msg: "The sign-in could not be completed. Start it again."}
		errors.As(err, &fe)
		t.log.Warn("access: sign-in failed", zap.String("trigger", string(pl.trigger)), zap.String("reason", fe.reason))
		t.emit(AuditEvent{Type: "login_failed", Time: now, Trigger: pl.trigger, Prompt: pl.prompt, Reason: fe.reason})
		t.errorPage(w, fe.status, "Sign-in failed", fe.msg)
		return
	}
	// The session starts now, on the edge's clock (S1), whatever the IdP's
	// clock says: see Identity.AuthenticatedAt.
	id.AuthenticatedAt = now
	login := Login{Identity: id, Trigger: pl.trigger, IdPID: pl.rp.cfg.ID, IdPType: pl.rp.cfg.Type, Prompt: pl.prompt, AppDomain: pl.appDomain}
	if t.onLogin != nil {
		if err := t.onLogin(r.Context(), login); err != nil {
			t.log.Warn("access: the session could not be updated after a sign-in", zap.String("trigger", string(pl.trigger)),
				zap.String("user", id.Email), zap.Error(err))
			t.emit(AuditEvent{Type: "login_failed", Time: now, Trigger: pl.trigger, Prompt: pl.prompt, User: id.Email, AuthTime: id.AuthenticatedAt, Reason: "session_update_failed"})
			t.errorPage(w, http.StatusInternalServerError, "Sign-in not completed",
				"You signed in as "+id.Email+", but the team domain could not update your session: "+err.Error())
			return
		}
	}
	t.emit(AuditEvent{Type: "login", Time: now, Trigger: pl.trigger, Prompt: pl.prompt, User: id.Email, AuthTime: id.AuthenticatedAt, IdPAuthTime: id.AuthTime})
	t.log.Info("access: signed in", zap.String("trigger", string(pl.trigger)), zap.String("user", id.Email),
		zap.Time("session_start", id.AuthenticatedAt), zap.Time("idp_auth_time", id.AuthTime), zap.Strings("groups", id.Groups))
	switch pl.trigger {
	case TriggerEnrollment:
		t.finishEnrollment(w, r, pl, login, now)
	case TriggerRefreshIdentity:
		t.finishRefresh(w, r, pl, login)
	case TriggerAccessLogin:
		t.finishAppLogin(w, r, pl, id, now)
	}
}

func (t *TeamDomain) refuseCallback(w http.ResponseWriter, trigger Trigger, reason, msg string) {
	t.log.Info("access: sign-in callback refused", zap.String("trigger", string(trigger)), zap.String("reason", reason))
	t.emit(AuditEvent{Type: "login_failed", Time: t.clock.Now(), Trigger: trigger, Reason: reason})
	t.errorPage(w, http.StatusBadRequest, "Sign-in failed", msg)
}

// idpErrorMessage explains an error the IdP sent back instead of a code.
func idpErrorMessage(code, desc, prompt string) string {
	var msg string
	switch code {
	case "access_denied":
		msg = "The identity provider denied the sign-in."
	case "login_required", "interaction_required":
		msg = "The identity provider needs you to sign in, but the organization's configuration (prompt=" + prompt + ") does not let it ask. Ask your administrator to change the identity provider's prompt setting."
	default:
		msg = "The identity provider refused the sign-in (" + truncate(code, 64) + ")."
	}
	if desc != "" {
		msg += " It said: " + truncate(desc, 200) + "."
	}
	return msg + " Start the sign-in again, or ask your administrator if it keeps failing."
}

// query parses the query, refusing repeated or over-long parameters with a
// page; ok is false when it has answered.
func (t *TeamDomain) query(w http.ResponseWriter, r *http.Request) (url.Values, bool) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		t.errorPage(w, http.StatusBadRequest, "Bad request", "The address is malformed (its query cannot be read). Go back and start again.")
		return nil, false
	}
	for k, v := range q {
		if len(v) > 1 {
			t.errorPage(w, http.StatusBadRequest, "Bad request", "The parameter "+truncate(k, 40)+" appears more than once. The application that sent you here has a bug; start again.")
			return nil, false
		}
		if len(v[0]) > maxParamLen {
			t.errorPage(w, http.StatusBadRequest, "Bad request", "The parameter "+truncate(k, 40)+" is too long. The application that sent you here has a bug; start again.")
			return nil, false
		}
	}
	return q, true
}

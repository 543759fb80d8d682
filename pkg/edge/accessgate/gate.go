package accessgate

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"
	"go.uber.org/zap"

	"github.com/ztagent/ztagent/internal/clock"
	"github.com/ztagent/ztagent/pkg/edge/access"
	"github.com/ztagent/ztagent/pkg/edge/gateway"
)

// Header and cookie names an Access-protected origin sees.
const (
	HeaderEmail     = "Cf-Access-Authenticated-User-Email"
	HeaderAssertion = "Cf-Access-Jwt-Assertion"
	CookieName      = "CF_Authorization"
	// headerPrefix is the canonical prefix of every Access header, which
	// clients may not send.
	headerPrefix = "Cf-Access-"
)

// TeamDomain is what the gate needs of the team domain
// (*access.TeamDomain): where to send logins and how to check the token a
// login hands the application.
type TeamDomain interface {
	// URL returns the team domain's origin, http://acme.localhost:8781.
	URL() string
	// VerifyAppToken checks a token handed to appDomain's
	// /cdn-cgi/access/authorized.
	VerifyAppToken(raw, appDomain string) (access.Identity, error)
}

// DeviceSessionExpired is an S10 signal: a device's Access device session
// for an application has expired, so its user was sent to log in.
type DeviceSessionExpired struct {
	DeviceID string
	// AuthTime is the device's auth_time that expired.
	AuthTime time.Time
	// AppID, AppName and AppDomain name the application.
	AppID, AppName, AppDomain string
}

// Event is one Access decision that is worth an audit record: a denial, a
// login redirect, a login accepted at /cdn-cgi/access/authorized, an
// application token refused. Allowed requests are not reported one by one:
// the Gateway already audits each HTTP request, and a synchronous record
// per request would sit on the request path.
type Event struct {
	// Type is "denied", "login_required", "session_started" or
	// "token_refused".
	Type      string    `json:"type"`
	Time      time.Time `json:"time"`
	DeviceID  string    `json:"device_id"`
	User      string    `json:"user,omitempty"`
	App       string    `json:"app"`
	AppDomain string    `json:"app_domain"`
	Policy    string    `json:"policy,omitempty"`
	// Reason explains Type: device_session_expired, no_session, no_match,
	// policy.
	Reason string `json:"reason,omitempty"`
}

// Options configures New. TeamDomain is required.
type Options struct {
	// Apps are the applications to protect (Compile); none when nil.
	Apps *Apps
	// TeamDomain signs users in to applications.
	TeamDomain TeamDomain
	// Clock is the edge's clock, read at each request; default the real
	// clock.
	Clock clock.Clock
	// SigningKey (ECDSA P-256) signs Cf-Access-Jwt-Assertion and the
	// application cookies; generated when nil.
	SigningKey *ecdsa.PrivateKey
	// OnDeviceSessionExpired is called once per device, application and
	// auth_time when an expired device session sends the user to log in
	// (S10), in the request's goroutine; an error arms it again. Nil
	// signals nothing.
	OnDeviceSessionExpired func(context.Context, DeviceSessionExpired) error
	// Audit is called, in the request's goroutine, with every Event. Nil
	// records nothing.
	Audit func(context.Context, Event)
	// Logger; nil logs nothing.
	Logger *zap.Logger
}

// Gate is the Access gate. It implements gateway.RequestHook; its methods
// are safe for concurrent use, and it starts no goroutines.
type Gate struct {
	apps    atomic.Pointer[Apps]
	team    TeamDomain
	clock   clock.Clock
	tokens  *tokens
	onExp   func(context.Context, DeviceSessionExpired) error
	audit   func(context.Context, Event)
	log     *zap.Logger
	signals signalSet
	issued  assertionCache
	spent   onceSet
}

var _ gateway.RequestHook = (*Gate)(nil)

// New returns a Gate protecting opts.Apps.
func New(opts Options) (*Gate, error) {
	if opts.TeamDomain == nil {
		return nil, errors.New("accessgate: Options.TeamDomain is nil; the gate sends logins to the team domain and needs it")
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real()
	}
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	if opts.Apps == nil {
		opts.Apps = &Apps{}
	}
	key := opts.SigningKey
	if key == nil {
		var err error
		if key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			return nil, fmt.Errorf("accessgate: generating the signing key: %w", err)
		}
	}
	tk, err := newTokens(key, strings.TrimSuffix(opts.TeamDomain.URL(), "/"))
	if err != nil {
		return nil, err
	}
	g := &Gate{team: opts.TeamDomain, clock: opts.Clock, tokens: tk, onExp: opts.OnDeviceSessionExpired, audit: opts.Audit, log: opts.Logger}
	g.signals.m = map[signalKey]time.Time{}
	g.issued.m = map[assertionKey]string{}
	g.spent.m = map[string]time.Time{}
	g.apps.Store(opts.Apps)
	return g, nil
}

// SetApps replaces the protected applications (a configuration reload).
// Requests under way finish with the old ones.
func (g *Gate) SetApps(a *Apps) {
	if a == nil {
		a = &Apps{}
	}
	g.apps.Store(a)
	g.log.Info("access applications loaded", zap.Int("applications", a.Len()))
}

// PublicKey returns the key that verifies Cf-Access-Jwt-Assertion.
func (g *Gate) PublicKey() *ecdsa.PublicKey { return g.tokens.pub }

// JWKS returns the verification key as a JSON Web Key Set, as an origin
// would fetch it from the team domain's /cdn-cgi/access/certs.
func (g *Gate) JWKS() jose.JSONWebKeySet {
	return jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: g.tokens.pub, KeyID: g.tokens.kid, Algorithm: string(jose.ES256), Use: "sig"}}}
}

// VerifyAssertion checks a Cf-Access-Jwt-Assertion the gate issued for
// appDomain (as an origin does with the team's certs) and returns its
// claims.
func (g *Gate) VerifyAssertion(raw, appDomain string) (*Claims, error) {
	return g.tokens.verify(raw, kindAssertion, normalHost(appDomain), g.clock.Now())
}

// HookRequest authenticates and authorizes a request to an Access
// application; requests to other hosts pass untouched (nil).
func (g *Gate) HookRequest(ctx context.Context, req *http.Request, from gateway.Requester) *http.Response {
	a := g.apps.Load().match(req.Host, req.URL.Path)
	if a == nil {
		return nil
	}
	stripAccessHeaders(req.Header)
	now := g.clock.Now()
	if req.URL.Path == access.PathAuthorized {
		return g.authorized(ctx, req, a, from, now)
	}
	if _, ok := a.anonymous(from.Identity.ServiceTokenID); ok {
		return nil
	}
	deviceExpired := false
	if a.device.Enabled && !from.Identity.AuthTime.IsZero() && from.Identity.Email != "" {
		end := from.Identity.AuthTime.Add(a.device.Duration)
		// Age ≤ duration is inside the session (S9): it ends after end.
		if !now.After(end) {
			id := &Identity{Email: from.Identity.Email, Name: from.Identity.Name, Groups: from.Identity.Groups, AuthTime: from.Identity.AuthTime}
			return g.admit(ctx, req, a, from, id, "device", now, end)
		}
		deviceExpired = true
	}
	if c := g.sessionCookie(req, a, now); c != nil {
		return g.admit(ctx, req, a, from, c.identity(), "login", now, c.Expiry.Time())
	}
	reason := "no_session"
	if deviceExpired {
		reason = "device_session_expired"
		g.signalExpired(ctx, from, a)
	}
	g.report(ctx, Event{Type: "login_required", DeviceID: from.Flow.DeviceID, User: from.Identity.Email, App: a.name, AppDomain: a.host, Reason: reason, Time: now})
	return loginRedirect(req, g.loginURL(a, originalURL(req), from.Identity.IdPID))
}

// admit applies the allow and deny policies to an authenticated identity:
// forwarded with the identity headers, or denied with a page.
func (g *Gate) admit(ctx context.Context, req *http.Request, a *app, from gateway.Requester, id *Identity, via string, now, end time.Time) *http.Response {
	v := a.decide(id)
	if !v.allowed {
		reason := "no_match"
		if v.policy != nil {
			reason = "policy"
		}
		g.report(ctx, Event{Type: "denied", DeviceID: from.Flow.DeviceID, User: id.Email, App: a.name, AppDomain: a.host, Policy: v.policyName(), Reason: reason, Time: now})
		return deniedPage(req, a, id.Email, v.policyName())
	}
	tok, err := g.assertion(a, id, via, now, end)
	if err != nil {
		g.log.Error("signing an Access assertion failed", zap.Error(err))
		return textResponse(req, http.StatusInternalServerError, "Access could not sign your identity for this application; try again.\n")
	}
	req.Header.Set(HeaderEmail, id.Email)
	req.Header.Set(HeaderAssertion, tok)
	return nil
}

// sessionCookie returns the claims of a valid CF_Authorization cookie for
// a, or nil. Every cookie of that name is tried: a browser may hold one per
// path.
func (g *Gate) sessionCookie(req *http.Request, a *app, now time.Time) *Claims {
	for _, ck := range req.CookiesNamed(CookieName) {
		if c, err := g.tokens.verify(ck.Value, kindSession, a.host, now); err == nil {
			return c
		}
		if c, err := g.tokens.verify(ck.Value, kindSessionOnce, a.host, now); err == nil && c.ID != "" && g.spent.spend(c.ID, c.Expiry.Time(), now) {
			return c
		}
	}
	return nil
}

// authorized is /cdn-cgi/access/authorized on the application's origin:
// the team domain's token becomes the application's session cookie.
func (g *Gate) authorized(ctx context.Context, req *http.Request, a *app, from gateway.Requester, now time.Time) *http.Response {
	q := req.URL.Query()
	ident, err := g.team.VerifyAppToken(q.Get("token"), a.host)
	if err != nil {
		g.report(ctx, Event{Type: "token_refused", DeviceID: from.Flow.DeviceID, App: a.name, AppDomain: a.host, Reason: err.Error(), Time: now})
		return signInAgainPage(req, a, g.loginURL(a, "http://"+a.host+"/", from.Identity.IdPID))
	}
	id := &Identity{Email: ident.Email, Name: ident.Name, Groups: ident.Groups, AuthTime: ident.AuthenticatedAt}
	v := a.decide(id)
	if !v.allowed {
		g.report(ctx, Event{Type: "denied", DeviceID: from.Flow.DeviceID, User: id.Email, App: a.name, AppDomain: a.host, Policy: v.policyName(), Reason: "policy", Time: now})
		return deniedPage(req, a, id.Email, v.policyName())
	}
	life, once := a.session, a.immediate
	switch {
	case v.policy != nil && v.policy.SessionExpiresImmediately:
		once = true
	case v.policy != nil && v.policy.SessionDuration > 0:
		life, once = v.policy.SessionDuration, false
	}
	kind := kindSession
	if once {
		kind, life = kindSessionOnce, onceLifetime
	}
	exp := now.Add(life)
	tok, err := g.tokens.issue(kind, "login", a.host, id, now, exp)
	if err != nil {
		g.log.Error("signing an Access session failed", zap.Error(err))
		return textResponse(req, http.StatusInternalServerError, "Access could not start your session for this application; try again.\n")
	}
	g.report(ctx, Event{Type: "session_started", DeviceID: from.Flow.DeviceID, User: id.Email, App: a.name, AppDomain: a.host, Policy: v.policyName(), Time: now})
	resp := loginRedirect(req, appRedirect(a, q.Get("redirect_url")))
	resp.Header.Add("Set-Cookie", (&http.Cookie{
		Name: CookieName, Value: tok, Path: "/", Expires: exp, MaxAge: int(life / time.Second),
		HttpOnly: true, SameSite: http.SameSiteLaxMode,
	}).String())
	return resp
}

// loginURL is the team domain's login for a, returning to next. It names
// the identity provider the device enrolled with, idpID, as a hint: the
// device's user signs in there when the application allows it.
func (g *Gate) loginURL(a *app, next, idpID string) string {
	v := url.Values{"redirect_url": {next}}
	if idpID != "" {
		v.Set(access.ParamIdPHint, idpID)
	}
	return strings.TrimSuffix(g.team.URL(), "/") + access.PathLogin + a.host + "?" + v.Encode()
}

// originalURL is the URL the browser asked for.
func originalURL(req *http.Request) string {
	return "http://" + normalHost(req.Host) + req.URL.RequestURI()
}

// appRedirect returns raw when it is a page of a, else a's root: the
// authorized endpoint must not become an open redirector.
func appRedirect(a *app, raw string) string {
	root := "http://" + a.host + "/"
	if raw == "" || strings.ContainsAny(raw, "\\\x00\r\n\t") {
		return root
	}
	u, err := url.Parse(raw)
	if err != nil || u.User != nil || (u.Scheme != "http" && u.Scheme != "https") || normalHost(u.Host) != a.host {
		return root
	}
	return u.String()
}

// stripAccessHeaders removes every Cf-Access-* header a client sent, so
// that the origin sees only what the gate set.
func stripAccessHeaders(h http.Header) {
	for k := range h {
		if strings.HasPrefix(textproto.CanonicalMIMEHeaderKey(k), headerPrefix) {
			delete(h, k)
		}
	}
}

func (g *Gate) report(ctx context.Context, ev Event) {
	g.log.Info("access decision", zap.String("type", ev.Type), zap.String("app", ev.App), zap.String("user", ev.User),
		zap.String("policy", ev.Policy), zap.String("reason", ev.Reason))
	if g.audit != nil {
		g.audit(ctx, ev)
	}
}

// signalKey is one device's session for one application.
type signalKey struct{ device, app string }

// signalSet remembers the auth_time each device was last signalled for,
// per application, so that a burst of requests signals once; a new
// auth_time (re-authentication) arms it again. It holds one entry per
// device and application, overwritten, so it stays bounded.
type signalSet struct {
	mu sync.Mutex
	m  map[signalKey]time.Time
}

func (g *Gate) signalExpired(ctx context.Context, from gateway.Requester, a *app) {
	if g.onExp == nil {
		return
	}
	k := signalKey{from.Flow.DeviceID, a.id + "\x00" + a.host}
	at := from.Identity.AuthTime
	g.signals.mu.Lock()
	if prev, seen := g.signals.m[k]; seen && prev.Equal(at) {
		g.signals.mu.Unlock()
		return
	}
	g.signals.m[k] = at
	g.signals.mu.Unlock()
	err := g.onExp(ctx, DeviceSessionExpired{DeviceID: from.Flow.DeviceID, AuthTime: at, AppID: a.id, AppName: a.name, AppDomain: a.host})
	if err != nil {
		g.log.Error("signalling an expired Access device session failed; the next request tries again", zap.String("device", from.Flow.DeviceID), zap.Error(err))
		g.signals.mu.Lock()
		if cur, ok := g.signals.m[k]; ok && cur.Equal(at) {
			delete(g.signals.m, k)
		}
		g.signals.mu.Unlock()
	}
}

// maxCachedAssertions bounds the assertion cache; past it the cache starts
// over (each entry is one user's session of one application).
const maxCachedAssertions = 4096

// assertionKey is one session of one user at one application: everything
// an assertion says.
type assertionKey struct {
	host, email, name, groups, via string
	authTime, end                  int64
}

// assertionCache keeps the assertion of each session: like Access's
// CF_Authorization, one token stands for the whole session, and signing
// one per request (ES256, about 50 µs) would be most of the gate's cost.
type assertionCache struct {
	mu sync.Mutex
	m  map[assertionKey]string
}

// assertion returns the session's Cf-Access-Jwt-Assertion, signing it on
// first use. The session includes its last instant (age ≤ duration) and a
// token dies at exp, in whole seconds: one second more keeps the token
// alive for as long as the session that authenticated it.
func (g *Gate) assertion(a *app, id *Identity, via string, now, end time.Time) (string, error) {
	k := assertionKey{host: a.host, email: id.Email, name: id.Name, groups: strings.Join(id.Groups, "\x00"), via: via,
		authTime: id.AuthTime.UnixNano(), end: end.UnixNano()}
	g.issued.mu.Lock()
	tok, ok := g.issued.m[k]
	g.issued.mu.Unlock()
	if ok {
		return tok, nil
	}
	tok, err := g.tokens.issue(kindAssertion, via, a.host, id, now, end.Add(time.Second))
	if err != nil {
		return "", err
	}
	g.issued.mu.Lock()
	if len(g.issued.m) >= maxCachedAssertions {
		clear(g.issued.m)
	}
	g.issued.m[k] = tok
	g.issued.mu.Unlock()
	return tok, nil
}

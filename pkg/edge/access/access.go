// Package access is the simulated team domain (Cloudflare Access at
// <team>.cloudflareaccess.com): an OpenID Connect relying party, built on
// coreos/go-oidc and x/oauth2, that signs users in with the organization's
// identity provider for three purposes:
//
//   - /warp enrolls a device: after the IdP login it hands the agent a
//     one-time code bound to the agent's PKCE challenge, on a loopback
//     redirect URI only (SEC6), which the control API redeems with
//     RedeemEnrollment.
//   - /cdn-cgi/access/refresh-identity re-authenticates the user, carrying
//     the IdP's configured prompt (S11), so the edge resets the session and
//     reloads the groups (S2, S12).
//   - /cdn-cgi/access/login/{app} signs the user in to an Access
//     application and hands it a short-lived signed token (VerifyAppToken).
//
// Every successful IdP authentication goes through Options.OnLogin, whatever
// triggered it (S2). The package talks to the IdP only through the
// configured HTTP client and discovers it lazily, so the edge starts even
// while an external IdP is down.
package access

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/ztagent/ztagent/internal/clock"
)

// Paths the team domain serves.
const (
	PathWARP = "/warp"
	// PathWARPConfirm is where the person confirms an enrollment.
	PathWARPConfirm     = "/cdn-cgi/access/warp/confirm"
	PathCallback        = "/cdn-cgi/access/callback"
	PathRefreshIdentity = "/cdn-cgi/access/refresh-identity"
	PathLogin           = "/cdn-cgi/access/login/"
	// PathAuthorized is where an application receives its token, on the
	// application's own origin.
	PathAuthorized = "/cdn-cgi/access/authorized"
)

// Lifetimes of the team domain's short-lived objects.
const (
	// LoginLifetime bounds an IdP login started by the team domain.
	LoginLifetime = 10 * time.Minute
	// EnrollmentCodeLifetime is how long an enrollment code can be redeemed
	// (SEC6).
	EnrollmentCodeLifetime = 10 * time.Minute
	// AppTokenLifetime is how long an application token is accepted.
	AppTokenLifetime = 2 * time.Minute
	// defaultHTTPTimeout bounds each back-channel call when the given
	// client has no timeout of its own.
	defaultHTTPTimeout = 10 * time.Second
)

// Limits that keep a misbehaving browser from exhausting memory. The
// pending logins have their own (pending.go); confirmations and codes exist
// only after a successful IdP login, so a full table of them refuses,
// saying how long until a place frees up.
const (
	maxConsents = 10000
	maxCodes    = 10000
	maxParamLen = 2048
)

// browserCookie binds a login to the browser that started it, so that a
// callback URL replayed in another browser finds nothing.
const browserCookie = "ztaccess_browser"

// Trigger says what led to an IdP authentication.
type Trigger string

// The triggers of OnLogin.
const (
	TriggerEnrollment      Trigger = "enrollment"
	TriggerRefreshIdentity Trigger = "refresh_identity"
	TriggerAccessLogin     Trigger = "access_login"
)

// Identity is who signed in, as the IdP's verified ID token says.
type Identity struct {
	Email  string
	Name   string
	Groups []string
	// AuthTime is the IdP's auth_time: when the user last typed their
	// credentials.
	AuthTime time.Time
	// AuthenticatedAt is when the team domain received this successful
	// authentication, on the edge's clock: the device client session
	// counts from it. After a silent single sign-on, AuthTime stays at the
	// original password entry, but the product resets the session on
	// every successful re-authentication, cookie-based ones included (S2;
	// prompt=login exists to make those ask for credentials, S11). The
	// edge's clock rather than the ID token's iat, because S1 lets only
	// the edge's clock decide (an external IdP's clock, or the simulated
	// time, may disagree).
	AuthenticatedAt time.Time
	// Issuer and Subject identify the user at the IdP.
	Issuer  string
	Subject string
	// Claims are the IdP's configured claims (IdP.Claims), one
	// "name=value" per value.
	Claims []string
}

// Login is one successful IdP authentication through the team domain.
type Login struct {
	Identity
	Trigger Trigger
	// IdPID and IdPType are the IdP's ID and type; Prompt is the prompt
	// the authorize request carried ("" for none).
	IdPID   string
	IdPType string
	Prompt  string
	// AppDomain is the application signed in to, for TriggerAccessLogin.
	AppDomain string
}

// Permissions are the organization's rules for who may sign in where:
// which applications' logins offer the IdP, and who may register a
// device. They are asked per request, so that they follow configuration
// reloads. A refusal's message is shown to the person: it must say why
// and what to do, and hold no secret.
type Permissions interface {
	// LoginIdPs returns the IDs of the identity providers a sign-in may
	// use (nil: every one): for TriggerEnrollment the device enrollment
	// permissions' allowed_idps, for TriggerAccessLogin those of the
	// application at app (a lower-case host). It returns an error, for
	// the person, when none of the team domain's may.
	LoginIdPs(trigger Trigger, app string) ([]string, error)
	// Enroll returns nil when the person who signed in may register a
	// device.
	Enroll(Login) error
}

// AuditEvent is one record for the edge's audit log.
type AuditEvent struct {
	// Type is "authorize" (a login sent to the IdP), "login" (an
	// authentication accepted), "login_failed", "enrollment_redeemed" or
	// "enrollment_refused".
	Type    string
	Time    time.Time
	Trigger Trigger
	// Prompt is the prompt of the authorize request.
	Prompt string
	User   string
	// AuthTime is the session start (Identity.AuthenticatedAt);
	// IdPAuthTime the IdP's auth_time claim.
	AuthTime    time.Time
	IdPAuthTime time.Time
	// Reason says why a login or redemption failed: an OAuth error code.
	Reason string
}

// Options configures New.
type Options struct {
	// TeamName is the organization's team name ("acme"), shown on pages.
	TeamName string
	// PublicURL is the team domain's origin as browsers reach it,
	// http://acme.localhost:8781.
	PublicURL string
	// IdP is the organization's default identity provider, listed first;
	// MoreIdPs are the others, each with an ID. A sign-in uses the one it
	// names (ParamIdP), else the only one offered, else the person picks
	// one on a chooser page.
	IdP      IdP
	MoreIdPs []IdP
	// AppDomains are the Access applications /cdn-cgi/access/login serves,
	// as host[:port]; a path after the host is ignored.
	AppDomains []string
	// HTTPClient makes every back-channel call to the IdP (discovery, JWKS,
	// token). Its dialer must reach the IdP's host (idp.localhost names
	// included). A client with a 10 s timeout when nil; a client without a
	// timeout is copied with one.
	HTTPClient *http.Client
	// Clock is the time source; clock.Real() when nil.
	Clock clock.Clock
	// Logger receives one line per login step; zap.NewNop() when nil.
	Logger *zap.Logger
	// OnLogin is called synchronously for every successful IdP
	// authentication, before the browser moves on; an error stops the flow
	// and its message is shown to the user, so it must say what went wrong
	// and hold no secret.
	OnLogin func(context.Context, Login) error
	// Audit, when set, is called synchronously for every AuditEvent.
	Audit func(AuditEvent)
	// Permissions decide who may sign in where; nil permits everything.
	Permissions Permissions
	// AppSigningKey signs application tokens (ES256, P-256); generated when
	// nil.
	AppSigningKey *ecdsa.PrivateKey
	// MaxPendingLogins bounds the sign-ins waiting for the IdP;
	// DefaultMaxPendingLogins when zero. MaxPendingLoginsPerClient bounds
	// those of one remote client; DefaultMaxPendingLoginsPerClient when
	// zero.
	MaxPendingLogins          int
	MaxPendingLoginsPerClient int
}

// TeamDomain is the team domain's HTTP service. Its methods are safe for
// concurrent use. It starts no goroutines.
type TeamDomain struct {
	team    string
	public  *url.URL
	origin  string
	secure  bool
	client  *http.Client
	clock   clock.Clock
	log     *zap.Logger
	onLogin func(context.Context, Login) error
	audit   func(AuditEvent)
	perms   Permissions
	tokens  *appTokens
	handler http.Handler

	discoverMu sync.Mutex // one discovery at a time

	mu         sync.Mutex
	idps       idpSet
	gen        int // bumped by SetIdPs, so a slow discovery for an old IdP is not kept
	appDomains map[string]bool
	pending    *pendingTable             // by our state parameter
	codes      map[[32]byte]*enrollment  // by SHA-256 of the code
	consents   map[string]*consent       // enrollments waiting for confirmation
	grants     map[[32]byte]*deviceGrant // device authorizations, by SHA-256 of the device code
	byUserCode map[string]*deviceGrant
	guesses    map[string]*guesses // wrong user codes, by client
}

// New validates opts and returns the team domain. Every problem is
// reported, joined into one error. It does not contact the IdP.
func New(opts Options) (*TeamDomain, error) {
	var errs []error
	pub, err := url.Parse(opts.PublicURL)
	switch {
	case opts.PublicURL == "":
		errs = append(errs, errors.New("access: the public URL is empty; set it to the team domain's origin, e.g. http://acme.localhost:8781"))
	case err != nil || (pub.Scheme != "http" && pub.Scheme != "https") || pub.Host == "" || pub.User != nil ||
		(pub.Path != "" && pub.Path != "/") || pub.RawQuery != "" || pub.Fragment != "":
		errs = append(errs, fmt.Errorf("access: public URL %q must be an http(s) origin with no path, e.g. http://acme.localhost:8781", opts.PublicURL))
	}
	if opts.TeamName == "" {
		errs = append(errs, errors.New("access: the team name is empty; set it (e.g. acme)"))
	}
	idps, err := newIdPSet(opts.IdP, opts.MoreIdPs)
	if err != nil {
		errs = append(errs, err)
	}
	domains, err := appDomainSet(opts.AppDomains)
	if err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	t := &TeamDomain{
		team: opts.TeamName, public: pub, origin: pub.Scheme + "://" + pub.Host, secure: pub.Scheme == "https",
		client: opts.HTTPClient, clock: opts.Clock, log: opts.Logger, onLogin: opts.OnLogin, audit: opts.Audit, perms: opts.Permissions,
		idps: idps, appDomains: domains,
		pending: newPendingTable(opts.MaxPendingLogins, opts.MaxPendingLoginsPerClient), codes: make(map[[32]byte]*enrollment), consents: make(map[string]*consent),
		grants: make(map[[32]byte]*deviceGrant), byUserCode: make(map[string]*deviceGrant), guesses: make(map[string]*guesses),
	}
	if t.client == nil {
		t.client = &http.Client{Timeout: defaultHTTPTimeout}
	} else if t.client.Timeout == 0 {
		c := *t.client
		c.Timeout = defaultHTTPTimeout
		t.client = &c
	}
	if t.clock == nil {
		t.clock = clock.Real()
	}
	if t.log == nil {
		t.log = zap.NewNop()
	}
	key := opts.AppSigningKey
	if key == nil {
		if key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			return nil, fmt.Errorf("access: generating the application signing key: %w", err)
		}
	}
	if t.tokens, err = newAppTokens(key, t.origin, t.clock); err != nil {
		return nil, err
	}
	t.handler = t.routes()
	return t, nil
}

// SetAppDomains replaces the Access applications /cdn-cgi/access/login
// serves, for a configuration reload. On error nothing changes.
func (t *TeamDomain) SetAppDomains(domains []string) error {
	m, err := appDomainSet(domains)
	if err != nil {
		return err
	}
	t.mu.Lock()
	t.appDomains = m
	t.mu.Unlock()
	return nil
}

// Handler returns the team domain's HTTP handler, to be served at
// PublicURL's origin.
func (t *TeamDomain) Handler() http.Handler { return t.handler }

// URL returns the team domain's origin, http://acme.localhost:8781.
func (t *TeamDomain) URL() string { return t.origin }

// RefreshIdentityURL returns the URL that re-authenticates the user (S12).
func (t *TeamDomain) RefreshIdentityURL() string { return t.origin + PathRefreshIdentity }

// CallbackURL returns the redirect URI the team domain sends to the IdP;
// register it with the IdP as the client's redirect URI.
func (t *TeamDomain) CallbackURL() string { return t.origin + PathCallback }

// appDomainSet normalises the application domains to lower-case
// host[:port] keys.
func appDomainSet(domains []string) (map[string]bool, error) {
	m := make(map[string]bool, len(domains))
	var errs []error
	for _, d := range domains {
		host, _, _ := strings.Cut(strings.TrimSpace(d), "/")
		host = strings.ToLower(host)
		if !validHost(host) {
			errs = append(errs, fmt.Errorf("access: application domain %q is not a host name; give the application's domain, e.g. wiki.acme.internal", d))
			continue
		}
		m[host] = true
	}
	return m, errors.Join(errs...)
}

// validHost reports whether s is a host[:port] that a URL carries
// unchanged.
func validHost(s string) bool {
	if s == "" || len(s) > 253 || strings.ContainsAny(s, "@?#\\ ") {
		return false
	}
	u, err := url.Parse("http://" + s)
	return err == nil && u.Host == s && u.Path == "" && u.User == nil
}

func (t *TeamDomain) emit(ev AuditEvent) {
	if t.audit != nil {
		t.audit(ev)
	}
}

// Package idp is the edge simulator's built-in OpenID Connect provider: the
// stand-in for Entra ID (or any OIDC IdP) that users sign in to when they
// enroll a device or re-authenticate.
//
// It serves discovery, a JWKS, an authorize endpoint with a real HTML login
// form, a browser-session cookie that gives single sign-on, and a token
// endpoint for the authorization-code grant with PKCE S256. ID tokens carry
// auth_time: the time the user last typed their credentials, which a reused
// browser session keeps and a forced login (prompt=login) renews (DESIGN S1,
// S2, S11). Passwords are hashed with bcrypt when they are loaded and the
// clear text is never kept, logged or audited (SEC5).
package idp

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"go.uber.org/zap"
	"golang.org/x/crypto/bcrypt"

	"github.com/ztagent/ztagent/internal/clock"
	"github.com/ztagent/ztagent/internal/secret"
)

// Lifetimes of the provider's short-lived objects.
const (
	// CodeLifetime is how long an authorization code can be redeemed.
	CodeLifetime = 60 * time.Second
	// PendingLifetime is how long a login form stays valid.
	PendingLifetime = 10 * time.Minute
	// TokenLifetime is the lifetime of ID and access tokens.
	TokenLifetime = time.Hour
	// DefaultSessionLifetime is the browser session's lifetime when
	// Options.SessionLifetime is zero.
	DefaultSessionLifetime = 24 * time.Hour
)

// Limits that keep a misbehaving client from exhausting memory.
const (
	maxBodyBytes     = 16 << 10 // login and token form bodies
	maxParamLen      = 2048     // any single authorize parameter
	maxPending       = 10000    // login forms in flight
	maxCodes         = 10000    // unredeemed codes
	maxSessions      = 100000   // browser sessions
	maxLoginAttempts = 10       // wrong passwords per login form
)

// Cookie names.
const (
	sessionCookie = "idp_session"
	browserCookie = "idp_browser"
)

// User is a person who can sign in.
type User struct {
	// Email is the login name and the email claim; matched case-insensitively.
	Email string
	// Name is the name claim.
	Name string
	// Password is hashed by New and SetUsers; the clear text is not kept.
	Password secret.Value
	// Groups become the groups claim.
	Groups []string
}

// Client is a registered relying party.
type Client struct {
	// ID is the client_id.
	ID string
	// Secret authenticates a confidential client (client_secret_basic or
	// client_secret_post). A zero Secret makes the client public: it must
	// then use PKCE S256.
	Secret secret.Value
	// RedirectURIs are the exact redirect_uri values the client may use.
	RedirectURIs []string
}

// AuditEvent is one record for the edge's audit log.
type AuditEvent struct {
	// Type is "authorize" (every authorize request), "login" (credentials
	// accepted), "login_failed" (credentials refused, Result
	// "invalid_credentials", or not checked during a lockout, Result
	// "locked_out") or "login_locked" (a wrong password started a
	// lockout of the account from that client until LockedUntil).
	Type string
	// Time is the provider's clock when the event happened.
	Time time.Time
	// ClientID is the relying party the request came from.
	ClientID string
	// Prompt is the request's prompt parameter, as sent.
	Prompt string
	// SessionReused reports, for an authorize event, whether an existing
	// browser session answered the request without the login form.
	SessionReused bool
	// User is the email of the user, when known.
	User string
	// AuthTime is the auth_time the request's ID token will carry: the
	// session's for a reused session, the new one for a login.
	AuthTime time.Time
	// Result is what the request led to: "code", "form", "login_required",
	// "interaction_required", "locked_out", or an OAuth error code.
	Result string
	// Client is the address the request came from (an IPv6 client's /64),
	// for login failures and lockouts.
	Client string
	// LockedUntil is when a lockout ends, for login_locked and locked_out.
	LockedUntil time.Time
}

// Options configures New.
type Options struct {
	// Issuer is the provider's public URL, e.g. http://idp.localhost:8782.
	// It has no path: the endpoints are served at its root.
	Issuer string
	// Users who can sign in.
	Users []User
	// Clients that may ask for codes.
	Clients []Client
	// Clock is the time source; clock.Real() when nil.
	Clock clock.Clock
	// Logger receives one line per authorize request and login; zap.NewNop()
	// when nil.
	Logger *zap.Logger
	// Audit, when set, is called synchronously for every AuditEvent.
	Audit func(AuditEvent)
	// SigningKey signs ID tokens: an *rsa.PrivateKey (RS256) or an
	// *ecdsa.PrivateKey (ES256/384/512 by curve). A 2048-bit RSA key is
	// generated when nil.
	SigningKey crypto.Signer
	// SessionLifetime bounds the browser session (single sign-on);
	// DefaultSessionLifetime when zero.
	SessionLifetime time.Duration
	// BcryptCost is the cost of password hashes; DefaultBcryptCost when
	// zero.
	BcryptCost int
}

// DefaultBcryptCost is bcrypt's least cost. The simulator's passwords come
// in clear from its file, so a slow hash of them in memory protects
// nothing the file does not already show; what the hash is for is a
// comparison that does not leak by timing, and guessing is bounded by the
// login throttle instead. bcrypt.DefaultCost took 73 ms per user, over a
// minute to start 2,000 users (issue 12 item 17).
const DefaultBcryptCost = bcrypt.MinCost

// Provider is an OpenID Connect provider. Its methods are safe for
// concurrent use.
type Provider struct {
	issuer  *url.URL
	iss     string
	clock   clock.Clock
	log     *zap.Logger
	audit   func(AuditEvent)
	signer  jose.Signer
	alg     jose.SignatureAlgorithm
	jwks    jose.JSONWebKeySet
	clients map[string]*client
	secure  bool
	cost    int
	sessTTL time.Duration
	dummy   []byte // bcrypt hash compared against for unknown users
	handler http.Handler

	mu       sync.Mutex
	users    map[string]*user // by lower-case email
	pending  map[string]*pending
	codes    map[string]*grant
	sessions map[string]*session
	throttle throttleState
	closed   bool
}

type user struct {
	email, name string
	hash        []byte
	groups      []string
	pwTag       []byte // passwordTag of the password, to reuse hash on reload
}

type client struct {
	id        string
	secret    secret.Value
	redirects map[string]bool
}

// New validates opts, hashes the passwords and returns a provider. Every
// problem in opts is reported, joined into one error.
func New(opts Options) (*Provider, error) {
	var errs []error
	iss, err := url.Parse(opts.Issuer)
	switch {
	case opts.Issuer == "":
		errs = append(errs, errors.New("idp: the issuer URL is empty; set it to the provider's public URL, e.g. http://idp.localhost:8782"))
	case err != nil:
		errs = append(errs, fmt.Errorf("idp: issuer %q is not a URL: %v", opts.Issuer, err))
	case (iss.Scheme != "http" && iss.Scheme != "https") || iss.Host == "" || iss.User != nil ||
		iss.RawQuery != "" || iss.Fragment != "" || (iss.Path != "" && iss.Path != "/"):
		errs = append(errs, fmt.Errorf("idp: issuer %q must be an http(s) URL with a host and no path, query or user info, e.g. http://idp.localhost:8782", opts.Issuer))
	}
	p := &Provider{
		clock: opts.Clock, log: opts.Logger, audit: opts.Audit,
		clients: make(map[string]*client), cost: opts.BcryptCost, sessTTL: opts.SessionLifetime,
		pending: make(map[string]*pending), codes: make(map[string]*grant), sessions: make(map[string]*session),
		throttle: throttleState{m: make(map[throttleKey]*failures)},
	}
	if p.clock == nil {
		p.clock = clock.Real()
	}
	if p.log == nil {
		p.log = zap.NewNop()
	}
	if p.cost == 0 {
		p.cost = DefaultBcryptCost
	}
	if p.sessTTL <= 0 {
		p.sessTTL = DefaultSessionLifetime
	}
	for i, c := range opts.Clients {
		if err := p.addClient(c); err != nil {
			errs = append(errs, fmt.Errorf("idp: client %d (%q): %w", i+1, c.ID, err))
		}
	}
	users, uerr := hashUsers(opts.Users, p.cost, nil)
	if uerr != nil {
		errs = append(errs, uerr)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	p.users = users
	if p.dummy, err = bcrypt.GenerateFromPassword([]byte("no such user"), p.cost); err != nil {
		return nil, fmt.Errorf("idp: bcrypt cost %d: %w", p.cost, err)
	}
	iss.Path = ""
	p.issuer, p.iss, p.secure = iss, iss.String(), iss.Scheme == "https"
	if err := p.initSigner(opts.SigningKey); err != nil {
		return nil, err
	}
	p.handler = p.routes()
	return p, nil
}

func (p *Provider) addClient(c Client) error {
	if c.ID == "" {
		return errors.New("client_id is empty; give every client an ID")
	}
	if _, dup := p.clients[c.ID]; dup {
		return errors.New("client_id is registered twice; remove one")
	}
	if len(c.RedirectURIs) == 0 {
		return errors.New("no redirect URIs; register the exact callback URL(s) of the application")
	}
	cl := &client{id: c.ID, secret: c.Secret, redirects: make(map[string]bool)}
	for _, r := range c.RedirectURIs {
		u, err := url.Parse(r)
		if err != nil || !u.IsAbs() || u.Host == "" || u.Fragment != "" || strings.HasSuffix(r, "#") {
			return fmt.Errorf("redirect URI %q must be an absolute URL with a host and no fragment", r)
		}
		cl.redirects[r] = true
	}
	p.clients[c.ID] = cl
	return nil
}

// hashUsers validates and hashes the users. bcrypt at the default cost is
// about 75 ms a password, so 2,000 users took 154 s to start and 199 s to
// reload: the hashes are computed on every CPU at once, and a reload
// (prev, the users in force) reuses the hash of a password that did not
// change instead of computing it again.
func hashUsers(in []User, cost int, prev map[string]*user) (map[string]*user, error) {
	errs := make([]error, len(in))
	out := make(map[string]*user, len(in))
	var todo []int
	for i, u := range in {
		key := strings.ToLower(strings.TrimSpace(u.Email))
		switch {
		case key == "" || !strings.Contains(key, "@"):
			errs[i] = fmt.Errorf("idp: user %d: email %q is not an email address", i+1, u.Email)
			continue
		case out[key] != nil:
			errs[i] = fmt.Errorf("idp: user %q is defined twice; keep one", u.Email)
			continue
		case u.Password.IsZero():
			errs[i] = fmt.Errorf("idp: user %q has no password; set one", u.Email)
			continue
		case len(u.Password.Reveal()) > maxPasswordBytes:
			errs[i] = fmt.Errorf("idp: user %q: the password is longer than %d bytes, which bcrypt cannot hash; choose a shorter one", u.Email, maxPasswordBytes)
			continue
		}
		nu := &user{email: strings.TrimSpace(u.Email), name: u.Name, groups: append([]string(nil), u.Groups...), pwTag: passwordTag(u.Password)}
		if old := prev[key]; old != nil && hmac.Equal(old.pwTag, nu.pwTag) {
			if c, err := bcrypt.Cost(old.hash); err == nil && c == cost {
				nu.hash = old.hash
			}
		}
		if nu.hash == nil {
			todo = append(todo, i)
		}
		out[key] = nu
	}
	if err := errors.Join(errs...); err != nil {
		// The users are refused as a whole: hashing the valid ones is waste.
		return nil, err
	}
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(todo)) {
		wg.Go(func() {
			for i := range jobs {
				u := in[i]
				h, err := bcrypt.GenerateFromPassword([]byte(u.Password.Reveal()), cost)
				if err != nil {
					errs[i] = fmt.Errorf("idp: user %q: hashing the password: %w", u.Email, err)
					continue
				}
				// Each worker writes only the user of its own job, and
				// wg.Wait orders the writes before the reads below.
				out[strings.ToLower(strings.TrimSpace(u.Email))].hash = h
			}
		})
	}
	for _, i := range todo {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	return out, errors.Join(errs...)
}

// maxPasswordBytes is bcrypt's limit; tfconfig.MaxPasswordBytes says the
// same at configuration load, so that validate finds it with a line.
const maxPasswordBytes = 72

// tagKey keys the password tags of this process. It never leaves memory,
// where the hashes and, in the simulator's configuration, the passwords
// themselves are too.
var tagKey = sync.OnceValue(func() []byte {
	k := make([]byte, 32)
	_, _ = rand.Read(k) // crypto/rand.Read never fails
	return k
})

// passwordTag is an HMAC of the password, by which a reload recognises an
// unchanged password without the cost of bcrypt.
func passwordTag(pw secret.Value) []byte {
	m := hmac.New(sha256.New, tagKey())
	m.Write([]byte(pw.Reveal()))
	return m.Sum(nil)
}

// SetUsers replaces the users, for a reload of the simulator file. Browser
// sessions of users that still exist stay valid; the next token they get
// carries the new name and groups (S12). On error nothing changes.
func (p *Provider) SetUsers(users []User) error {
	p.mu.Lock()
	prev := p.users
	p.mu.Unlock()
	m, err := hashUsers(users, p.cost, prev)
	if err != nil {
		return err
	}
	p.mu.Lock()
	p.users = m
	p.mu.Unlock()
	return nil
}

func (p *Provider) initSigner(key crypto.Signer) error {
	if key == nil {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return fmt.Errorf("idp: generating the signing key: %w", err)
		}
		key = k
	}
	switch k := key.(type) {
	case *rsa.PrivateKey:
		p.alg = jose.RS256
	case *ecdsa.PrivateKey:
		switch k.Curve {
		case elliptic.P256():
			p.alg = jose.ES256
		case elliptic.P384():
			p.alg = jose.ES384
		case elliptic.P521():
			p.alg = jose.ES512
		default:
			return errors.New("idp: the ECDSA signing key must use P-256, P-384 or P-521")
		}
	default:
		return fmt.Errorf("idp: signing key of type %T is not supported; use an RSA or ECDSA private key", key)
	}
	pub := jose.JSONWebKey{Key: key.Public(), Algorithm: string(p.alg), Use: "sig"}
	tp, err := pub.Thumbprint(crypto.SHA256)
	if err != nil {
		return fmt.Errorf("idp: signing key thumbprint: %w", err)
	}
	pub.KeyID = base64.RawURLEncoding.EncodeToString(tp)
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: p.alg, Key: jose.JSONWebKey{Key: key, KeyID: pub.KeyID}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return fmt.Errorf("idp: signer: %w", err)
	}
	p.signer = s
	p.jwks = jose.JSONWebKeySet{Keys: []jose.JSONWebKey{pub}}
	return nil
}

// Issuer returns the issuer URL, as it appears in tokens and discovery.
func (p *Provider) Issuer() string { return p.iss }

// Handler returns the provider's HTTP handler, to be served at the issuer's
// origin.
func (p *Provider) Handler() http.Handler { return p.handler }

// Close forgets every session, login form and code; requests after Close
// fail with 503. It never fails and may be called more than once.
func (p *Provider) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	clear(p.pending)
	clear(p.codes)
	clear(p.sessions)
	return nil
}

func (p *Provider) emit(ev AuditEvent) {
	if p.audit != nil {
		p.audit(ev)
	}
}

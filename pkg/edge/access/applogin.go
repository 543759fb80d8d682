package access

import (
	"crypto/ecdsa"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"go.uber.org/zap"

	"github.com/ztagent/ztagent/internal/clock"
	"github.com/ztagent/ztagent/internal/randtoken"
	"github.com/ztagent/ztagent/pkg/apierror"
)

// serveAppLogin signs the user in to an Access application:
// GET /cdn-cgi/access/login/{app}?redirect_url=…
func (t *TeamDomain) serveAppLogin(w http.ResponseWriter, r *http.Request) {
	q, ok := t.query(w, r)
	if !ok {
		return
	}
	app := strings.ToLower(r.PathValue("app"))
	t.mu.Lock()
	known := t.appDomains[app]
	t.mu.Unlock()
	if !known {
		t.log.Info("access: application login refused", zap.String("reason", "unknown application"))
		t.errorPage(w, http.StatusNotFound, "Unknown application",
			"No Access application of the "+t.team+" organization has the domain "+truncate(app, 100)+". Check the address, or ask your administrator to add the application.")
		return
	}
	next := ""
	if raw := q.Get("redirect_url"); raw != "" {
		if next = appRedirect(app, raw); next == "" {
			t.errorPage(w, http.StatusBadRequest, "Bad request",
				"The redirect_url must be a page of the application "+app+". Open the application again to sign in.")
			return
		}
	}
	idp, ok := t.chooseIdP(w, r, q, TriggerAccessLogin, app)
	if !ok {
		return
	}
	t.startLogin(w, r, &pendingLogin{trigger: TriggerAccessLogin, appDomain: app, next: next}, idp)
}

// appRedirect returns raw as an absolute URL on the application, or "" when
// it leads elsewhere. A bare path is taken as on the application.
func appRedirect(app, raw string) string {
	if strings.ContainsAny(raw, "\\\x00\r\n\t") {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil || u.User != nil || u.Opaque != "" {
		return ""
	}
	switch {
	case u.Scheme == "" && u.Host == "":
		if !strings.HasPrefix(u.Path, "/") || strings.HasPrefix(u.Path, "//") {
			return ""
		}
		u.Scheme, u.Host = "http", app
	case (u.Scheme != "http" && u.Scheme != "https") || strings.ToLower(u.Host) != app:
		return ""
	}
	u.Fragment = ""
	return u.String()
}

// finishAppLogin hands the application a short-lived token at its
// /cdn-cgi/access/authorized endpoint.
func (t *TeamDomain) finishAppLogin(w http.ResponseWriter, r *http.Request, pl *pendingLogin, id Identity, now time.Time) {
	tok, err := t.tokens.issue(id, pl.appDomain, now)
	if err != nil {
		t.log.Error("access: signing an application token failed", zap.Error(err))
		t.errorPage(w, http.StatusInternalServerError, "Sign-in not completed", "You signed in, but the application token could not be made. Try again; if it keeps failing, tell your administrator.")
		return
	}
	v := url.Values{"token": {tok}}
	if pl.next != "" {
		v.Set("redirect_url", pl.next)
	}
	target := url.URL{Scheme: "http", Host: pl.appDomain, Path: PathAuthorized, RawQuery: v.Encode()}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	http.Redirect(w, r, target.String(), http.StatusSeeOther)
}

// appTokens signs and verifies application tokens with the team domain's
// own key.
type appTokens struct {
	signer jose.Signer
	pub    *ecdsa.PublicKey
	issuer string
	clock  clock.Clock
}

// appClaims are an application token's claims.
type appClaims struct {
	jwt.Claims
	Email    string   `json:"email"`
	Name     string   `json:"name,omitempty"`
	Groups   []string `json:"groups"`
	AuthTime int64    `json:"auth_time"`
	IdPIss   string   `json:"idp_iss,omitempty"`
}

func newAppTokens(key *ecdsa.PrivateKey, issuer string, c clock.Clock) (*appTokens, error) {
	if key.Curve.Params().Name != "P-256" {
		return nil, errors.New("access: the application signing key must be an ECDSA P-256 key")
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return nil, err
	}
	return &appTokens{signer: s, pub: &key.PublicKey, issuer: issuer, clock: c}, nil
}

func (a *appTokens) issue(id Identity, app string, now time.Time) (string, error) {
	c := appClaims{
		Claims: jwt.Claims{
			Issuer: a.issuer, Subject: id.Subject, Audience: jwt.Audience{app}, ID: randtoken.New(32),
			IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(AppTokenLifetime)),
		},
		Email: id.Email, Name: id.Name, Groups: append([]string{}, id.Groups...), AuthTime: id.AuthenticatedAt.Unix(), IdPIss: id.Issuer,
	}
	return jwt.Signed(a.signer).Claims(c).Serialize()
}

// VerifyAppToken checks an application token handed to appDomain's
// /cdn-cgi/access/authorized endpoint: signed by this team domain, for that
// application, not expired. It returns who signed in. Errors are *apierror.Error
// with Code invalid_token.
func (t *TeamDomain) VerifyAppToken(raw, appDomain string) (Identity, error) {
	return t.tokens.verify(raw, strings.ToLower(appDomain))
}

func (a *appTokens) verify(raw, app string) (Identity, error) {
	refuse := func(why string) (Identity, error) {
		return Identity{}, &apierror.Error{Code: CodeInvalidToken, Message: "the application token " + why, Hint: "sign in to the application again"}
	}
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		return refuse("is malformed")
	}
	var c appClaims
	if err := tok.Claims(a.pub, &c); err != nil {
		return refuse("has a bad signature")
	}
	if c.Expiry == nil || c.IssuedAt == nil || c.AuthTime <= 0 || c.Email == "" {
		return refuse("lacks required claims")
	}
	if !slices.Contains(c.Audience, app) {
		return refuse("was issued for another application")
	}
	now := a.clock.Now()
	// A token dies at exp, as the team domain's other credentials do;
	// go-jose would still accept it during that very second.
	if !now.Before(c.Expiry.Time()) {
		return refuse("has expired")
	}
	if err := c.ValidateWithLeeway(jwt.Expected{Issuer: a.issuer, AnyAudience: jwt.Audience{app}, Time: now}, 0); err != nil {
		if errors.Is(err, jwt.ErrExpired) {
			return refuse("has expired")
		}
		return refuse("is not valid here (" + err.Error() + ")")
	}
	return Identity{
		Email: c.Email, Name: c.Name, Groups: c.Groups, AuthTime: time.Unix(c.AuthTime, 0).UTC(), AuthenticatedAt: time.Unix(c.AuthTime, 0).UTC(),
		Issuer: c.IdPIss, Subject: c.Subject,
	}, nil
}

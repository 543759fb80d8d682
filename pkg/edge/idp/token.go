package idp

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/ztagent/ztagent/internal/randtoken"
)

// tokenError is an OAuth 2.0 token endpoint error (RFC 6749 §5.2).
type tokenError struct {
	Code        string `json:"error"`
	Description string `json:"error_description"`
	status      int
}

func badGrant(desc string) *tokenError {
	return &tokenError{Code: "invalid_grant", Description: desc, status: http.StatusBadRequest}
}

// tokenResponse is the successful token endpoint answer.
type tokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int    `json:"expires_in"`
	IDToken     string `json:"id_token"`
	Scope       string `json:"scope,omitempty"`
}

// Claims are the claims of an ID token.
type Claims struct {
	Issuer        string   `json:"iss"`
	Subject       string   `json:"sub"`
	Audience      string   `json:"aud"`
	Expiry        int64    `json:"exp"`
	IssuedAt      int64    `json:"iat"`
	AuthTime      int64    `json:"auth_time"`
	Nonce         string   `json:"nonce,omitempty"`
	AZP           string   `json:"azp"`
	Email         string   `json:"email"`
	EmailVerified bool     `json:"email_verified"`
	Name          string   `json:"name"`
	Groups        []string `json:"groups"`
}

func (p *Provider) serveToken(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
	resp, terr := p.token(r)
	if terr != nil {
		if terr.status == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Basic realm="idp"`)
		}
		p.log.Info("idp: token request refused", zap.String("error", terr.Code), zap.String("reason", terr.Description))
		writeJSON(w, terr.status, terr)
		return
	}
	w.Header().Set("Pragma", "no-cache")
	writeJSON(w, http.StatusOK, resp)
}

func (p *Provider) token(r *http.Request) (*tokenResponse, *tokenError) {
	if err := r.ParseForm(); err != nil {
		return nil, &tokenError{"invalid_request", "the request body could not be read as a form (at most 16 KiB)", http.StatusBadRequest}
	}
	f := r.PostForm
	for k, v := range f {
		if len(v) > 1 {
			return nil, &tokenError{"invalid_request", fmt.Sprintf("parameter %q appears more than once", k), http.StatusBadRequest}
		}
	}
	cl, terr := p.authenticateClient(r)
	if terr != nil {
		return nil, terr
	}
	if gt := f.Get("grant_type"); gt != "authorization_code" {
		return nil, &tokenError{"unsupported_grant_type", "only grant_type=authorization_code is supported", http.StatusBadRequest}
	}
	now := p.clock.Now()
	// A code is removed at its first use, successful or not: it can never
	// be redeemed twice.
	p.mu.Lock()
	g := p.codes[f.Get("code")]
	delete(p.codes, f.Get("code"))
	var u *user
	if g != nil {
		u = p.users[g.email]
	}
	p.mu.Unlock()
	switch {
	case g == nil:
		return nil, badGrant("the code is unknown or was already used; start the sign-in again")
	case !now.Before(g.expires):
		return nil, badGrant("the code has expired (codes are valid for 60 seconds); start the sign-in again")
	case g.req.clientID != cl.id:
		return nil, badGrant("the code was issued to another client")
	case f.Get("redirect_uri") != g.req.redirectURI:
		return nil, badGrant("redirect_uri does not match the one sent to the authorize endpoint")
	case u == nil:
		return nil, badGrant("the user no longer exists")
	}
	verifier := f.Get("code_verifier")
	if g.req.challenge != "" {
		if !validVerifier(verifier) {
			return nil, badGrant("code_verifier is missing or malformed (43 to 128 characters of A-Z a-z 0-9 - . _ ~)")
		}
		sum := sha256.Sum256([]byte(verifier))
		if subtle.ConstantTimeCompare([]byte(base64.RawURLEncoding.EncodeToString(sum[:])), []byte(g.req.challenge)) != 1 {
			return nil, badGrant("code_verifier does not match the code_challenge")
		}
	} else if verifier != "" {
		return nil, badGrant("code_verifier sent but the authorize request had no code_challenge")
	}

	idToken, err := p.sign(Claims{
		Issuer: p.iss, Subject: subject(u.email), Audience: cl.id, AZP: cl.id,
		Expiry: now.Add(TokenLifetime).Unix(), IssuedAt: now.Unix(), AuthTime: g.authTime.Unix(),
		Nonce: g.req.nonce, Email: u.email, EmailVerified: true, Name: u.name,
		Groups: append([]string{}, u.groups...),
	})
	if err != nil {
		p.log.Error("idp: signing the ID token failed", zap.Error(err))
		return nil, &tokenError{"server_error", "the ID token could not be signed", http.StatusInternalServerError}
	}
	p.log.Info("idp: tokens issued", zap.String("client_id", cl.id), zap.String("user", u.email), zap.Time("auth_time", g.authTime))
	return &tokenResponse{
		AccessToken: randtoken.New(32), TokenType: "Bearer", ExpiresIn: int(TokenLifetime / time.Second),
		IDToken: idToken, Scope: g.req.scope,
	}, nil
}

// authenticateClient identifies the client by client_secret_basic,
// client_secret_post, or (public clients) client_id alone.
func (p *Provider) authenticateClient(r *http.Request) (*client, *tokenError) {
	f := r.PostForm
	id, sec, basic := r.BasicAuth()
	if basic {
		// RFC 6749 §2.3.1: both parts are form-encoded before Basic encoding.
		var e1, e2 error
		id, e1 = url.QueryUnescape(id)
		sec, e2 = url.QueryUnescape(sec)
		if e1 != nil || e2 != nil {
			return nil, &tokenError{"invalid_client", "the Basic credentials are not form-encoded", http.StatusUnauthorized}
		}
		if f.Has("client_secret") || (f.Has("client_id") && f.Get("client_id") != id) {
			return nil, &tokenError{"invalid_request", "use one client authentication method, not Basic and form parameters together", http.StatusBadRequest}
		}
	} else {
		id, sec = f.Get("client_id"), f.Get("client_secret")
	}
	cl := p.clients[id]
	if cl == nil {
		status := http.StatusBadRequest
		if basic {
			status = http.StatusUnauthorized
		}
		return nil, &tokenError{"invalid_client", "unknown client_id; register the client with the identity provider", status}
	}
	if cl.secret.IsZero() {
		if sec != "" {
			return nil, &tokenError{"invalid_client", "this client is public and has no secret; send client_id and code_verifier only", http.StatusUnauthorized}
		}
		return cl, nil
	}
	if subtle.ConstantTimeCompare([]byte(sec), []byte(cl.secret.Reveal())) != 1 {
		return nil, &tokenError{"invalid_client", "client authentication failed; check the client secret", http.StatusUnauthorized}
	}
	return cl, nil
}

func validVerifier(s string) bool {
	if len(s) < 43 || len(s) > 128 {
		return false
	}
	for _, c := range []byte(s) {
		if !isUnreserved(c) {
			return false
		}
	}
	return true
}

// subject is the stable sub claim of a user: derived from the lower-case
// email, so it survives reloads of the user list.
func subject(email string) string {
	sum := sha256.Sum256([]byte(strings.ToLower(email)))
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}

func (p *Provider) sign(c Claims) (string, error) {
	payload, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	jws, err := p.signer.Sign(payload)
	if err != nil {
		return "", err
	}
	return jws.CompactSerialize()
}

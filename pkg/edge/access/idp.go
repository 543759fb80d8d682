package access

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/ztagent/ztagent/internal/secret"
	"github.com/ztagent/ztagent/pkg/tfconfig"
)

// IdP is the organization's identity provider, as the team domain signs
// users in with it.
type IdP struct {
	// ID is the Terraform identity provider's ID: sign-ins and devices
	// name their IdP by it. It may be empty for the only IdP.
	ID string
	// Name is shown to people: on the chooser and in errors.
	Name string
	// Type is the Cloudflare type: "azureAD", "oidc", "okta", …
	Type string
	// Issuer is the IdP's issuer URL: ID tokens must carry it as iss, and
	// unless AuthURL, TokenURL and JWKSURL are all set the endpoints are
	// discovered at Issuer + /.well-known/openid-configuration.
	Issuer string
	// ClientID and ClientSecret are the team domain's credentials at the
	// IdP; a zero secret makes it a public client (PKCE is always sent).
	ClientID     string
	ClientSecret secret.Value
	// Scopes requested; openid is always added. "openid email profile"
	// when empty.
	Scopes []string
	// Prompt is sent as the prompt parameter of every authorize request:
	// "login", "select_account", "none" or "". Only azureAD carries one
	// (S11).
	Prompt string
	// AuthURL, TokenURL and JWKSURL skip discovery when all three are set,
	// as a generic OIDC provider's auth_url, token_url and certs_url do.
	AuthURL  string
	TokenURL string
	JWKSURL  string
	// EmailClaim names the ID token claim that holds the email; "email"
	// when empty.
	EmailClaim string
	// Claims are the ID token claims, besides email, name and groups, that
	// the identity carries (Terraform's config.claims): each value becomes
	// a "name=value" element of identity.oidc_claims.
	Claims []string
	// External says the IdP is not the simulator's own: it issues its
	// tokens on the real clock, not on the edge's (which the simulator
	// may have advanced), so their expiry is checked against real time;
	// and it may be down, so it is probed before each sign-in is sent to
	// it.
	External bool
}

// prompts are the values config.prompt may take (Entra ID's).
var prompts = []string{"login", "select_account", "none"}

// signingAlgs are accepted for ID tokens when discovery does not say which
// the IdP uses.
var signingAlgs = []string{oidc.RS256, oidc.RS384, oidc.RS512, oidc.ES256, oidc.ES384, oidc.ES512, oidc.PS256, oidc.PS384, oidc.PS512, oidc.EdDSA}

func (p IdP) validate() error {
	var errs []error
	if p.Type == "" {
		errs = append(errs, errors.New("access: the identity provider has no type; set it (azureAD, oidc, …)"))
	}
	// Without an issuer the ID token's iss is not checked: a generic OIDC
	// provider given by its auth_url, token_url and certs_url alone is
	// trusted through its signing keys, as Cloudflare trusts it.
	if p.Issuer != "" || p.AuthURL == "" {
		if err := checkHTTPURL("issuer", p.Issuer); err != nil {
			errs = append(errs, err)
		}
	}
	if p.ClientID == "" {
		errs = append(errs, errors.New("access: the identity provider's client_id is empty; set the client ID the IdP registered for the team domain"))
	}
	switch {
	case p.Prompt == "":
	case p.Type != tfconfig.IdPAzureAD:
		errs = append(errs, fmt.Errorf("access: config.prompt is only supported for azureAD identity providers, and this one is type %q; remove prompt", p.Type))
	case !slices.Contains(prompts, p.Prompt):
		errs = append(errs, fmt.Errorf("access: config.prompt %q is not an Entra ID prompt; use \"login\", \"select_account\" or \"none\"", p.Prompt))
	}
	set := 0
	for _, e := range []struct{ name, v string }{{"auth_url", p.AuthURL}, {"token_url", p.TokenURL}, {"certs_url", p.JWKSURL}} {
		if e.v == "" {
			continue
		}
		set++
		if err := checkHTTPURL(e.name, e.v); err != nil {
			errs = append(errs, err)
		}
	}
	if set != 0 && set != 3 {
		errs = append(errs, errors.New("access: give all of auth_url, token_url and certs_url, or none of them to use discovery at the issuer"))
	}
	return errors.Join(errs...)
}

func checkHTTPURL(name, s string) error {
	u, err := url.Parse(s)
	if s == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.Fragment != "" {
		return fmt.Errorf("access: the identity provider's %s %q must be an absolute http(s) URL, e.g. http://idp.localhost:8782", name, s)
	}
	return nil
}

func (p IdP) clone() IdP {
	p.Scopes = slices.Clone(p.Scopes)
	p.Claims = slices.Clone(p.Claims)
	return p
}

func (p IdP) scopes() []string {
	s := slices.Clone(p.Scopes)
	if len(s) == 0 {
		s = []string{"email", "profile"}
	}
	if !slices.Contains(s, oidc.ScopeOpenID) {
		s = append([]string{oidc.ScopeOpenID}, s...)
	}
	return s
}

// relyingParty is the team domain's client at one IdP configuration.
type relyingParty struct {
	cfg      IdP
	oauth    oauth2.Config
	verifier *oidc.IDTokenVerifier
	provider *oidc.Provider
	// probe is fetched before each sign-in is sent to the IdP (its JWKS,
	// or its discovery document), so that an IdP that is down gets the
	// person a page naming it and the URL, not a browser error.
	probe string
}

// unreachableError says the IdP's discovery failed.
type unreachableError struct {
	issuer string
	err    error
}

func (e *unreachableError) Error() string {
	// The cause may quote the IdP's answer: keep one short line of it.
	cause := truncate(strings.Join(strings.Fields(e.err.Error()), " "), 200)
	return fmt.Sprintf("the identity provider at %s could not be reached or answered badly (%s)", e.issuer, cause)
}

func (t *TeamDomain) discover(ctx context.Context, cfg IdP) (*relyingParty, error) {
	ctx = oidc.ClientContext(ctx, t.client)
	vc := &oidc.Config{ClientID: cfg.ClientID, Now: t.clock.Now}
	if cfg.External {
		vc.Now = time.Now
	}
	var p *oidc.Provider
	if cfg.AuthURL != "" {
		p = (&oidc.ProviderConfig{IssuerURL: cfg.Issuer, AuthURL: cfg.AuthURL, TokenURL: cfg.TokenURL, JWKSURL: cfg.JWKSURL}).NewProvider(ctx)
		vc.SupportedSigningAlgs = signingAlgs
		vc.SkipIssuerCheck = cfg.Issuer == ""
	} else {
		dctx, cancel := context.WithTimeout(ctx, defaultHTTPTimeout)
		defer cancel()
		var err error
		if p, err = oidc.NewProvider(dctx, cfg.Issuer); err != nil {
			return nil, &unreachableError{issuer: cfg.Issuer, err: err}
		}
	}
	probe := cfg.JWKSURL
	if probe == "" {
		probe = strings.TrimSuffix(cfg.Issuer, "/") + "/.well-known/openid-configuration"
	}
	return &relyingParty{
		cfg: cfg, provider: p, probe: probe,
		oauth: oauth2.Config{
			ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret.Reveal(), Endpoint: p.Endpoint(),
			RedirectURL: t.CallbackURL(), Scopes: cfg.scopes(),
		},
		// The verifier fetches the JWKS with t.client, in the background
		// context go-oidc keeps for key refreshes.
		verifier: p.Verifier(vc),
	}, nil
}

// probe fetches rp.probe for an external IdP, with the sign-in's deadline
// or 5 seconds, whichever comes first; the answer is read and dropped. The
// simulator's own IdP is not probed: it runs in edged.
func (t *TeamDomain) probe(ctx context.Context, idp IdP, rp *relyingParty) error {
	if !idp.External {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rp.probe, nil)
	if err != nil {
		return err
	}
	resp, err := t.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("it answered %s", resp.Status)
	}
	return nil
}

// probeTimeout bounds the reachability check before a sign-in.
const probeTimeout = 5 * time.Second

// flowError is a failure of a sign-in, with what the person in the browser
// is told and a short reason for the log and the audit.
type flowError struct {
	status int
	reason string // an OAuth-style code: invalid_id_token, token_exchange_failed, …
	msg    string // for the page
}

func (e *flowError) Error() string { return e.reason + ": " + e.msg }

// complete redeems the IdP's code and verifies the ID token it returns:
// signature (JWKS), issuer, audience, expiry, nonce, and an auth_time.
func (rp *relyingParty) complete(ctx context.Context, client *http.Client, code, verifier, nonce string) (Identity, error) {
	ctx = context.WithValue(ctx, oauth2.HTTPClient, client)
	tok, err := rp.oauth.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		msg := "The identity provider refused to complete the sign-in"
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && re.ErrorCode != "" {
			msg += fmt.Sprintf(" (%s: %s)", re.ErrorCode, truncate(re.ErrorDescription, 200))
		} else {
			msg = "The identity provider could not be reached to complete the sign-in"
		}
		return Identity{}, &flowError{status: http.StatusBadGateway, reason: "token_exchange_failed", msg: msg + ". Start the sign-in again; if it keeps failing, ask your administrator to check the identity provider settings (client ID, secret, redirect URI)."}
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return Identity{}, &flowError{status: http.StatusBadGateway, reason: "invalid_id_token", msg: "The identity provider returned no ID token. Ask your administrator to check that it is an OpenID Connect provider and that the openid scope is allowed."}
	}
	idt, err := rp.verifier.Verify(ctx, raw)
	if err != nil {
		return Identity{}, &flowError{status: http.StatusBadGateway, reason: "invalid_id_token", msg: "The identity provider's ID token could not be verified (" + truncate(err.Error(), 200) + "). Ask your administrator to check the issuer and client ID configured for it."}
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(nonce)) != 1 {
		return Identity{}, &flowError{status: http.StatusBadRequest, reason: "invalid_nonce", msg: "The identity provider's answer belongs to another sign-in (the nonce does not match). Start the sign-in again."}
	}
	var claims map[string]json.RawMessage
	if err := idt.Claims(&claims); err != nil {
		return Identity{}, &flowError{status: http.StatusBadGateway, reason: "invalid_id_token", msg: "The identity provider's ID token could not be read. Ask your administrator to check the identity provider."}
	}
	rp.addUserInfo(ctx, tok, idt.Subject, claims)
	return rp.identity(idt, claims)
}

// addUserInfo fills in, from the IdP's userinfo endpoint, the claims the
// ID token lacks (many providers put only sub and auth_time in it). The ID
// token's own claims win; an answer about another subject is ignored, as
// OpenID Connect Core §5.3.2 requires.
func (rp *relyingParty) addUserInfo(ctx context.Context, tok *oauth2.Token, subject string, claims map[string]json.RawMessage) {
	if rp.provider == nil || rp.provider.UserInfoEndpoint() == "" {
		return
	}
	need := false
	for _, c := range []string{rp.emailClaim(), "name", "groups"} {
		if _, ok := claims[c]; !ok {
			need = true
		}
	}
	if !need {
		return
	}
	ui, err := rp.provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	if err != nil || ui.Subject != subject {
		return
	}
	var more map[string]json.RawMessage
	if ui.Claims(&more) != nil {
		return
	}
	for k, v := range more {
		if _, ok := claims[k]; !ok {
			claims[k] = v
		}
	}
}

func (rp *relyingParty) emailClaim() string {
	if rp.cfg.EmailClaim != "" {
		return rp.cfg.EmailClaim
	}
	return "email"
}

func (rp *relyingParty) identity(idt *oidc.IDToken, claims map[string]json.RawMessage) (Identity, error) {
	emailClaim := rp.emailClaim()
	var id Identity
	id.Issuer, id.Subject = idt.Issuer, idt.Subject
	_ = json.Unmarshal(claims[emailClaim], &id.Email)
	_ = json.Unmarshal(claims["name"], &id.Name)
	id.Email = strings.TrimSpace(id.Email)
	if id.Email == "" {
		return Identity{}, &flowError{status: http.StatusBadGateway, reason: "missing_email", msg: fmt.Sprintf("The identity provider did not send your email address (claim %q). Ask your administrator to release it or to set email_claim_name.", emailClaim)}
	}
	if g := claims["groups"]; len(g) > 0 {
		if json.Unmarshal(g, &id.Groups) != nil {
			var one string
			if json.Unmarshal(g, &one) == nil && one != "" {
				id.Groups = []string{one}
			}
		}
	}
	for _, name := range rp.cfg.Claims {
		id.Claims = append(id.Claims, claimValues(name, claims[name])...)
	}
	var at float64
	if json.Unmarshal(claims["auth_time"], &at) != nil || at <= 0 {
		return Identity{}, &flowError{status: http.StatusBadGateway, reason: "missing_auth_time", msg: "The identity provider did not say when you signed in (auth_time), so the device session cannot be measured. Ask your administrator to configure the IdP to include auth_time in ID tokens."}
	}
	id.AuthTime = time.Unix(int64(at), 0).UTC()
	return id, nil
}

// claimValues returns a claim as "name=value" elements: one for a string,
// number or boolean, one per element of an array of them; none when the
// token lacks it or holds an object.
func claimValues(name string, raw json.RawMessage) []string {
	if len(raw) == 0 {
		return nil
	}
	var many []any
	if json.Unmarshal(raw, &many) != nil {
		var one any
		if json.Unmarshal(raw, &one) != nil {
			return nil
		}
		many = []any{one}
	}
	var out []string
	for _, v := range many {
		switch v := v.(type) {
		case string:
			out = append(out, name+"="+v)
		case float64, bool:
			out = append(out, fmt.Sprintf("%s=%v", name, v))
		}
	}
	return out
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

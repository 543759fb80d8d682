package simulator

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ztagent/ztagent/internal/testenv/oidcprovider"
	"github.com/ztagent/ztagent/internal/testenv/scriptbrowser"
	"github.com/ztagent/ztagent/pkg/tfconfig"
)

// carol signs in to Corp SSO with her personal address; her ID token's upn
// is the corporate one.
var carol = &scriptbrowser.Credentials{Email: "carol.c@mail.test", Password: "carol-at-corp-sso"}

const carolUPN = "carol@corp.test"

// corpIdPTF is a generic OIDC identity provider as Cloudflare configures
// one: auth_url, token_url and certs_url at the provider's public host (the
// simulator file points them at the test's provider), no issuer_url.
const corpIdPTF = `
resource "cloudflare_zero_trust_access_identity_provider" "corp" {
  account_id = var.cloudflare_account_id
  name       = "Corp SSO"
  type       = "oidc"
  config = {
    client_id     = "corp-team-domain"
    client_secret = "corp-client-secret-for-tests"
    auth_url      = "https://sso.corp.example/auth"
    token_url     = "https://sso.corp.example/token"
    certs_url     = "https://sso.corp.example/jwks"
    scopes        = ["openid", "email", "profile", "groups"]
    # The IdP's user principal name is the address Access knows people by;
    # department goes to identity.oidc_claims.
    email_claim_name = "upn"
    claims           = ["department"]
  }
}
`

// externalSetup is the example organization with a second, external IdP
// (oidc-provider, a certified third-party implementation) that device
// enrollment also allows, and corp.test employees admitted.
func externalSetup(t *testing.T) (*Simulator, *oidcprovider.Provider, string) {
	t.Helper()
	tc := newTestConfig(t)
	listen := freeListeners(t)
	teamURL := "http://acme.localhost:" + strings.Split(listen.TeamDomain.String(), ":")[1]
	op := oidcprovider.Start(t, oidcprovider.Config{
		Clients: []oidcprovider.Client{{ID: "corp-team-domain", Secret: "corp-client-secret-for-tests", RedirectURIs: []string{teamURL + callbackPath}}},
		Users: []oidcprovider.User{{Email: carol.Email, Password: carol.Password, Name: "Carol Corp", Groups: []string{"sre"},
			Claims: map[string]any{"upn": "carol@corp.test", "department": "platform"}}},
		ExtraClaims: []string{"upn", "department"},
	})
	tc.writeTF(t, tc.readTF(t)+corpIdPTF)
	tc.editTF(t, `allowed_idps\s*= \[cloudflare_zero_trust_access_identity_provider\.entra_id\.id\]`,
		`allowed_idps = [cloudflare_zero_trust_access_identity_provider.entra_id.id, cloudflare_zero_trust_access_identity_provider.corp.id]`)
	tc.editTF(t, `(\{ email_domain = \{ domain = "example.com" \} \},)`, "$1\n    { email_domain = { domain = \"corp.test\" } },")
	tc.pointExternal(t, "corp", op.Origin)
	opts := tc.options(stateDir(t))
	opts.Listen = listen
	s := startSim(t, opts)
	return s, op, tfconfig.SyntheticID(tfconfig.TypeIdentityProvider, "corp")
}

// Enrollment through a third-party OpenID provider: with two IdPs allowed
// the team domain offers a chooser; through Corp SSO the device registers
// as the user its ID token names, with its groups, and records the IdP, so
// that its refresh-identity URL names it. A group changed at the IdP
// reaches the device on refresh-identity (S12), silently while the IdP
// session lives (S2). Stopped, the IdP gets the person a page naming it
// and the URL that failed, and the built-in IdP keeps working.
func TestExternalOIDCProvider(t *testing.T) {
	s, op, corpID := externalSetup(t)

	chooser := newAgent(t, s, "fp-chooser").visitWARP(carol).result
	if chooser.Stopped || chooser.Status != http.StatusOK || !strings.Contains(chooser.Body, "Choose how to sign in") ||
		!strings.Contains(chooser.Body, "Corp SSO") || !strings.Contains(chooser.Body, "Entra ID") || !strings.Contains(chooser.Body, "idp="+url.QueryEscape(corpID)) {
		t.Fatalf("/warp with two IdPs allowed: stopped %v, status %d:\n%s", chooser.Stopped, chooser.Status, chooser.Body)
	}

	a := newAgent(t, s, "fp-carol")
	e := a.loginVia(carol, corpID)
	reg, err := a.register(e)
	if err != nil {
		t.Fatalf("registering through Corp SSO: %v", err)
	}
	if reg.User.Email != carolUPN || reg.User.Name != "Carol Corp" || !slices.Equal(reg.User.Groups, []string{"sre"}) {
		t.Fatalf("user from the third-party ID token (email from its upn claim): %+v", reg.User)
	}
	id, err := s.gateway.ids.DeviceIdentity(t.Context(), reg.DeviceID)
	if err != nil || !slices.Equal(id.OIDCClaims, []string{"department=platform"}) {
		t.Fatalf("the Gateway's identity of carol's device: %+v, %v; want oidc_claims department=platform", id, err)
	}
	if want := s.TeamDomainURL() + "/cdn-cgi/access/refresh-identity?idp=" + url.QueryEscape(corpID); reg.Team.RefreshIdentityURL != want {
		t.Fatalf("refresh-identity URL %q, want %q (naming the IdP the device enrolled with)", reg.Team.RefreshIdentityURL, want)
	}

	// An Access login from this device goes to the IdP it enrolled with.
	tn := a.startTunnel()
	if r := fetchThrough(t, tn, "http://git.acme.internal/", nil); r.status != http.StatusFound ||
		!strings.Contains(r.location, "idp_hint="+url.QueryEscape(corpID)) {
		t.Fatalf("git (binding cookie) from carol's device: %d to %q; want a login naming Corp SSO", r.status, r.location)
	}

	op.SetGroups(carol.Email, []string{"sre", "oncall"})
	res, err := a.browser.Visit(t.Context(), reg.Team.RefreshIdentityURL, scriptbrowser.VisitOptions{Login: carol})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != http.StatusOK || res.FormShown() || !strings.Contains(res.Body, "Session refreshed") {
		t.Fatalf("refresh-identity through Corp SSO with its session alive: status %d, %d login forms:\n%s", res.Status, res.FormsShown, res.Body)
	}
	d, err := a.api().Device(t.Context(), reg.DeviceID)
	if err != nil || !slices.Equal(d.User.Groups, []string{"sre", "oncall"}) {
		t.Fatalf("device after the group change at the IdP: %+v, %v", d.User, err)
	}

	op.Stop()
	res, err = a.browser.Visit(t.Context(), reg.Team.RefreshIdentityURL, scriptbrowser.VisitOptions{Login: carol})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != http.StatusBadGateway || !strings.Contains(res.Body, "Corp SSO") || !strings.Contains(res.Body, op.Origin+"/jwks") {
		t.Fatalf("refresh-identity with Corp SSO stopped: status %d:\n%s", res.Status, res.Body)
	}
	// The played IdP is unaffected.
	b := newAgent(t, s, "fp-alice")
	if _, err := b.register(b.loginVia(alice, tfconfig.SyntheticID(tfconfig.TypeIdentityProvider, "entra_id"))); err != nil {
		t.Fatalf("alice through the built-in IdP with Corp SSO down: %v", err)
	}
}

// S11 with an Entra ID tenant the simulator does not play: its issuer is
// login.microsoftonline.com/<directory_id>/v2.0 (here the test's provider,
// which honours prompt=login), and with prompt = "login" a
// refresh-identity makes the person type their password again although
// the IdP's browser session is alive; the session still resets (S2).
func TestExternalEntraPromptLogin(t *testing.T) { testExternalEntra(t, false) }

// An ID token with only sub and auth_time: email, name and groups come
// from the provider's userinfo endpoint, found by discovery.
func TestExternalEntraClaimsFromUserinfo(t *testing.T) { testExternalEntra(t, true) }

func testExternalEntra(t *testing.T, userinfoOnly bool) {
	tc := newTestConfig(t)
	listen := freeListeners(t)
	teamURL := "http://acme.localhost:" + strings.Split(listen.TeamDomain.String(), ":")[1]
	op := oidcprovider.Start(t, oidcprovider.Config{
		IssuerPath:           "/7d1e7c3a-7a35-4a4e-9a8d-2c1f3e5b6a70/v2.0",
		ClaimsInUserinfoOnly: userinfoOnly,
		Clients:              []oidcprovider.Client{{ID: "entra-ext-client", Secret: "entra-ext-secret", RedirectURIs: []string{teamURL + callbackPath}}},
		Users:                []oidcprovider.User{{Email: carol.Email, Password: carol.Password, Name: "Carol Corp", Groups: []string{"sre"}}},
	})
	tc.writeTF(t, tc.readTF(t)+`
resource "cloudflare_zero_trust_access_identity_provider" "partner_entra" {
  account_id = var.cloudflare_account_id
  name       = "Partner Entra ID"
  type       = "azureAD"
  config = {
    client_id     = "entra-ext-client"
    client_secret = "entra-ext-secret"
    directory_id  = "7d1e7c3a-7a35-4a4e-9a8d-2c1f3e5b6a70"
    prompt        = "login"
  }
}
`)
	tc.editTF(t, `allowed_idps\s*= \[cloudflare_zero_trust_access_identity_provider\.entra_id\.id\]`,
		`allowed_idps = [cloudflare_zero_trust_access_identity_provider.partner_entra.id]`)
	tc.editTF(t, `(\{ email_domain = \{ domain = "example.com" \} \},)`, "$1\n    { email_domain = { domain = \"mail.test\" } },")
	tc.pointExternal(t, "partner_entra", op.Origin)
	opts := tc.options(stateDir(t))
	opts.Listen = listen
	s := startSim(t, opts)

	a := newAgent(t, s, "fp-carol")
	e := a.login(carol) // the only IdP enrollment allows: no chooser
	if e.result.FormsShown != 1 {
		t.Fatalf("enrollment showed %d login forms, want the IdP's one", e.result.FormsShown)
	}
	reg, err := a.register(e)
	if err != nil {
		t.Fatal(err)
	}
	if reg.User.Email != carol.Email || reg.User.Name != "Carol Corp" || !slices.Equal(reg.User.Groups, []string{"sre"}) {
		t.Fatalf("user from the provider (userinfo only: %v): %+v", userinfoOnly, reg.User)
	}
	advance(t, s, time.Hour)
	res, err := a.browser.Visit(t.Context(), reg.Team.RefreshIdentityURL, scriptbrowser.VisitOptions{Login: carol})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != http.StatusOK || res.FormsShown != 1 || !strings.Contains(res.Body, "Session refreshed") {
		t.Fatalf("refresh-identity with prompt=login and a live IdP session: status %d, %d login forms, want 1:\n%s", res.Status, res.FormsShown, res.Body)
	}
	d, err := a.api().Device(t.Context(), reg.DeviceID)
	if err != nil || !d.AuthTime.After(reg.AuthTime) {
		t.Fatalf("auth_time after the re-authentication: %v (registered %v), %v", d.AuthTime, reg.AuthTime, err)
	}
}

// pointExternal adds idp { external "<label>" { base_url = origin } } to
// the simulator file.
func (tc *testConfig) pointExternal(t *testing.T, label, origin string) {
	t.Helper()
	sim := tc.readSim(t)
	const anchor = `  plays = "entra_id"`
	if !strings.Contains(sim, anchor) {
		t.Fatal("the example simulator file changed shape; update the test")
	}
	tc.writeSim(t, strings.Replace(sim, anchor, fmt.Sprintf("%s\n\n  external %q {\n    base_url = %q\n  }", anchor, label, origin), 1))
}

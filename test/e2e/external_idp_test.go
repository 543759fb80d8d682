//go:build linux

package e2e

import (
	"bytes"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ztagent/ztagent/internal/testenv/oidcprovider"
	"github.com/ztagent/ztagent/pkg/ipc/ipcproto"
	"github.com/ztagent/ztagent/pkg/tfconfig"
)

const (
	daveEmail    = "dave@corp.test"
	davePassword = "dave-at-corp-sso"
)

// TestE2E_ExternalIdP: with real edged, agentd and agentctl and headless
// Chromium, a device enrolls through a certified third-party OpenID
// provider (oidc-provider) that Terraform names as a generic OIDC IdP;
// agentctl status shows the user and groups of its ID token; a group
// changed at that IdP reaches agentd on re-authentication, which goes to
// the IdP the device enrolled with (S12, silently while its browser session
// lives: S2); stopped, the IdP gets the person a page naming it, with no
// hang.
func TestE2E_ExternalIdP(t *testing.T) {
	var op *oidcprovider.Provider
	w := newWorldWith(t, func(w *world) {
		// The provider must know the team domain's callback before edged
		// starts, so the team domain gets a fixed port.
		w.edgeListen.teamDomain = freeTCPAddr(t)
		_, port, _ := strings.Cut(w.edgeListen.teamDomain, ":")
		op = oidcprovider.Start(t, oidcprovider.Config{
			Clients: []oidcprovider.Client{{ID: "corp-team-domain", Secret: "corp-secret-for-e2e",
				RedirectURIs: []string{"http://acme.localhost:" + port + "/cdn-cgi/access/callback"}}},
			Users: []oidcprovider.User{{Email: daveEmail, Password: davePassword, Name: "Dave Corp", Groups: []string{"sre"}}},
		})
		w.editTerraform(`allowed_idps              = [cloudflare_zero_trust_access_identity_provider.entra_id.id]`,
			`allowed_idps              = [cloudflare_zero_trust_access_identity_provider.corp.id]`)
		w.editTerraform(`{ email_domain = { domain = "example.com" } },`,
			`{ email_domain = { domain = "example.com" } },
    { email_domain = { domain = "corp.test" } },`)
		appendFile(w, filepath.Join(w.tfDir, "main.tf"), `
resource "cloudflare_zero_trust_access_identity_provider" "corp" {
  account_id = var.cloudflare_account_id
  name       = "Corp SSO"
  type       = "oidc"
  config = {
    client_id     = "corp-team-domain"
    client_secret = "corp-secret-for-e2e"
    auth_url      = "https://sso.corp.example/auth"
    token_url     = "https://sso.corp.example/token"
    certs_url     = "https://sso.corp.example/jwks"
    scopes        = ["openid", "email", "profile", "groups"]
  }
}
`)
		w.pointExternal("corp", op.Origin)
	})
	b := startBrowser(w)

	st := enrollAs(w, b, daveEmail, davePassword)
	reg := st.Registration
	if reg.User != daveEmail || reg.IdP != "oidc" {
		w.fatalf("agentctl status after enrolling through Corp SSO: %+v, want %s through an oidc IdP", reg, daveEmail)
	}
	if out := w.mustCtl("status"); !strings.Contains(out, daveEmail) {
		w.fatalf("agentctl status does not name %s:\n%s", daveEmail, out)
	}

	op.SetGroups(daveEmail, []string{"sre", "oncall"})
	watch := w.startWatch(false)
	p := reauth(w, b)
	if p.Kind == "login" || p.Title != "Session refreshed" || !strings.Contains(p.Text, "oncall") {
		w.fatalf("re-authentication through Corp SSO with its session alive: %v, want Session refreshed with the oncall group and no form", p)
	}
	finishReauth(w)
	if _, _, err := watch.waitLine(0, stepTimeout, func(s string) bool {
		return strings.Contains(s, "session refreshed") && strings.Contains(s, "oncall")
	}); err != nil {
		w.fatalf("watch never showed a session_refreshed with the IdP's new group: %v", err)
	}

	op.Stop()
	p = b.open(w.teamURL + "/cdn-cgi/access/refresh-identity?idp=" + url.QueryEscape(tfconfig.SyntheticID(tfconfig.TypeIdentityProvider, "corp")))
	if p.Title != "Identity provider unavailable" || !strings.Contains(p.Text, "Corp SSO") || !strings.Contains(p.Text, op.Origin+"/jwks") {
		w.fatalf("refresh-identity with Corp SSO stopped: %v, want a page naming it and its JWKS URL", p)
	}
}

// appendFile appends text to the file at path.
func appendFile(w *world, path, text string) {
	w.t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		w.fatalf("%v", err)
	}
	defer f.Close()
	if _, err := f.WriteString(text); err != nil {
		w.fatalf("%v", err)
	}
}

// TestE2E_ExternalEntraExpiry: S3 and S11 through an Entra ID tenant the
// simulator does not play (the test's certified provider under the
// tenant's issuer path). The wiki's l4 check_session expires on the edge's
// clock, agentctl watch opens the refresh-identity URL naming that IdP,
// and with prompt = "login" the IdP asks for the password although
// Chromium holds its session; then the wiki is reachable again.
func TestE2E_ExternalEntraExpiry(t *testing.T) {
	const (
		tenant   = "3f2e1d0c-9b8a-4765-8432-10fedcba9876"
		erin     = "erin@example.com"
		erinPass = "erin-at-partner-entra"
	)
	w := newWorldWith(t, func(w *world) {
		w.edgeListen.teamDomain = freeTCPAddr(t)
		_, port, _ := strings.Cut(w.edgeListen.teamDomain, ":")
		op := oidcprovider.Start(t, oidcprovider.Config{
			IssuerPath: "/" + tenant + "/v2.0",
			Clients: []oidcprovider.Client{{ID: "partner-entra-client", Secret: "partner-entra-secret",
				RedirectURIs: []string{"http://acme.localhost:" + port + "/cdn-cgi/access/callback"}}},
			Users: []oidcprovider.User{{Email: erin, Password: erinPass, Name: "Erin Example", Groups: []string{"staff"}}},
		})
		w.editTerraform(`allowed_idps              = [cloudflare_zero_trust_access_identity_provider.entra_id.id]`,
			`allowed_idps              = [cloudflare_zero_trust_access_identity_provider.partner.id]`)
		appendFile(w, filepath.Join(w.tfDir, "main.tf"), `
resource "cloudflare_zero_trust_access_identity_provider" "partner" {
  account_id = var.cloudflare_account_id
  name       = "Partner Entra ID"
  type       = "azureAD"
  config = {
    client_id     = "partner-entra-client"
    client_secret = "partner-entra-secret"
    directory_id  = "`+tenant+`"
    prompt        = "login"
  }
}
`)
		w.pointExternal("partner", op.Origin)
	})
	b := startBrowser(w)
	enrollAs(w, b, erin, erinPass)
	watch := w.startWatch(true)
	if r := w.get(wikiURL); !r.fromWiki() {
		w.fatalf("wiki before expiry: %v, want 200 from the wiki", r)
	}

	w.edged("clock", "advance", "2h")
	expired := waitState(w, watch, 0, ipcproto.StateReauthRequired)
	if r := w.get(wikiURL); r.fromWiki() || r.code != http.StatusForbidden {
		w.fatalf("wiki after 2h (check_session 1h30m): %v, want the proxy's 403", r)
	}
	u, err := w.opener.next(stepTimeout)
	if err != nil {
		w.fatalf("watch --open-browser: %v", err)
	}
	partnerID := tfconfig.SyntheticID(tfconfig.TypeIdentityProvider, "partner")
	if want := w.teamURL + "/cdn-cgi/access/refresh-identity?idp=" + url.QueryEscape(partnerID); u != want {
		w.fatalf("the browser was sent to %s, want %s (the IdP the device enrolled with)", u, want)
	}
	p := b.open(u)
	if p.Kind != "login" {
		w.fatalf("refresh-identity through Partner Entra ID with prompt=login showed %v, want its login form", p)
	}
	p = b.login(erin, erinPass)
	if p.Title != "Session refreshed" {
		w.fatalf("after the login: %v, want Session refreshed", p)
	}
	waitState(w, watch, expired, ipcproto.StateConnected)
	if r := w.get(wikiURL); !r.fromWiki() {
		w.fatalf("wiki after re-authentication: %v, want 200 from the wiki", r)
	}
	if got := w.opener.all(); len(got) != 1 {
		w.fatalf("the browser was sent to %d URLs %q, want exactly one re-authentication prompt", len(got), got)
	}
}

// pointExternal adds idp { external "<label>" { base_url = origin } } to
// the test's simulator file.
func (w *world) pointExternal(label, origin string) {
	w.t.Helper()
	b, err := os.ReadFile(w.simFile)
	if err != nil {
		w.fatalf("%v", err)
	}
	const anchor = `  plays = "entra_id"`
	if !bytes.Contains(b, []byte(anchor)) {
		w.fatalf("the example simulator file changed shape; update the test")
	}
	sim := strings.Replace(string(b), anchor, fmt.Sprintf("%s\n\n  external %q {\n    base_url = %q\n  }", anchor, label, origin), 1)
	if err := os.WriteFile(w.simFile, []byte(sim), 0o600); err != nil {
		w.fatalf("%v", err)
	}
}

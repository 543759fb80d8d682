package access

import (
	"net/http"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/ztagent/ztagent/internal/secret"
	"github.com/ztagent/ztagent/internal/testenv/scriptbrowser"
	"github.com/ztagent/ztagent/pkg/edge/idp"
	"github.com/ztagent/ztagent/pkg/tfconfig"
)

func TestNewReportsEveryProblem(t *testing.T) {
	_, err := New(Options{PublicURL: "http://acme.localhost:8781/warp", IdP: IdP{Issuer: "idp.localhost", AuthURL: "http://x/a"}, AppDomains: []string{"a b"}})
	if err == nil {
		t.Fatal("New accepted empty options")
	}
	for _, want := range []string{"public URL", "team name", "no type", "issuer", "client_id", "auth_url, token_url and certs_url", "application domain"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not mention %q:\n%v", want, err)
		}
	}
}

func TestHTTPClientGetsATimeout(t *testing.T) {
	given := &http.Client{}
	td, err := New(Options{TeamName: "acme", PublicURL: "http://acme.localhost:8781", HTTPClient: given,
		IdP: IdP{Type: "oidc", Issuer: "http://idp.localhost:8782", ClientID: "c"}})
	if err != nil {
		t.Fatal(err)
	}
	if td.client.Timeout != defaultHTTPTimeout || given.Timeout != 0 {
		t.Fatalf("timeout %v, caller's client changed to %v", td.client.Timeout, given.Timeout)
	}
}

func TestIdPFromTerraform(t *testing.T) {
	p := &tfconfig.IdentityProvider{Type: "azureAD", Config: tfconfig.IdPConfig{
		ClientID: "cid", ClientSecret: secret.New("s3cret-CANARY"), Prompt: "login", Scopes: []string{"openid", "email"}, EmailClaimName: "upn"}}
	got := IdPFromTerraform(p, "http://idp.localhost:8782")
	if got.Type != "azureAD" || got.Issuer != "http://idp.localhost:8782" || got.ClientID != "cid" || got.ClientSecret.Reveal() != "s3cret-CANARY" ||
		got.Prompt != "login" || got.EmailClaim != "upn" || len(got.Scopes) != 2 {
		t.Fatalf("%+v", got)
	}
	if err := got.validate(); err != nil {
		t.Fatal(err)
	}
}

// TestIDTokenVerification: tokens from the wrong issuer or signed with a key
// that is not the configured JWKS's are refused, and nothing is signed in.
func TestIDTokenVerification(t *testing.T) {
	e := newEnv(t, envOptions{})
	other := newEnv(t, envOptions{})
	issuer := "http://idp.localhost:" + e.idpSrv.port
	for name, cfg := range map[string]IdP{
		"wrong issuer": {Type: "oidc", Issuer: "http://idp.localhost:1", ClientID: clientID, ClientSecret: secret.New(clientSecret),
			AuthURL: issuer + idp.PathAuthorize, TokenURL: issuer + idp.PathToken, JWKSURL: issuer + idp.PathJWKS},
		"wrong keys": {Type: "oidc", Issuer: issuer, ClientID: clientID, ClientSecret: secret.New(clientSecret),
			AuthURL: issuer + idp.PathAuthorize, TokenURL: issuer + idp.PathToken, JWKSURL: "http://idp.localhost:" + other.idpSrv.port + "/keys-of-another-idp"},
	} {
		t.Run(name, func(t *testing.T) {
			if name == "wrong keys" {
				// Serve a JWKS of a different key at that path.
				h := otherIdP(t).Handler()
				other.idpSrv.set(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					r.URL.Path = idp.PathJWKS
					h.ServeHTTP(w, r)
				}))
			}
			if err := e.td.SetIdP(cfg); err != nil {
				t.Fatal(err)
			}
			before := len(e.loginsSoFar())
			res := e.visit(e.browser(), e.warpURL(agentCB, "s", oauth2.GenerateVerifier()), scriptbrowser.VisitOptions{Login: alice})
			if res.Stopped || res.Status != http.StatusBadGateway || !strings.Contains(res.ErrorText, "could not be verified") {
				t.Fatalf("%d stopped=%v %q", res.Status, res.Stopped, res.ErrorText)
			}
			if len(e.loginsSoFar()) != before {
				t.Fatal("OnLogin called for an unverified token")
			}
		})
	}
}

// otherIdP is a provider with its own generated key.
func otherIdP(t *testing.T) *idp.Provider {
	t.Helper()
	p, err := idp.New(idp.Options{Issuer: "http://idp.localhost:1", Clients: []idp.Client{{ID: "x", RedirectURIs: []string{"http://x/cb"}}}})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

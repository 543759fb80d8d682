package tfconfig

import (
	"strings"
	"testing"
)

// idp.external must name an identity provider of the directory that the
// built-in IdP does not play.
func TestLinkExternal(t *testing.T) {
	entra := &IdentityProvider{Resource: Resource{Type: TypeIdentityProvider, Label: "entra"}, Type: IdPAzureAD}
	corp := &IdentityProvider{Resource: Resource{Type: TypeIdentityProvider, Label: "corp"}, Type: IdPOIDC}
	cfg := &Config{Dir: "tf", IdentityProviders: []*IdentityProvider{entra, corp}}
	sim, ds := loadSim([]byte(`team = "acme"
idp {
  plays = "entra"
  user "a@acme.example" { password = "pw" }
  external "corp"  { base_url = "http://127.0.0.1:9000" }
  external "entra" { base_url = "http://127.0.0.1:9001" }
  external "crop"  { base_url = "http://127.0.0.1:9002" }
}
`), "sim.hcl")
	if ds.HasErrors() {
		t.Fatal(ds.String())
	}
	got := Link(cfg, sim).Errors().String()
	for _, want := range []string{
		`sim.hcl:6:12: idp.external names "entra", which the built-in IdP plays`,
		`sim.hcl:7:12: idp.external names "crop", but no cloudflare_zero_trust_access_identity_provider "crop" is declared in tf`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("errors lack %q:\n%s", want, got)
		}
	}
	if strings.Count(got, "\n") != 1 {
		t.Errorf("want exactly two errors:\n%s", got)
	}
	if e := sim.IdP.ExternalFor("corp"); e == nil || e.BaseURL != "http://127.0.0.1:9000" {
		t.Errorf("external corp = %+v", e)
	}
}

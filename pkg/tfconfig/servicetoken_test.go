package tfconfig

import (
	"strings"
	"testing"
	"time"
)

// A service token loads with the provider's default duration; a
// service_token selector must reference one (a Cloudflare ID made
// elsewhere is a warning), and a token in an allow policy is a warning,
// since only Service Auth policies admit tokens. Read-only attributes are
// refused as Terraform refuses them.
func TestServiceTokens(t *testing.T) {
	cfg, ds := loadString(t, `
resource "cloudflare_zero_trust_access_service_token" "ci" {
  name = "CI"
}
resource "cloudflare_zero_trust_access_service_token" "short" {
  name     = "Short"
  duration = "2h45m"
  client_secret_version = 2
  previous_client_secret_expires_at = "2026-12-31T00:00:00Z"
}
resource "cloudflare_zero_trust_access_service_token" "bad" {
  name      = "Bad"
  client_id = "x"
}
resource "cloudflare_zero_trust_access_policy" "svc" {
  name     = "Service"
  decision = "non_identity"
  include  = [
    { service_token = { token_id = cloudflare_zero_trust_access_service_token.ci.id } },
    { service_token = { token_id = "9f2c4b7e1d3a4c5b8e6f7a0b1c2d3e4f" } },
    { service_token = { token_id = "ci" } },
    { any_valid_service_token = {} },
  ]
}
resource "cloudflare_zero_trust_access_policy" "allow" {
  name     = "Allow"
  decision = "allow"
  include  = [{ service_token = { token_id = cloudflare_zero_trust_access_service_token.ci.id } }]
}
resource "cloudflare_zero_trust_gateway_policy" "p" {
  name    = "p"
  action  = "allow"
  enabled = true
  filters = ["l4"]
  traffic = "net.dst.port == 22"
}
`)
	got := ds.String()
	for _, want := range []string{
		`client_id is read-only in the Cloudflare provider v5 schema`,
		`no cloudflare_zero_trust_access_service_token has the ID "ci"; reference one as cloudflare_zero_trust_access_service_token.NAME.id`,
		`warning: no cloudflare_zero_trust_access_service_token in`,
		`(a service token made in the dashboard or in another module)`,
		`cloudflare_zero_trust_access_policy.allow includes a service token, but its decision is "allow", which never admits one`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("diagnostics lack %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "selector is not simulated") {
		t.Errorf("service token selectors are simulated:\n%s", got)
	}
	if len(cfg.ServiceTokens) != 3 {
		t.Fatalf("service tokens: %+v", cfg.ServiceTokens)
	}
	ci, short := cfg.ServiceTokens[0], cfg.ServiceTokens[1]
	if ci.Name != "CI" || ci.Duration != 8760*time.Hour || cfg.ServiceToken(ci.ID) != ci {
		t.Errorf("ci = %+v", ci)
	}
	if short.Duration != 2*time.Hour+45*time.Minute {
		t.Errorf("short = %+v", short)
	}
}

// The simulator file's service_token blocks must name a declared token,
// with a long enough secret and a client ID of their own.
func TestSimServiceTokens(t *testing.T) {
	ci := &ServiceToken{Resource: Resource{Type: TypeServiceToken, Label: "ci"}}
	cfg := &Config{Dir: "tf", ServiceTokens: []*ServiceToken{ci}}
	sim, ds := loadSim([]byte(`team = "acme"
idp {
  user "a@acme.example" { password = "pw" }
}
service_token "ci" {
  client_id     = "ci.access"
  client_secret = "0123456789abcdef0123456789abcdef"
}
service_token "cj" {
  client_id     = "ci.access"
  client_secret = "0123456789abcdef0123456789abcdef"
}
service_token "short" {
  client_id     = "short.access"
  client_secret = "tooshort"
}
`), "sim.hcl")
	if got := ds.Errors().String(); !strings.Contains(got, `sim.hcl:15:19: client_secret has 8 characters; give at least 32`) || strings.Count(got, "\n") != 0 {
		t.Fatalf("load errors:\n%s", got)
	}
	got := Link(cfg, sim).Errors().String()
	for _, want := range []string{
		`sim.hcl:9:15: service_token "cj" names no cloudflare_zero_trust_access_service_token declared in tf (did you mean "ci"?)`,
		`sim.hcl:9:15: service_token "cj" has the client_id of service_token "ci"`,
		`sim.hcl:13:15: service_token "short" names no`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("link errors lack %q:\n%s", want, got)
		}
	}
	if c := sim.ServiceTokenCredentials("ci"); c == nil || c.ClientID != "ci.access" || c.ClientSecret.Reveal() != "0123456789abcdef0123456789abcdef" {
		t.Errorf("ci credentials = %+v", c)
	}
}

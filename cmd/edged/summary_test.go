package main

import (
	"strings"
	"testing"
	"time"

	"github.com/ztagent/ztagent/pkg/policy"
	"github.com/ztagent/ztagent/pkg/tfconfig"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func gp(prec int, filter policy.Filter, action policy.Action, enabled bool, limit time.Duration) *tfconfig.GatewayPolicy {
	p := &tfconfig.GatewayPolicy{Name: "p", Precedence: prec, Filters: []policy.Filter{filter}, Action: action, Enabled: enabled}
	if limit > 0 {
		p.CheckSession = &policy.CheckSession{Enforce: true, Duration: limit}
	}
	return p
}

func TestGlobalTimeout(t *testing.T) {
	allow, block := policy.ActionAllow, policy.ActionBlock
	tests := []struct {
		name     string
		policies []*tfconfig.GatewayPolicy
		want     string
	}{
		{"one shared duration", []*tfconfig.GatewayPolicy{gp(1, "l4", allow, true, time.Hour), gp(2, "http", allow, true, time.Hour)}, "every enabled policy uses 1h0m0s: a global timeout"},
		{"different durations", []*tfconfig.GatewayPolicy{gp(1, "l4", allow, true, time.Hour), gp(2, "http", allow, true, 90*time.Minute)}, "durations differ"},
		{"one without a limit", []*tfconfig.GatewayPolicy{gp(1, "l4", allow, true, time.Hour), gp(2, "http", allow, true, 0)}, "durations differ"},
		{"disabled ones do not count", []*tfconfig.GatewayPolicy{gp(1, "l4", allow, true, time.Hour), gp(2, "http", allow, false, 2*time.Hour)}, "every enabled policy uses 1h0m0s"},
		{"none limits", []*tfconfig.GatewayPolicy{gp(1, "l4", allow, true, 0)}, "no enabled policy limits the client session"},
		{"dns and block policies are not session policies", []*tfconfig.GatewayPolicy{gp(1, "dns", allow, true, 0), gp(2, "l4", block, true, 0)}, "none: no policy limits the client session"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			writeSessions(&b, tt.policies)
			if !strings.Contains(b.String(), tt.want) {
				t.Errorf("summary:\n%s\nwant it to contain %q", b.String(), tt.want)
			}
		})
	}
}

func TestSummaryOfExample(t *testing.T) {
	cfg, diags := tfconfig.Load("../../examples/acme")
	sim, simDiags := tfconfig.LoadSim("../../examples/acme/simulator.hcl")
	diags = append(diags, simDiags...)
	diags = append(diags, tfconfig.Link(cfg, sim)...)
	if diags.HasErrors() {
		t.Fatal(diags.String())
	}
	var b strings.Builder
	writeSummary(&b, cfg, sim)
	out := b.String()
	for _, want := range []string{
		"valid: ../../examples/acme (3 gateway policies, 1 list, 1 identity provider, 3 Access applications, 2 Access policies, organization, device profile, 1 service token) and ../../examples/acme/simulator.hcl (team acme, 3 users)",
		"Gateway policies: dns 1, l4 1, http 1\n",
		`  103  l4    "Company Wiki Network policy"  1h30m0s`,
		`  200  http  "Git over HTTP"                1h0m0s`,
		"durations differ, so there is no global timeout",
		"warp_auth_session_duration 12h0m0s",
		`"Company wiki"  wiki.acme.internal  on, 12h0m0s (application setting)`,
		`"Git web UI"    git.acme.internal   off: its binding cookie is enabled`,
		`"Entra ID"  azureAD  prompt=login; played by the built-in IdP`,
		`Device enrollment permissions ("Device enrollment"): policies "Employees" (allow), "Servers" (non_identity); sign-in with "Entra ID"`,
		`  "Servers"  valid 8760h0m0s  enrolls devices: policy "Servers"`,
		"team domain http://acme.localhost:8781",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
}

func TestPlural(t *testing.T) {
	for n, want := range map[int]string{0: "0 gateway policies", 1: "1 gateway policy", 2: "2 gateway policies"} {
		if got := plural(n, "gateway policy"); got != want {
			t.Errorf("plural(%d) = %q, want %q", n, got, want)
		}
	}
	if got := plural(3, "user"); got != "3 users" {
		t.Errorf("plural(3, user) = %q", got)
	}
}

// Per identity provider, the summary says how the team domain signs in:
// played, external at which URLs (the simulator file's base_url applied),
// or why it cannot.
func TestSummarySignIn(t *testing.T) {
	corp := &tfconfig.IdentityProvider{Resource: tfconfig.Resource{Type: tfconfig.TypeIdentityProvider, Label: "corp"}, Name: "Corp", Type: "oidc",
		Config: tfconfig.IdPConfig{ClientID: "c", AuthURL: "https://sso.corp.example/auth", TokenURL: "https://sso.corp.example/token", CertsURL: "https://sso.corp.example/jwks"}}
	partner := &tfconfig.IdentityProvider{Resource: tfconfig.Resource{Type: tfconfig.TypeIdentityProvider, Label: "partner"}, Name: "Partner", Type: "azureAD",
		Config: tfconfig.IdPConfig{ClientID: "p", DirectoryID: "tenant-1"}}
	okta := &tfconfig.IdentityProvider{Resource: tfconfig.Resource{Type: tfconfig.TypeIdentityProvider, Label: "okta"}, Name: "Okta", Type: "okta",
		Config: tfconfig.IdPConfig{ClientID: "o"}}
	played := &tfconfig.IdentityProvider{Resource: tfconfig.Resource{Type: tfconfig.TypeIdentityProvider, Label: "entra"}, Name: "Entra", Type: "azureAD"}
	sim := &tfconfig.Sim{IdP: tfconfig.SimIdP{Provider: played, External: []*tfconfig.ExternalIdP{{Label: "corp", BaseURL: "http://127.0.0.1:9000"}}}}
	for p, want := range map[*tfconfig.IdentityProvider]string{
		played:  "played by the built-in IdP",
		corp:    "external: auth http://127.0.0.1:9000/auth, token http://127.0.0.1:9000/token, certs http://127.0.0.1:9000/jwks",
		partner: "external: issuer https://login.microsoftonline.com/tenant-1/v2.0 (discovery)",
		okta:    `not signed in with: cloudflare_zero_trust_access_identity_provider.okta is type "okta"`,
	} {
		if got := signIn(p, sim); !strings.HasPrefix(got, want) {
			t.Errorf("%s: %q, want %q", p.Label, got, want)
		}
	}
}

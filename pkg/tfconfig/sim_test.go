package tfconfig

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

const exampleSim = "../../examples/acme/simulator.hcl"

func TestLoadExampleSim(t *testing.T) {
	s, diags := LoadSim(exampleSim)
	if len(diags) != 0 {
		t.Fatalf("diagnostics:\n%s", diags.String())
	}
	if s.Team != "acme" || s.TeamDomainURL() != "http://acme.localhost:8781" || s.IdPURL() != "http://idp.localhost:8782" {
		t.Errorf("team %q, team domain %s, IdP %s", s.Team, s.TeamDomainURL(), s.IdPURL())
	}
	wantListen := Listeners{API: DefaultAPIAddr, TeamDomain: DefaultTeamDomainAddr, IdP: DefaultIdPAddr, WireGuard: DefaultWireGuardAddr}
	if s.Listen != wantListen {
		t.Errorf("listen = %+v", s.Listen)
	}
	users := map[string][]string{}
	for _, u := range s.IdP.Users {
		users[u.Email] = u.Groups
		if u.Password.IsZero() || u.Name == "" {
			t.Errorf("user %s has no password or name", u.Email)
		}
	}
	if !slices.Equal(users["alice@example.com"], []string{"engineering"}) || !slices.Equal(users["bob@example.com"], []string{"finance"}) ||
		len(users["mallory@contractor.test"]) != 0 || len(users) != 3 {
		t.Errorf("users = %v", users)
	}
	if s.IdP.Plays != "entra_id" {
		t.Errorf("plays = %q", s.IdP.Plays)
	}
	n := s.Network
	if n.Resolver != DefaultResolver || n.AddressPool != DefaultAddressPool {
		t.Errorf("network = %+v", n)
	}
	if len(n.Records) != 2 || n.Records[0].Name != "wiki.acme.internal" || n.Records[0].Addresses[0] != netip.MustParseAddr("10.0.0.10") {
		t.Errorf("records = %+v", n.Records)
	}
	if len(n.Upstreams) != 2 || n.Upstreams[0].Address != netip.MustParseAddrPort("10.0.0.10:80") ||
		n.Upstreams[0].Target != "127.0.0.1:9080" || n.Upstreams[0].Protocol != "tcp" {
		t.Errorf("upstreams = %+v", n.Upstreams)
	}

	cfg, _ := loadOK(t, exampleDir)
	if d := Link(cfg, s); len(d) != 0 {
		t.Errorf("Link: %s", d.String())
	}
	if s.IdP.Provider != cfg.IdentityProviders[0] {
		t.Errorf("the built-in IdP plays %+v", s.IdP.Provider)
	}
}

func TestSimDefaults(t *testing.T) {
	s, diags := loadSim([]byte(`team = "x"
idp {
  user "a@b.test" { password = "pw-for-a" }
}
`), "min.hcl")
	if len(diags) != 0 {
		t.Fatalf("diagnostics:\n%s", diags.String())
	}
	want := Listeners{API: DefaultAPIAddr, TeamDomain: DefaultTeamDomainAddr, IdP: DefaultIdPAddr, WireGuard: DefaultWireGuardAddr}
	if s.Listen != want || s.Network.Resolver != DefaultResolver || s.Network.AddressPool != DefaultAddressPool {
		t.Errorf("defaults not applied: %+v %+v", s.Listen, s.Network)
	}
	if u := s.IdP.Users[0]; u.Name != "a" || u.Password.Reveal() != "pw-for-a" {
		t.Errorf("user = %+v; want the name to default to the email's local part", u)
	}
	_, diags = loadSim([]byte(`team = "x"`), "nousers.hcl")
	if len(diags) != 1 || diags[0].Severity != Warning || !strings.Contains(diags[0].Message, "no users") {
		t.Errorf("a file without users: %s", diags.String())
	}
}

func TestSimPasswordsNeverPrint(t *testing.T) {
	const pw = "canary-password-4711"
	s, diags := loadSim([]byte(`team = "x"
idp {
  user "a@b.test" {
    password = "`+pw+`"
    groups   = [""]
  }
  user "a@b.test" { password = "`+pw+`" }
}
`), "pw.hcl")
	if len(s.IdP.Users) == 0 {
		t.Fatal("no user loaded")
	}
	outs := []string{fmt.Sprintf("%v %+v %#v", s, s.IdP, s.IdP), diags.String()}
	for _, u := range s.IdP.Users {
		// The users themselves, as pointers and as structs, in every verb
		// a log line or a test failure might use.
		outs = append(outs, fmt.Sprintf("%v %+v %#v %s", u, u, u, u), fmt.Sprintf("%v %+v %#v", *u, *u, *u),
			fmt.Sprintf("%v %+v %#v %s %q", u.Password, u.Password, u.Password, u.Password, u.Password))
	}
	for _, out := range outs {
		if strings.Contains(out, pw) {
			t.Errorf("a password is printed: %s", out)
		}
	}
	if s.IdP.Users[0].Password.Reveal() != pw {
		t.Errorf("the password was not loaded, so this test proves nothing")
	}
	if !diags.HasErrors() {
		t.Errorf("want errors for the empty group and the duplicate user")
	}
}

func TestLink(t *testing.T) {
	twoIdPs := `
resource "cloudflare_zero_trust_access_identity_provider" "entra_id" {
  name   = "Entra ID"
  type   = "azureAD"
  config = { prompt = "login" }
}
resource "cloudflare_zero_trust_access_identity_provider" "otp" {
  name = "One-time PIN"
  type = "onetimepin"
}
resource "cloudflare_zero_trust_access_application" "wiki" {
  name   = "Wiki"
  domain = "wiki.acme.internal/docs"
}
`
	oneIdP := `
resource "cloudflare_zero_trust_access_identity_provider" "otp" {
  name = "One-time PIN"
  type = "onetimepin"
}
`
	tests := []struct {
		name     string
		tf       string
		plays    string
		record   string
		provider string // label of the IdP the built-in one plays; "" for none
		want     []string
	}{
		{"named", twoIdPs, "entra_id", "wiki.acme.internal", "entra_id", nil},
		{"named by address", twoIdPs, "cloudflare_zero_trust_access_identity_provider.otp", "wiki.acme.internal", "otp", nil},
		{"misspelt", twoIdPs, "entra", "wiki.acme.internal", "", []string{`s.hcl:3:11: idp.plays names "entra", but no cloudflare_zero_trust_access_identity_provider "entra" is declared in t (did you mean "entra_id"?)`}},
		{"unnamed, two to choose from", twoIdPs, "", "wiki.acme.internal", "", []string{`s.hcl:1:1: the Terraform configuration declares 2 identity providers; say which one the built-in IdP plays: idp { plays = "entra_id" }`}},
		{"unnamed, only one", oneIdP, "", "", "otp", nil},
		{"app without a record", twoIdPs, "otp", "git.acme.internal", "otp", []string{"t/main.tf:11:1: warning: cloudflare_zero_trust_access_application.wiki has the hostname wiki.acme.internal, which has no record"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, diags := loadString(t, tt.tf)
			if diags.HasErrors() {
				t.Fatal(diags.String())
			}
			plays := ""
			if tt.plays != "" {
				plays = fmt.Sprintf("plays = %q", tt.plays)
			}
			record := ""
			if tt.record != "" {
				record = fmt.Sprintf("network {\n  record %q { addresses = [\"10.0.0.10\"] }\n}\n", tt.record)
			}
			s, sd := loadSim([]byte("team = \"acme\"\nidp {\n  "+plays+"\n  user \"a@b.test\" { password = \"pw-for-a\" }\n}\n"+record), "s.hcl")
			if len(sd) != 0 {
				t.Fatal(sd.String())
			}
			got := Link(cfg, s)
			if len(got) != len(tt.want) {
				t.Fatalf("Link:\n%s\nwant %d diagnostics", got.String(), len(tt.want))
			}
			for i, w := range tt.want {
				if !strings.HasPrefix(got[i].String(), w) {
					t.Errorf("diagnostic %d = %q, want prefix %q", i, got[i], w)
				}
			}
			label := ""
			if s.IdP.Provider != nil {
				label = s.IdP.Provider.Label
			}
			if label != tt.provider {
				t.Errorf("plays %q, want %q", label, tt.provider)
			}
		})
	}
}

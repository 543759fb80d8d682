package tfconfig

import (
	"slices"
	"strings"
	"testing"
)

// The simulator file's directory: group IDs and e-mails, per-user SAML
// attributes and OIDC claims, the virtual network's ID and the hosts'
// categories.
func TestSimDirectory(t *testing.T) {
	s, diags := loadSim([]byte(`team = "acme"
idp {
  group "engineering" {
    id    = "61503835-B6FE-4630-AF88-DE551DD59A2F"
    email = "engineering@acme.example"
  }
  user "a@acme.example" {
    password        = "pw-a"
    groups          = ["Engineering", "finance"]
    saml_attributes = { department = "Sales", groups = ["eng", "all"] }
    oidc_claims     = { department = "engineering" }
  }
}
network {
  vnet_id = "0E2D4F6A-1111-2222-3333-444455556666"
  record "news.example" {
    addresses          = ["192.0.2.7"]
    content_categories = [7, 122]
  }
  record "plain.example" { addresses = ["192.0.2.8"] }
  host "risky.example" { security_categories = [80] }
}
`), "d.hcl")
	if len(diags) != 0 {
		t.Fatal(diags.String())
	}
	g := s.IdP.Group("ENGINEERING")
	if g == nil || g.ID != "61503835-B6FE-4630-AF88-DE551DD59A2F" || g.Email != "engineering@acme.example" || s.IdP.Group("finance") != nil {
		t.Errorf("groups = %+v", s.IdP.Groups)
	}
	u := s.IdP.Users[0]
	if !slices.Equal(u.SAMLAttributes, []string{"department=Sales", "groups=eng", "groups=all"}) || !slices.Equal(u.OIDCClaims, []string{"department=engineering"}) {
		t.Errorf("saml %q, oidc %q", u.SAMLAttributes, u.OIDCClaims)
	}
	n := s.Network
	if n.VNetID != "0e2d4f6a-1111-2222-3333-444455556666" {
		t.Errorf("vnet_id = %q", n.VNetID)
	}
	if len(n.Hosts) != 2 || n.Hosts[0].Name != "news.example" || !slices.Equal(n.Hosts[0].Content, []int{7, 122}) ||
		n.Hosts[1].Name != "risky.example" || !slices.Equal(n.Hosts[1].Security, []int{80}) || n.Records[1].Categories != nil {
		t.Errorf("hosts = %+v", n.Hosts)
	}
	if d, _ := loadSim([]byte("team = \"x\"\nidp {\n  user \"a@b.test\" { password = \"p\" }\n}\n"), "min.hcl"); d.Network.VNetID != DefaultVNetID {
		t.Errorf("default vnet_id = %q", d.Network.VNetID)
	}
}

// A list Terraform references by ID without declaring it takes its items
// from the simulator file; the file may not override a declared list, a
// list nobody references is worth a warning, and items must fit the
// fields the policies compare them with.
func TestSimListsLink(t *testing.T) {
	const ext = "01302951-49f9-47c9-a400-0297e60b6a10"
	tf := `
resource "cloudflare_zero_trust_list" "declared" {
  account_id = "5f2a0c6d9b7e4c1a8d3f6b0e2a9c7d41"
  name       = "Declared"
  type       = "IP"
  items      = [{ value = "10.0.0.1" }]
}
resource "cloudflare_zero_trust_gateway_policy" "ext" {
  account_id = "5f2a0c6d9b7e4c1a8d3f6b0e2a9c7d41"
  name       = "Dashboard list"
  enabled    = true
  precedence = 1
  action     = "block"
  filters    = ["l4"]
  traffic    = "net.dst.ip in $` + ext + `"
}
`
	for _, tc := range []struct {
		name, sim string
		want      string // a diagnostic's prefix; "" for none
		items     []string
	}{
		{"filled", `list "` + ext + `" { items = ["10.0.0.0/8", "192.0.2.1"] }`, "", []string{"10.0.0.0/8", "192.0.2.1"}},
		{"upper-case ID", `list "` + strings.ToUpper(ext) + `" { items = ["10.0.0.1"] }`, "", []string{"10.0.0.1"}},
		{"items that do not fit", `list "` + ext + `" { items = ["wiki.acme.internal"] }`, "s.hcl:5:6: the items of the simulator file's lists do not fit", nil},
		{"unreferenced", `list "11111111-2222-3333-4444-555555555555" { items = ["x"] }`, "s.hcl:5:6: warning: no Gateway policy in t references list $11111111-2222-3333-4444-555555555555", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, diags := loadString(t, tf)
			if diags.HasErrors() {
				t.Fatal(diags.String())
			}
			s, sd := loadSim([]byte("team = \"acme\"\nidp {\n  user \"a@b.test\" { password = \"pw\" }\n}\n"+tc.sim+"\n"), "s.hcl")
			if len(sd) != 0 {
				t.Fatal(sd.String())
			}
			got := Link(cfg, s)
			switch {
			case tc.want == "" && len(got) != 0:
				t.Fatalf("Link: %s", got.String())
			case tc.want != "" && (len(got) != 1 || !strings.HasPrefix(got[0].String(), tc.want)):
				t.Fatalf("Link: %s\nwant %q", got.String(), tc.want)
			}
			if tc.items == nil {
				return
			}
			l := cfg.PolicyLists()[ext]
			if l == nil || !slices.Equal(l.Items, tc.items) {
				t.Errorf("list = %+v, want items %q", l, tc.items)
			}
		})
	}
	// A declared list keeps its Terraform items.
	cfg, _ := loadString(t, tf)
	var declared string
	for _, l := range cfg.Lists {
		if !l.External {
			declared = l.ID
		}
	}
	s, _ := loadSim([]byte("team = \"acme\"\nidp {\n  user \"a@b.test\" { password = \"pw\" }\n}\nlist \""+declared+"\" { items = [\"10.9.9.9\"] }\n"), "s.hcl")
	got := Link(cfg, s)
	if len(got) != 1 || !strings.Contains(got[0].Message, "is declared in Terraform as cloudflare_zero_trust_list.declared") {
		t.Errorf("Link over a declared list: %s (declared ID %q)", got.String(), declared)
	}
}

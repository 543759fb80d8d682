package tfconfig

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/ztagent/ztagent/pkg/policy"
)

const exampleDir = "../../examples/acme"

func loadOK(t *testing.T, dir string) (*Config, Diagnostics) {
	t.Helper()
	cfg, diags := Load(dir)
	if diags.HasErrors() {
		t.Fatalf("Load(%s) reported errors:\n%s", dir, diags.Errors().String())
	}
	return cfg, diags
}

func TestLoadExample(t *testing.T) {
	cfg, diags := loadOK(t, exampleDir)
	if w := diags.Warnings(); len(w) > 0 {
		t.Errorf("the example should load without warnings:\n%s", w.String())
	}
	counts := []struct {
		what      string
		got, want int
	}{
		{"gateway policies", len(cfg.GatewayPolicies), 3},
		{"lists", len(cfg.Lists), 1},
		{"identity providers", len(cfg.IdentityProviders), 1},
		{"access applications", len(cfg.AccessApplications), 3},
		{"access policies", len(cfg.AccessPolicies), 2},
		{"service tokens", len(cfg.ServiceTokens), 1},
	}
	for _, c := range counts {
		if c.got != c.want {
			t.Errorf("%s: got %d, want %d", c.what, c.got, c.want)
		}
	}
	if cfg.Organization == nil || cfg.Organization.WarpAuthSessionDuration != 12*time.Hour || !cfg.Organization.AllowAuthenticateViaWARP {
		t.Errorf("organization = %+v, want warp_auth_session_duration 12h with device identity allowed", cfg.Organization)
	}
	if dp := cfg.DeviceProfile; dp == nil || !dp.AllowedToLeave || dp.ServiceMode != "proxy" || dp.ServicePort != 40000 {
		t.Errorf("device profile = %+v", dp)
	}
	idp := cfg.IdentityProviders[0]
	if e := cfg.EnrollmentApp(); e == nil || !slices.Equal(e.AllowedIdPs, []string{idp.ID}) || len(e.Policies) != 2 ||
		e.Policies[0].Policy != cfg.AccessPolicies[0] || e.Policies[1].Policy != cfg.AccessPolicies[1] {
		t.Errorf("device enrollment application = %+v", e)
	}
	tok := cfg.ServiceTokens[0]
	servers := cfg.AccessPolicies[1]
	if tok.Name != "Servers" || tok.Duration != 8760*time.Hour || tok.ID != SyntheticID(TypeServiceToken, "servers") {
		t.Errorf("service token = %+v", tok)
	}
	if servers.Decision != "non_identity" || !slices.Equal(servers.Include, []AccessRule{{Kind: "service_token", Value: tok.ID}}) {
		t.Errorf("servers policy = %+v", servers)
	}
	if idp.Type != IdPAzureAD || idp.Config.Prompt != "login" || idp.Config.ClientSecret.Reveal() != "simulated-entra-client-secret" {
		t.Errorf("identity provider = %+v", idp)
	}
}

// TestSeedPolicy checks the policy copied verbatim from Cloudflare's page:
// the "${"$"}${…}" idiom resolves to "$" + the list's ID.
func TestSeedPolicy(t *testing.T) {
	cfg, _ := loadOK(t, exampleDir)
	seed := findPolicy(t, cfg, "network_allow_wiki_IPs")
	list := cfg.Lists[0]
	want := GatewayPolicy{
		Resource:    Resource{Type: TypeGatewayPolicy, Label: "network_allow_wiki_IPs", ID: SyntheticID(TypeGatewayPolicy, "network_allow_wiki_IPs")},
		Name:        "Company Wiki Network policy",
		Description: "Managed by Terraform - Allow employees to access company wiki IPs.",
		Enabled:     true,
		Action:      policy.ActionAllow,
		Filters:     []policy.Filter{policy.FilterL4},
		Traffic:     "net.dst.ip in $" + list.ID,
		Identity:    `identity.email matches ".*@example.com"`,
		Precedence:  103,
	}
	got := *seed
	got.Pos, got.CheckSession = Pos{}, nil
	if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", want) {
		t.Errorf("seed policy:\n got %+v\nwant %+v", got, want)
	}
	if cs := seed.CheckSession; cs == nil || !cs.Enforce || cs.Duration != 90*time.Minute {
		t.Errorf("check_session = %+v, want enforce 1h30m0s", cs)
	}
	if seed.SessionLimit() != 90*time.Minute {
		t.Errorf("SessionLimit = %v", seed.SessionLimit())
	}
	if list.Label != "wiki_IPs" || list.Type != policy.ListIP || len(list.Items) != 1 || list.Items[0].Value != "10.0.0.10" {
		t.Errorf("list = %+v", list)
	}
}

func findPolicy(t *testing.T, cfg *Config, label string) *GatewayPolicy {
	t.Helper()
	for _, p := range cfg.GatewayPolicies {
		if p.Label == label {
			return p
		}
	}
	t.Fatalf("no gateway policy %s", label)
	return nil
}

// TestRulesBuildEngine hands the loaded rules and lists to the rule engine,
// as the edge does.
func TestRulesBuildEngine(t *testing.T) {
	cfg, _ := loadOK(t, exampleDir)
	rules := cfg.Rules()
	if len(rules) != 3 {
		t.Fatalf("Rules() = %d rules, want 3", len(rules))
	}
	if !slices.IsSortedFunc(rules, func(a, b policy.Rule) int { return a.Precedence - b.Precedence }) {
		t.Errorf("rules are not in precedence order: %+v", rules)
	}
	if _, err := policy.NewEngine(rules, cfg.PolicyLists()); err != nil {
		t.Fatalf("NewEngine: %v", err)
	}
	lists := cfg.PolicyLists()
	if l := lists[cfg.Lists[0].ID]; l == nil || l.Name != "Company wiki IPs" || !slices.Equal(l.Items, []string{"10.0.0.10"}) {
		t.Errorf("PolicyLists() = %+v", lists)
	}
}

func TestReferencesResolve(t *testing.T) {
	cfg, _ := loadOK(t, exampleDir)
	employees := cfg.AccessPolicies[0]
	for _, app := range cfg.AccessApplications {
		if app.Type == TypeWARPApp {
			continue // employees and servers: TestLoadExample
		}
		if len(app.Policies) != 1 || app.Policies[0].Policy != employees || app.Policies[0].ID != employees.ID || app.Policies[0].Precedence != 1 {
			t.Errorf("%s policies = %+v, want the employees policy", app.Address(), app.Policies)
		}
	}
	if employees.Decision != "allow" || !slices.Equal(employees.Include, []AccessRule{{Kind: "email_domain", Value: "example.com"}}) {
		t.Errorf("employees = %+v", employees)
	}
}

var uuidV8 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestIDsAreStable(t *testing.T) {
	a, _ := loadOK(t, exampleDir)
	b, _ := loadOK(t, exampleDir)
	ids := func(c *Config) []string {
		var out []string
		for _, p := range c.GatewayPolicies {
			out = append(out, p.ID)
		}
		for _, l := range c.Lists {
			out = append(out, l.ID)
		}
		for _, x := range c.AccessApplications {
			out = append(out, x.ID)
		}
		return append(out, c.IdentityProviders[0].ID, c.AccessPolicies[0].ID, c.Organization.ID)
	}
	ia, ib := ids(a), ids(b)
	if !slices.Equal(ia, ib) {
		t.Errorf("IDs differ between loads:\n%v\n%v", ia, ib)
	}
	seen := map[string]bool{}
	for _, id := range ia {
		if !uuidV8.MatchString(id) || seen[id] {
			t.Errorf("ID %q is not a distinct UUIDv8", id)
		}
		seen[id] = true
	}
	// Pinned, so that a change of the scheme is a conscious one: state
	// and audit logs keep these IDs.
	if got := SyntheticID(TypeList, "wiki_IPs"); got != a.Lists[0].ID || got != "baff5dc9-9cc9-8e65-b395-0d2acc9c7154" {
		t.Errorf("SyntheticID(list, wiki_IPs) = %s", got)
	}
}

func TestTfvarsOverrideDefaults(t *testing.T) {
	cfg, diags := loadOK(t, "testdata/valid/tfvars")
	if len(diags) != 0 {
		t.Errorf("unexpected diagnostics:\n%s", diags.String())
	}
	list := cfg.Lists[0]
	if list.Name != "Wiki 10.0.0.99" || len(list.Items) != 2 || list.Items[0].Value != "10.0.0.99" || list.Items[1].Value != "10.0.1.0/24" {
		t.Errorf("list = %+v; want terraform.tfvars' wiki_ip through a local and the list-of-strings form", list)
	}
	wiki := findPolicy(t, cfg, "wiki")
	if wiki.Precedence != 7 {
		t.Errorf("precedence = %d, want 7 from override.auto.tfvars", wiki.Precedence)
	}
	if wiki.SessionLimit() != 45*time.Minute {
		t.Errorf("session = %v, want 45m from terraform.tfvars", wiki.SessionLimit())
	}
	if wiki.Traffic != "net.dst.ip in $"+list.ID {
		t.Errorf("traffic = %q", wiki.Traffic)
	}
	if later := findPolicy(t, cfg, "later"); later.Precedence != 8 {
		t.Errorf("a policy without precedence got %d, want 8 (after the highest)", later.Precedence)
	}
}

func TestSkippedBlocksOneInfoLinePerKind(t *testing.T) {
	src := `
provider "cloudflare" {}
resource "cloudflare_dns_record" "www" { name = "www" }
resource "cloudflare_dns_record" "api" { name = "api" }
resource "cloudflare_zero_trust_tunnel_cloudflared" "t" { name = "t" }
data "cloudflare_zone" "z" {}
output "x" { value = 1 }
resource "cloudflare_zero_trust_gateway_policy" "p" {
  name       = "P"
  enabled    = true
  precedence = 1
  action     = "block"
  filters    = ["dns"]
}
`
	_, diags := loadString(t, src)
	var infos []string
	for _, d := range diags {
		if d.Severity == Info {
			infos = append(infos, d.String())
		}
	}
	want := []string{
		"t/main.tf:2:1: info: skipping provider blocks (cloudflare)",
		"t/main.tf:3:1: info: skipping resources of type cloudflare_dns_record (www, api)",
		"t/main.tf:5:1: info: skipping resources of type cloudflare_zero_trust_tunnel_cloudflared (t)",
		"t/main.tf:6:1: info: skipping data blocks (cloudflare_zone.z)",
		"t/main.tf:7:1: info: skipping output blocks (x)",
	}
	if len(infos) != len(want) {
		t.Fatalf("info lines:\n%s", strings.Join(infos, "\n"))
	}
	for i := range want {
		if !strings.HasPrefix(infos[i], want[i]) {
			t.Errorf("info line %d = %q, want prefix %q", i, infos[i], want[i])
		}
	}
	if diags.HasErrors() || len(diags.Warnings()) > 0 {
		t.Errorf("skipped blocks must not warn:\n%s", diags.String())
	}
}

func TestDiagnosticString(t *testing.T) {
	tests := []struct {
		d    Diagnostic
		want string
	}{
		{Diagnostic{Error, Pos{"main.tf", 7, 5}, "bad"}, "main.tf:7:5: bad"},
		{Diagnostic{Warning, Pos{"main.tf", 1, 2}, "odd"}, "main.tf:1:2: warning: odd"},
		{Diagnostic{Info, Pos{"main.tf", 3, 1}, "skipped"}, "main.tf:3:1: info: skipped"},
		{Diagnostic{Error, Pos{File: "dir"}, "no files"}, "dir: no files"},
	}
	for _, tt := range tests {
		if got := tt.d.String(); got != tt.want {
			t.Errorf("String() = %q, want %q", got, tt.want)
		}
	}
}

func TestDeviceIdentity(t *testing.T) {
	on, off := true, false
	allow := &AccessPolicy{Name: "allow", Decision: "allow"}
	bypass := &AccessPolicy{Name: "bypass", Decision: "bypass"}
	org := &Organization{AllowAuthenticateViaWARP: true, WarpAuthSessionDuration: 12 * time.Hour}
	orgOff := &Organization{WarpAuthSessionDuration: 12 * time.Hour}
	orgNoDuration := &Organization{AllowAuthenticateViaWARP: true}
	tests := []struct {
		name    string
		org     *Organization
		app     AccessApplication
		enabled bool
		reason  string
	}{
		{"org default", org, AccessApplication{}, true, ""},
		{"app turns it off", org, AccessApplication{AllowAuthenticateViaWARP: &off}, false, "application setting"},
		{"app turns it on", orgOff, AccessApplication{AllowAuthenticateViaWARP: &on}, true, ""},
		{"org off", orgOff, AccessApplication{}, false, "organization setting"},
		{"binding cookie", org, AccessApplication{AllowAuthenticateViaWARP: &on, EnableBindingCookie: true}, false, "binding cookie"},
		{"bypass policy", org, AccessApplication{Policies: []AppPolicy{{Policy: allow}, {Policy: bypass}}}, false, `decision "bypass"`},
		{"no duration", orgNoDuration, AccessApplication{}, false, "no warp_auth_session_duration"},
		{"no organization", nil, AccessApplication{AllowAuthenticateViaWARP: &on}, false, "no warp_auth_session_duration"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := &Config{Organization: tt.org}
			di := cfg.DeviceIdentity(&tt.app)
			if di.Enabled != tt.enabled || !strings.Contains(di.Reason, tt.reason) {
				t.Errorf("DeviceIdentity = %+v, want enabled=%v reason containing %q", di, tt.enabled, tt.reason)
			}
			if di.Enabled && di.Duration != 12*time.Hour {
				t.Errorf("Duration = %v, want the organization's 12h", di.Duration)
			}
		})
	}
	cfg, _ := loadOK(t, exampleDir)
	for _, app := range cfg.AccessApplications {
		di := cfg.DeviceIdentity(app)
		switch app.Label {
		case "wiki":
			if !di.Enabled || di.Source != "application" {
				t.Errorf("wiki: %+v, want device identity from the application setting", di)
			}
		case "git":
			if di.Enabled || !strings.Contains(di.Reason, "binding cookie") {
				t.Errorf("git: %+v, want off because of the binding cookie", di)
			}
		}
	}
}

func TestSecretsDoNotPrint(t *testing.T) {
	cfg, _ := loadOK(t, exampleDir)
	out := fmt.Sprintf("%+v %#v", *cfg.IdentityProviders[0], cfg.IdentityProviders[0].Config)
	if strings.Contains(out, "simulated-entra-client-secret") {
		t.Errorf("the client secret is printed: %s", out)
	}
}

func TestLoadDirectoryProblems(t *testing.T) {
	tests := []struct {
		name string
		dir  string
		want string
	}{
		{"missing", "testdata/no-such-dir", "testdata/no-such-dir: cannot read the Terraform directory"},
		{"a file", "load_test.go", "load_test.go: cannot read the Terraform directory"},
		{"no .tf files", "testdata/sim", "testdata/sim: no .tf files in this directory; pass the directory that holds your Terraform configuration to --terraform"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, diags := Load(tt.dir)
			if len(diags) != 1 || !strings.HasPrefix(diags[0].String(), tt.want) {
				t.Errorf("Load(%s):\n%s\nwant one line starting %q", tt.dir, diags.String(), tt.want)
			}
		})
	}
	_, diags := LoadSim("testdata/no-such.hcl")
	if len(diags) != 1 || !strings.HasPrefix(diags[0].String(), "testdata/no-such.hcl:1:1: cannot read the simulator file: no such file or directory; check the path given to --sim") {
		t.Errorf("LoadSim of a missing file: %s", diags.String())
	}
}

// TestValidFeatures loads valid Terraform that uses what real
// configurations use: provider = alias and depends_on (never evaluated),
// lifecycle blocks, optional attributes with defaults, functions, and
// override files merged as Terraform merges them.
func TestValidFeatures(t *testing.T) {
	cfg, diags := loadOK(t, "testdata/valid/features")
	for _, d := range diags {
		if d.Severity != Info {
			t.Errorf("unexpected diagnostic: %s", d)
		}
	}
	if len(cfg.Lists) != 2 || cfg.Lists[0].Label != "wiki" || cfg.Lists[1].Label != "hosts" {
		t.Fatalf("lists = %+v", cfg.Lists)
	}
	wikiList, hosts := cfg.Lists[0], cfg.Lists[1]
	if wikiList.Name != "Company wiki (3 addresses)" || len(wikiList.Items) != 3 || wikiList.Items[1] != (ListItem{Value: "10.0.1.0/24", Description: "security"}) {
		t.Errorf("wiki list = %+v; want the optional name default, three trimmed items and the overridden local", wikiList)
	}
	if wikiList.Description != `{"owner":"security","team":"ENG"}` {
		t.Errorf("description = %q, want local.meta from extra_override.tf", wikiList.Description)
	}
	if hosts.Name != "Hosts: 2" || len(hosts.Items) != 2 {
		t.Errorf("hosts = %+v", hosts)
	}
	wiki := findPolicy(t, cfg, "wiki")
	if wiki.Action != policy.ActionAllow || !wiki.Enabled || wiki.Precedence != 10 || wiki.SessionLimit() != 2*time.Hour || wiki.Identity == "" {
		t.Errorf("wiki policy = %+v; want the session from override.tf's default (optional defaults applied)", wiki)
	}
	git := findPolicy(t, cfg, "git")
	if !git.Enabled || git.Traffic != `dns.fqdn == "git.acme.internal"` || git.Precedence != 20 {
		t.Errorf("git policy = %+v; want enabled by override.tf, the rest from main.tf", git)
	}
}

// TestNoGatewayPolicyWarns: a configuration that loads but holds no
// gateway policy (only other resources, say) enforces nothing, which is
// worth a warning about the directory.
func TestNoGatewayPolicyWarns(t *testing.T) {
	_, diags := loadString(t, `resource "cloudflare_zero_trust_list" "l" {
  name  = "L"
  type  = "IP"
  items = ["10.0.0.10"]
}
resource "cloudflare_dns_record" "www" { name = "www" }
`)
	w := diags.Warnings()
	if diags.HasErrors() || len(w) != 1 || !strings.HasPrefix(w[0].String(), "t: warning: no cloudflare_zero_trust_gateway_policy is declared in this directory, so the edge enforces no Gateway policy") {
		t.Errorf("diagnostics:\n%s\nwant one warning about the directory", diags.String())
	}
}

// BenchmarkLoadManyLocals loads 5,000 locals, each depending on the one
// before: loading must stay linear in their number (it was quadratic when
// local.* was rebuilt after each one).
func BenchmarkLoadManyLocals(b *testing.B) {
	var src strings.Builder
	src.WriteString("locals {\n  l0 = 1\n")
	for i := 1; i < 5000; i++ {
		fmt.Fprintf(&src, "  l%d = local.l%d + 1\n", i, i-1)
	}
	src.WriteString("}\n" + `resource "cloudflare_zero_trust_gateway_policy" "p" {
  name       = "P"
  enabled    = true
  precedence = local.l4999
  action     = "block"
  filters    = ["dns"]
}
`)
	fsys := fstest.MapFS{"main.tf": {Data: []byte(src.String())}}
	b.ReportAllocs()
	for b.Loop() {
		cfg, diags := load(fsys, "bench")
		if diags.HasErrors() || cfg.GatewayPolicies[0].Precedence != 5000 {
			b.Fatalf("precedence %d:\n%s", cfg.GatewayPolicies[0].Precedence, diags.String())
		}
	}
}

// TestDocsListFunctions keeps the list of supported functions in
// docs/TERRAFORM.md in step with the functions the loader registers.
func TestDocsListFunctions(t *testing.T) {
	readme, err := os.ReadFile("../../docs/TERRAFORM.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "### Functions\n")
	if !ok {
		t.Fatal(`docs/TERRAFORM.md has no "### Functions" section`)
	}
	section, _, _ = strings.Cut(section, "\n#")
	_, list, _ := strings.Cut(section, "simulator:\n")
	var listed []string
	for _, m := range regexp.MustCompile("`([a-z]+)`").FindAllStringSubmatch(list, -1) {
		listed = append(listed, m[1])
	}
	if want := sortedKeys(functions); !slices.Equal(listed, want) {
		t.Errorf("docs/TERRAFORM.md lists\n%v\nthe loader has\n%v", listed, want)
	}
}

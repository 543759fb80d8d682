package tfconfig

import (
	"strings"
	"testing"
	"testing/fstest"
)

// Every resource type the loader decodes has its provider v5 schema, so
// no type falls back to the lenient "unknown to the simulator" warnings
// unnoticed; and the rule_settings the loader lists as accepted but not
// simulated are all in that schema.
func TestSchemaCoversWhatTheLoaderDecodes(t *testing.T) {
	for typ := range supported {
		if _, ok := schemaObject(typ, ""); !ok {
			t.Errorf("no provider v5 schema for %s", typ)
		}
	}
	rs, ok := schemaObject(TypeGatewayPolicy, "rule_settings")
	if !ok {
		t.Fatal("no schema for rule_settings")
	}
	for _, n := range append(ruleSettingsIgnored, "check_session", "block_reason") {
		if !rs.has(n) {
			t.Errorf("rule_settings.%s is not in the provider v5 schema", n)
		}
	}
	if cs, ok := schemaObject(TypeGatewayPolicy, "rule_settings.check_session"); !ok || !cs.has("duration") || !cs.has("enforce") {
		t.Errorf("rule_settings.check_session schema = %+v, %v", cs, ok)
	}
	// List indexes do not matter: include[0] is an element of include.
	if _, ok := schemaObject(TypeAccessPolicy, "include[3]"); !ok {
		t.Error("no schema for an element of an Access policy's include")
	}
	if _, ok := schemaObject(TypeGatewayPolicy, "rule_settings.add_headers"); ok {
		t.Error("a map attribute, whose keys are the user's, has a schema object")
	}
}

// service_mode_v2.mode is optional in provider v5: without it the client
// keeps its default mode, warp.
func TestServiceModeOptional(t *testing.T) {
	src := `resource "cloudflare_zero_trust_device_default_profile" "d" {
  service_mode_v2 = { port = 8080 }
}
resource "cloudflare_zero_trust_gateway_policy" "p" {
  name       = "P"
  enabled    = true
  precedence = 1
  action     = "allow"
  filters    = ["l4"]
}
`
	cfg, ds := load(fstest.MapFS{"main.tf": {Data: []byte(src)}}, "dir")
	if ds.HasErrors() || cfg.DeviceProfile == nil || cfg.DeviceProfile.ServiceMode != "warp" || cfg.DeviceProfile.ServicePort != 8080 {
		t.Fatalf("profile %+v, diagnostics:\n%s", cfg.DeviceProfile, ds.String())
	}
}

// A check_session that is off (enforce false or unset) may say duration
// "0s", as the provider writes it back; an enforced one may not.
func TestCheckSessionOffAcceptsZeroDuration(t *testing.T) {
	policy := func(settings string) string {
		return `resource "cloudflare_zero_trust_gateway_policy" "p" {
  name       = "P"
  enabled    = true
  precedence = 1
  action     = "allow"
  filters    = ["l4"]
  rule_settings = { check_session = ` + settings + ` }
}
`
	}
	for _, off := range []string{`{ enforce = false, duration = "0s" }`, `{ duration = "0s" }`} {
		cfg, ds := load(fstest.MapFS{"main.tf": {Data: []byte(policy(off))}}, "dir")
		if ds.HasErrors() || len(cfg.GatewayPolicies) != 1 || cfg.GatewayPolicies[0].CheckSession.Enforce {
			t.Errorf("%s: %s", off, ds.String())
		}
	}
	_, ds := load(fstest.MapFS{"main.tf": {Data: []byte(policy(`{ enforce = true, duration = "0s" }`))}}, "dir")
	if !ds.HasErrors() || !strings.Contains(ds.String(), `"0s" must be positive`) {
		t.Errorf("an enforced check of 0s loaded:\n%s", ds.String())
	}
}

// session_duration "0s" on an Access application or policy is valid in
// provider v5.22 (a plain string) and means Access's "No duration, expires
// immediately"; a negative or malformed one is an error.
func TestAccessSessionDurationZero(t *testing.T) {
	src := `resource "cloudflare_zero_trust_access_application" "vault" {
  name             = "Vault"
  domain           = "vault.acme.internal"
  session_duration = "0s"
  policies = [{ name = "Staff", decision = "allow", include = [{ everyone = {} }], session_duration = "0s" }]
}
`
	cfg, ds := load(fstest.MapFS{"main.tf": {Data: []byte(src)}}, "dir")
	if ds.HasErrors() || len(cfg.AccessApplications) != 1 {
		t.Fatalf("diagnostics:\n%s", ds.String())
	}
	app := cfg.AccessApplications[0]
	if !app.SessionExpiresImmediately || app.SessionDuration != 0 || !app.Policies[0].Policy.SessionExpiresImmediately {
		t.Errorf("app %+v, policy %+v: want both to expire immediately", app, app.Policies[0].Policy)
	}
	for bad, msg := range map[string]string{`"-5m"`: "is negative", `"1 day"`: "is not a duration"} {
		_, ds := load(fstest.MapFS{"main.tf": {Data: []byte(strings.Replace(src, `session_duration = "0s"`, "session_duration = "+bad, 1))}}, "dir")
		if !strings.Contains(ds.Errors().String(), msg) {
			t.Errorf("session_duration %s: %s; want %q", bad, ds.String(), msg)
		}
	}
}

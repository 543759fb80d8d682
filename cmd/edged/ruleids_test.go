package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ztagent/ztagent/internal/testenv/ruleid"
)

// validate's summary of the example and its errors and warnings for the
// rules that used to name their IDs (a session check on a DNS policy, one
// without enforce, prompt on an IdP other than Entra ID) show no rule ID.
func TestValidateShowsNoRuleIDs(t *testing.T) {
	check := func(what, text string) {
		t.Helper()
		if m := ruleid.Find(text); m != "" {
			t.Errorf("%s shows the rule ID %q:\n%s", what, m, text)
		}
	}
	var out, errb bytes.Buffer
	if err := validate(&out, &errb, "../../examples/acme", "../../examples/acme/simulator.hcl"); err != nil {
		t.Fatalf("validate the example: %v\n%s", err, errb.String())
	}
	check("validate's summary of the example", out.String()+errb.String())

	tfDir, simPath := exampleCopy(t)
	main := filepath.Join(tfDir, "main.tf")
	b, err := os.ReadFile(main)
	if err != nil {
		t.Fatal(err)
	}
	tf := strings.Replace(string(b), `type       = "azureAD"`, `type       = "okta"`, 1)
	tf = strings.Replace(tf, "      enforce = true\n      duration = \"1h30m0s\"", "      duration = \"1h30m0s\"", 1)
	tf += `
resource "cloudflare_zero_trust_gateway_policy" "dns_session" {
  name       = "DNS with a session check"
  enabled    = true
  precedence = 900
  action     = "allow"
  filters    = ["dns"]
  traffic    = "dns.fqdn == \"x.test\""
  rule_settings = {
    check_session = { enforce = true, duration = "1h" }
  }
}
`
	if err := os.WriteFile(main, []byte(tf), 0o600); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	errb.Reset()
	if err := validate(&out, &errb, tfDir, simPath); err == nil {
		t.Fatalf("validate accepted the broken example:\n%s", out.String())
	}
	for _, want := range []string{
		"config.prompt is only supported for azureAD",
		"DNS policies never check the client session",
		"does not set enforce = true",
	} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("validate does not say %q:\n%s", want, errb.String())
		}
	}
	check("validate's diagnostics", out.String()+errb.String())
}

// TestHelpShowsNoRuleIDs: the help of every edged command, as a user
// reads it, names no rule ID.
func TestHelpShowsNoRuleIDs(t *testing.T) {
	for _, cmd := range [][]string{
		{}, {"validate"}, {"run"}, {"devices"}, {"devices", "list"}, {"devices", "revoke"},
		{"clock"}, {"clock", "show"}, {"clock", "advance"}, {"reload"},
	} {
		out, errOut, code := edged(append(cmd, "--help")...)
		if code != 0 {
			t.Fatalf("edged %v --help: exit %d\n%s", cmd, code, errOut)
		}
		if m := ruleid.Find(out); m != "" {
			t.Errorf("edged %v --help shows the rule ID %q:\n%s", cmd, m, out)
		}
	}
}

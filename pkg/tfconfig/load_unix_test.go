//go:build unix

package tfconfig

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

const minimalPolicy = `resource "cloudflare_zero_trust_gateway_policy" "p" {
  name       = "P"
  enabled    = true
  precedence = 1
  action     = "block"
  filters    = ["dns"]
}
`

// TestSpecialFilesAreSkipped: a named pipe called *.tf (or
// terraform.tfvars) would block ReadFile forever, and a directory called
// *.tf is no file; both are skipped with an info line. A symbolic link to a
// .tf file is read like the file.
func TestSpecialFilesAreSkipped(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(t.TempDir(), "policy.tf")
	if err := os.WriteFile(real, []byte(minimalPolicy), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(real, filepath.Join(dir, "linked.tf")); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"pipe.tf", "terraform.tfvars"} {
		if err := syscall.Mkfifo(filepath.Join(dir, name), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "modules.tf"), 0o700); err != nil {
		t.Fatal(err)
	}
	cfg, diags := Load(dir) // returns at all: the pipes were not opened
	if len(cfg.GatewayPolicies) != 1 {
		t.Errorf("the symbolic link to a .tf file was not loaded:\n%s", diags.String())
	}
	want := []string{
		dir + "/modules.tf:1:1: info: skipping modules.tf: it is a directory, not a .tf file",
		dir + "/pipe.tf:1:1: info: skipping pipe.tf: it is a named pipe (FIFO), not a regular file, and reading it could block forever",
		dir + "/terraform.tfvars:1:1: info: skipping terraform.tfvars: it is a named pipe (FIFO), not a regular file",
	}
	if len(diags) != len(want) {
		t.Fatalf("diagnostics:\n%s\nwant %d info lines", diags.String(), len(want))
	}
	for i, w := range want {
		if !strings.HasPrefix(diags[i].String(), w) {
			t.Errorf("diagnostic %d = %q, want prefix %q", i, diags[i], w)
		}
	}
}

// TestUnreadableFile: a .tf file that cannot be read is an error at its
// line 1 that says what to check, and nothing else is decoded (a
// reference into it would be a false error).
func TestUnreadableFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.Symlink(filepath.Join(dir, "gone.tf"), filepath.Join(dir, "lists.tf")); err != nil {
		t.Fatal(err)
	}
	src := strings.Replace(minimalPolicy, `filters    = ["dns"]`, `filters    = ["dns"]
  traffic    = "dns.fqdn in ${"$"}${cloudflare_zero_trust_list.hosts.id}"`, 1)
	if err := os.WriteFile(filepath.Join(dir, "main.tf"), []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	_, diags := Load(dir)
	want := dir + "/lists.tf:1:1: cannot read this file: no such file or directory; check that it exists and that you may read it"
	if len(diags) != 1 || !strings.HasPrefix(diags[0].String(), want) {
		t.Errorf("diagnostics:\n%s\nwant one line starting %q", diags.String(), want)
	}
}

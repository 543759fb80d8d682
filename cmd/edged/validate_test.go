package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/ztagent/ztagent/pkg/tfconfig"
	"github.com/ztagent/ztagent/pkg/tfconfig/tfconfigtest"
)

// buildEdged builds the real binary, so that the test sees exit codes and
// output streams exactly as users and scripts do.
func buildEdged(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "edged")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func runEdged(t *testing.T, bin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var o, e bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		t.Fatalf("running edged: %v", err)
	}
	return o.String(), e.String(), code
}

// at returns ":LINE:COL: " for the first occurrence of marker on line.
func at(src string, line int, marker string) string {
	l := strings.Split(src, "\n")[line-1]
	return fmt.Sprintf(":%d:%d: ", line, strings.Index(l, marker)+1)
}

var diagLine = regexp.MustCompile(`^[^\s:][^:]*:\d+:\d+: \S`)

func TestValidateBinary(t *testing.T) {
	bin := buildEdged(t)

	t.Run("example", func(t *testing.T) {
		stdout, stderr, code := runEdged(t, bin, "validate", "--terraform", "../../examples/acme", "--sim", "../../examples/acme/simulator.hcl")
		if code != 0 {
			t.Fatalf("exit %d, want 0\nstderr:\n%s", code, stderr)
		}
		for _, want := range []string{"valid: ", `"Company Wiki Network policy"`, "1h30m0s", "prompt=login"} {
			if !strings.Contains(stdout, want) {
				t.Errorf("summary lacks %q:\n%s", want, stdout)
			}
		}
		for _, line := range strings.Split(strings.TrimSpace(stderr), "\n") {
			if line != "" && !strings.Contains(line, ": info: ") {
				t.Errorf("unexpected diagnostic for the example: %s", line)
			}
		}
	})

	// Terraform alone, like terraform validate, with the directory as the
	// argument or as --terraform; the usage mistakes say what to pass.
	t.Run("terraform alone", func(t *testing.T) {
		for _, args := range [][]string{{"validate", "../../examples/acme"}, {"validate", "--terraform", "../../examples/acme"}} {
			stdout, stderr, code := runEdged(t, bin, args...)
			if code != 0 || !strings.Contains(stdout, "Terraform alone") || !strings.Contains(stdout, `"Company Wiki Network policy"`) || strings.Contains(stdout, "Simulator:") {
				t.Errorf("%q: exit %d\nstdout:\n%s\nstderr:\n%s", args, code, stdout, stderr)
			}
		}
		for _, c := range []struct {
			args []string
			want string
		}{
			{[]string{"validate"}, "no Terraform directory"},
			{[]string{"validate", "a", "--terraform", "b"}, "two directories"},
		} {
			_, stderr, code := runEdged(t, bin, c.args...)
			if code != 2 || !strings.Contains(stderr, c.want) {
				t.Errorf("%q: exit %d, stderr %q; want exit 2 saying %q", c.args, code, stderr, c.want)
			}
		}
	})

	t.Run("invalid", func(t *testing.T) {
		dir := t.TempDir()
		tf := `resource "cloudflare_zero_trust_gateway_policy" "dns" {
  name       = "DNS with a session check"
  enabled    = true
  precedence = 1
  action     = "allow"
  filters    = ["dns"]
  traffic    = "dns.fqdn == \"x.test\" and net.dst.port == 22"
  rule_settings = {
    check_session = { enforce = true, duration = "1d" }
  }
}
`
		sim := "listen {\n  api = \"127.0.0.1:80800\"\n}\n"
		if err := os.WriteFile(filepath.Join(dir, "main.tf"), []byte(tf), 0o600); err != nil {
			t.Fatal(err)
		}
		simPath := filepath.Join(dir, "sim.hcl")
		if err := os.WriteFile(simPath, []byte(sim), 0o600); err != nil {
			t.Fatal(err)
		}
		stdout, stderr, code := runEdged(t, bin, "validate", "--terraform", dir, "--sim", simPath)
		if code != 1 {
			t.Fatalf("exit %d, want 1\nstderr:\n%s", code, stderr)
		}
		if stdout != "" {
			t.Errorf("an invalid configuration printed a summary:\n%s", stdout)
		}
		lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
		for _, line := range lines {
			if !diagLine.MatchString(line) {
				t.Errorf("not in file:line:col: message form: %q", line)
			}
		}
		main := filepath.Join(dir, "main.tf")
		for _, want := range []string{
			main + at(tf, 7, "net.dst.port") + "traffic expression: ",
			main + at(tf, 9, "check_session") + "check_session is only allowed on l4 and http policies",
			main + at(tf, 9, `"1d"`) + `rule_settings.check_session.duration: session duration "1d" is not a duration`,
			simPath + ":1:1: the simulator file has no team",
			simPath + `:2:9: listen.api "127.0.0.1:80800" is not an IP address and port`,
		} {
			if !strings.Contains(stderr, "\n"+want) && !strings.HasPrefix(stderr, want) {
				t.Errorf("stderr lacks a line starting %q:\n%s", want, stderr)
			}
		}
	})

	// The real binary returns, with exit 1 and a file:line error, on a
	// simulator file that is a named pipe (it hung), a password bcrypt
	// cannot hash (edged run refused it with no file or line) and a
	// nesting bomb (a fatal stack overflow).
	t.Run("hostile", func(t *testing.T) {
		for _, c := range tfconfigtest.Cases() {
			if c.Name != "sim-fifo" && c.Name != "sim-long-password" && c.Name != "tf-list" || !tfconfigtest.Supported(c) {
				continue
			}
			tfDir, simPath := exampleCopy(t)
			if err := tfconfigtest.Write(tfDir, simPath, c); err != nil {
				t.Fatal(err)
			}
			stdout, stderr, code := runEdged(t, bin, "validate", "--terraform", tfDir, "--sim", simPath)
			if code != 1 || stdout != "" || !strings.Contains(stderr, tfconfigtest.Path(tfDir, simPath, c)+":") || !strings.Contains(stderr, c.Want) {
				t.Errorf("%s: exit %d, stdout %q, stderr:\n%s\nwant exit 1 and an error saying %q", c.Name, code, stdout, stderr, c.Want)
			}
		}
	})

	t.Run("usage", func(t *testing.T) {
		tests := []struct {
			args []string
			want string
		}{
			{[]string{"--terraform", "", "--sim", "../../examples/acme/simulator.hcl"}, "--terraform is empty: pass the directory that holds your .tf files"},
			{[]string{"--terraform=", "--sim", "../../examples/acme/simulator.hcl"}, "--terraform is empty"},
			{[]string{"--terraform", "../../examples/acme", "--sim", ""}, "--sim is empty: pass the simulator file"},
		}
		for _, tt := range tests {
			stdout, stderr, code := runEdged(t, bin, append([]string{"validate"}, tt.args...)...)
			if code != 2 || !strings.Contains(stderr, tt.want) || stdout != "" {
				t.Errorf("edged validate %q: exit %d, stderr %q; want 2 and %q", tt.args, code, stderr, tt.want)
			}
		}
	})
}

// TestValidateLinksOnlyLoadedConfigs: when one side fails to load, the
// cross-checks between Terraform and the simulator file do not run, so
// the output holds the real errors only: not "idp.plays names entra_id,
// but no … is declared" because main.tf did not parse, nor "no record"
// warnings because the simulator file did not.
func TestValidateLinksOnlyLoadedConfigs(t *testing.T) {
	example, err := os.ReadFile("../../examples/acme/main.tf")
	if err != nil {
		t.Fatal(err)
	}
	exampleSim, err := os.ReadFile("../../examples/acme/simulator.hcl")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		tf, sim string
		want    string // the file of the one diagnostic that is not info
	}{
		{"terraform does not parse", string(example) + "\nresource \"x\" \"y\" {\n", string(exampleSim), "main.tf:"},
		{"simulator file does not parse", string(example), string(exampleSim) + "\nnetwork {\n", "sim.hcl:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "main.tf"), []byte(tt.tf), 0o600); err != nil {
				t.Fatal(err)
			}
			simPath := filepath.Join(dir, "sim.hcl")
			if err := os.WriteFile(simPath, []byte(tt.sim), 0o600); err != nil {
				t.Fatal(err)
			}
			var stdout, stderr strings.Builder
			if err := validate(&stdout, &stderr, dir, simPath); !errors.Is(err, errInvalid) {
				t.Fatalf("validate = %v, want errInvalid", err)
			}
			var lines []string
			for _, line := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
				if !strings.Contains(line, ": info: ") {
					lines = append(lines, line)
				}
			}
			if len(lines) != 1 || !strings.HasPrefix(lines[0], filepath.Join(dir, tt.want)) || !strings.Contains(lines[0], "Unclosed configuration block") {
				t.Errorf("stderr:\n%s\nwant one error or warning, the syntax error in %s", stderr.String(), tt.want)
			}
		})
	}
}

// exampleCopy copies examples/acme into a temporary directory and returns
// the Terraform directory and the simulator file.
func exampleCopy(t *testing.T) (tfDir, simPath string) {
	t.Helper()
	dir := t.TempDir()
	tfDir, simPath = filepath.Join(dir, "tf"), filepath.Join(dir, "sim.hcl")
	if err := os.Mkdir(tfDir, 0o700); err != nil {
		t.Fatal(err)
	}
	for src, dst := range map[string]string{"main.tf": filepath.Join(tfDir, "main.tf"), "simulator.hcl": simPath} {
		b, err := os.ReadFile(filepath.Join("../../examples/acme", src))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return tfDir, simPath
}

// TestValidateHostileFiles: validate reports each hostile file of
// tfconfigtest (nesting and evaluation bombs, special, oversized and
// binary files, an over-long password) as errors at a line of that file,
// at most a screenful of them, and returns.
func TestValidateHostileFiles(t *testing.T) {
	for _, c := range tfconfigtest.Cases() {
		t.Run(c.Name, func(t *testing.T) {
			if !tfconfigtest.Supported(c) {
				t.Skip("needs unix")
			}
			tfDir, simPath := exampleCopy(t)
			if err := tfconfigtest.Write(tfDir, simPath, c); err != nil {
				t.Fatal(err)
			}
			var stdout, stderr strings.Builder
			if err := validate(&stdout, &stderr, tfDir, simPath); !errors.Is(err, errInvalid) {
				t.Fatalf("validate = %v, want errInvalid\n%s", err, stderr.String())
			}
			lines := strings.Split(strings.TrimSuffix(stderr.String(), "\n"), "\n")
			if len(lines) > 2*(tfconfig.MaxDiagnostics+2) {
				t.Errorf("%d lines of diagnostics", len(lines))
			}
			want := tfconfigtest.Path(tfDir, simPath, c) + ":"
			found := false
			for _, line := range lines {
				if !diagLine.MatchString(line) {
					t.Errorf("not in file:line:col: message form: %q", line)
				}
				found = found || strings.HasPrefix(line, want) && strings.Contains(line, c.Want)
			}
			if !found {
				t.Errorf("no line starts %q and says %q:\n%s", want, c.Want, stderr.String())
			}
		})
	}
}

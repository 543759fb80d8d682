package tfconfig

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/ztagent/ztagent/pkg/tfconfig/tfconfigtest"
)

// hostileBase is a valid configuration the hostile files are added to;
// var.a takes the hostile tfvars values.
const hostileBase = `variable "a" {
  default = null
}

resource "cloudflare_zero_trust_gateway_policy" "p" {
  name       = "P"
  enabled    = true
  precedence = 1
  action     = "block"
  filters    = ["dns"]
}
`

// TestHostileFiles loads each hostile file of tfconfigtest (nesting and
// evaluation bombs, special, oversized, binary and very broken files, an
// over-long password): each gives an error at a line of that file that
// says which limit it hit, with the diagnostics capped, instead of a
// fatal stack overflow, gigabytes of memory or a hung read.
func TestHostileFiles(t *testing.T) {
	for _, c := range tfconfigtest.Cases() {
		t.Run(c.Name, func(t *testing.T) {
			if !tfconfigtest.Supported(c) {
				t.Skip("needs unix")
			}
			dir := t.TempDir()
			tfDir, simPath := filepath.Join(dir, "tf"), filepath.Join(dir, "simulator.hcl")
			if err := os.Mkdir(tfDir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(tfDir, "main.tf"), []byte(hostileBase), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := tfconfigtest.Write(tfDir, simPath, c); err != nil {
				t.Fatal(err)
			}
			var diags Diagnostics
			if c.File == tfconfigtest.SimFile {
				_, diags = LoadSim(simPath)
			} else {
				_, diags = Load(tfDir)
			}
			checkHostile(t, c, tfconfigtest.Path(tfDir, simPath, c), diags)
		})
	}
}

func checkHostile(t *testing.T, c tfconfigtest.Case, path string, diags Diagnostics) {
	t.Helper()
	if !diags.HasErrors() {
		t.Fatalf("loaded without errors:\n%s", diags)
	}
	if len(diags) > MaxDiagnostics+MaxDiagnostics/MaxDiagnosticsPerFile+1 {
		t.Errorf("%d diagnostics, more than the cap", len(diags))
	}
	found := false
	for _, d := range diags {
		if d.Severity == Error && strings.Contains(d.Message, c.Want) {
			found = true
			if d.File != path || d.Line < 1 {
				t.Errorf("error %q is not at a line of %s", d, path)
			}
		}
	}
	if !found {
		t.Errorf("no error says %q:\n%s", c.Want, diags)
	}
	var inFile Diagnostics
	for _, d := range diags {
		if d.File == path {
			inFile = append(inFile, d)
		}
	}
	switch {
	case c.Name == "file-many-errors":
		if len(inFile) != MaxDiagnosticsPerFile+1 {
			t.Errorf("%d diagnostics for %s, want %d and a summary:\n%s", len(inFile), path, MaxDiagnosticsPerFile, diags)
		}
	case strings.HasPrefix(c.Name, "eval-"):
		// The limit error, and perhaps what cannot be decoded without
		// the value.
	default:
		if len(inFile) != 1 {
			t.Errorf("%d diagnostics for %s, want one:\n%s", len(inFile), path, diags)
		}
	}
}

// TestNestingWithinLimit: real nesting, and the constructs the nesting
// scan counts (negation, conditionals, templates, directives), load when
// they stay within MaxNesting, so that the limit refuses only bombs.
func TestNestingWithinLimit(t *testing.T) {
	depth := 20
	src := hostileBase + "locals {\n" +
		"  list = " + strings.Repeat("[", depth) + strings.Repeat("]", depth) + "\n" +
		"  neg  = [" + strings.Repeat("-1, ", 200) + "-1]\n" +
		"  diff = " + strings.Repeat("1 - ", 200) + "1\n" +
		"  cond = [" + strings.Repeat("true ? 1 : 2, ", 200) + "0]\n" +
		"  tmpl = \"" + strings.Repeat("%{if true}", depth) + "x" + strings.Repeat("%{endif}", depth) + strings.Repeat("%{if true}y%{endif}", 200) + "\"\n" +
		"  obj  = {\n" + strings.Repeat("    k = !true\n", 1) + strings.Repeat("    a"+"x = -1\n", 1) + "  }\n" +
		"}\n"
	src = strings.Replace(src, "a"+"x = -1", "b = -1", 1)
	_, diags := loadString(t, src)
	if diags.HasErrors() {
		t.Fatalf("diagnostics:\n%s", diags)
	}
}

// TestEvaluationWithinLimit: a large but real configuration, a list of
// thousands of domains built with functions and for expressions and
// referenced by many policies, stays far from the evaluation limits.
func TestEvaluationWithinLimit(t *testing.T) {
	var b strings.Builder
	b.WriteString(`locals {
  domains = flatten([for i in range(50) : [for j in range(100) : format("host-%d-%d.example.com", i, j)]])
  items   = [for d in local.domains : { value = d }]
}

resource "cloudflare_zero_trust_list" "hosts" {
  name  = "hosts"
  type  = "DOMAIN"
  items = local.items
}
`)
	for i := range 50 {
		b.WriteString(strings.ReplaceAll(`
resource "cloudflare_zero_trust_gateway_policy" "pN" {
  name       = "PN"
  enabled    = true
  precedence = N
  action     = "block"
  filters    = ["dns"]
  traffic    = "dns.fqdn in ${"$"}${cloudflare_zero_trust_list.hosts.id}"
}
`, "N", strings.Repeat("1", 1)+string(rune('0'+i/10))+string(rune('0'+i%10))))
	}
	cfg, diags := loadString(t, b.String())
	if diags.HasErrors() {
		t.Fatalf("diagnostics:\n%s", diags)
	}
	if len(cfg.Lists) != 1 || len(cfg.GatewayPolicies) != 50 {
		t.Errorf("%d lists, %d policies", len(cfg.Lists), len(cfg.GatewayPolicies))
	}
}

// growingFS serves one file whose Stat says it is small but whose
// content never ends, like a file that grows while it is read.
type growingFS struct{}

func (growingFS) Open(string) (fs.File, error) { return growingFile{}, nil }

type growingFile struct{}

func (growingFile) Stat() (fs.FileInfo, error) { return smallInfo{}, nil }
func (growingFile) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = '#'
	}
	return len(p), nil
}
func (growingFile) Close() error { return nil }

type smallInfo struct{}

func (smallInfo) Name() string       { return "main.tf" }
func (smallInfo) Size() int64        { return 10 }
func (smallInfo) Mode() fs.FileMode  { return 0o644 }
func (smallInfo) ModTime() time.Time { return time.Time{} }
func (smallInfo) IsDir() bool        { return false }
func (smallInfo) Sys() any           { return nil }

// TestGrowingFileIsBounded: the read stops at MaxFileBytes whatever the
// file's size said when it was opened.
func TestGrowingFileIsBounded(t *testing.T) {
	_, err := readConfigFile(growingFS{}, "main.tf")
	if err != errTooLarge {
		t.Fatalf("err = %v, want %v", err, errTooLarge)
	}
}

// TestDiagnosticsCapped: the cap keeps errors before warnings and info
// lines, says how many were left out, and keeps HasErrors.
func TestDiagnosticsCapped(t *testing.T) {
	var src bytes.Buffer
	for i := range 30 {
		src.WriteString("output \"o" + string(rune('a'+i%26)) + string(rune('a'+i/26)) + "\" {\n}\n")
	}
	for range 30 {
		src.WriteString("bogus {\n}\n")
	}
	src.WriteString("resource \"x\" {\n}\n")
	_, diags := load(fstest.MapFS{"main.tf": {Data: src.Bytes()}}, "t")
	if !diags.HasErrors() {
		t.Fatalf("no error:\n%s", diags)
	}
	last := diags[len(diags)-1]
	if len(diags) != MaxDiagnosticsPerFile+1 || !strings.Contains(last.Message, "more problems in this file (0 of them errors)") || last.Severity != Warning {
		t.Errorf("diagnostics:\n%s", diags)
	}
	if len(diags.Errors()) != 1 {
		t.Errorf("the one error was not kept:\n%s", diags)
	}
}

// panicFS panics on every call, standing in for a bug in the loader or a
// library it calls.
type panicFS struct{}

func (panicFS) Open(string) (fs.File, error) { panic("boom") }

// TestLoadRecoversPanic: a panic while loading becomes one error, and a
// Config is still returned, so that neither validate nor a reload dies.
func TestLoadRecoversPanic(t *testing.T) {
	cfg, diags := load(panicFS{}, "t")
	if cfg == nil || len(diags) != 1 || !diags.HasErrors() || !strings.Contains(diags[0].Message, "internal error while loading the configuration (boom)") {
		t.Errorf("cfg %v, diagnostics:\n%s", cfg, diags)
	}
}

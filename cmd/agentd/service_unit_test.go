package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ztagent/ztagent/internal/testenv/realdeps"
)

// maxExposure is the highest `systemd-analyze security` exposure the unit
// may have: 3.0 is the top of its "OK" band.
const maxExposure = 3.0

// systemdAnalyze returns the path of systemd-analyze, skipping the test
// without it, or failing it under ZTAGENT_REQUIRE_REAL_DEPS=1.
func systemdAnalyze(t *testing.T) string {
	t.Helper()
	return realdeps.Tool(t, "systemd-analyze", "run make deps (Debian package systemd)")
}

// installedUnit runs agentd install on a fake systemd machine whose
// agentd is this real, executable test binary, with awkward run
// arguments, and returns the unit file exactly as install wrote it, saved
// under its name in a temporary directory.
func installedUnit(t *testing.T) string {
	t.Helper()
	exe, err := hostOS{}.Executable()
	if err != nil {
		t.Fatal(err)
	}
	h := newFakeHost(true)
	h.exe = exe
	args := []string{"--run-arg=--edge-api=https://edge.example:8443/api?x=1", "--run-arg=--team", "--run-arg=acme corp",
		`--run-arg=--config=/etc/ztagent/50% "quoted" $HOME\file.json`}
	if out, errOut, code := onHost(t, h, append([]string{"install"}, args...)...); code != 0 {
		t.Fatalf("install: exit %d\n%s%s", code, out, errOut)
	}
	path := filepath.Join(t.TempDir(), unitName)
	if err := os.WriteFile(path, []byte(h.files[unitPath]), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func analyze(t *testing.T, tool string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, tool, args...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestUnitVerifies runs the real `systemd-analyze verify` on the unit
// install writes: every directive known, ExecStart an executable at an
// absolute path, its words quoted so systemd reads them back unchanged.
func TestUnitVerifies(t *testing.T) {
	tool := systemdAnalyze(t)
	path := installedUnit(t)
	out, err := analyze(t, tool, "verify", path)
	// verify also prints notes about the host's own units; only lines
	// about ours matter, and it exits non-zero on any error in ours.
	if err != nil || strings.Contains(out, unitName+":") {
		t.Fatalf("systemd-analyze verify %s: %v\n%s\nthe unit:\n%s", path, err, out, readFile(t, path))
	}
	if !strings.Contains(readFile(t, path), `"--config=/etc/ztagent/50%% \"quoted\" $$HOME\\file.json"`) {
		t.Errorf("the unit's ExecStart does not escape %%, $, quotes and backslashes:\n%s", readFile(t, path))
	}
}

// exposureRE finds systemd-analyze security's overall rating.
var exposureRE = regexp.MustCompile(`Overall exposure level for \S+: ([0-9.]+)`)

// TestUnitExposure rates the unit with the real `systemd-analyze security
// --offline=yes` and holds it at maxExposure ("OK") or better, keeping
// what tun mode needs.
func TestUnitExposure(t *testing.T) {
	tool := systemdAnalyze(t)
	path := installedUnit(t)
	out, _ := analyze(t, tool, "security", "--offline=yes", path)
	m := exposureRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("systemd-analyze security printed no overall exposure:\n%s", out)
	}
	got, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatal(err)
	}
	if got > maxExposure {
		t.Errorf("exposure %.1f, want at most %.1f; what systemd-analyze holds against the unit:\n%s", got, maxExposure, exposed(out))
	}
	unit := readFile(t, path)
	for _, keep := range []string{"AmbientCapabilities=CAP_NET_ADMIN", "DeviceAllow=/dev/net/tun rw", "AF_NETLINK",
		"StateDirectory=ztagent", "RuntimeDirectory=ztagent"} {
		if !strings.Contains(unit, keep) {
			t.Errorf("the unit lost %q, which tun mode or the system-mode defaults need", keep)
		}
	}
	t.Logf("systemd-analyze security --offline=yes: exposure %.1f", got)
}

// exposed keeps the lines of security's table that count against the unit.
func exposed(out string) string {
	var b strings.Builder
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "✗") {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

package main

import (
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ztagent/ztagent/internal/testenv/proc"
)

// TestRunBinary runs edged as users do: it starts, prints where it
// listens, answers the admin commands, and stops cleanly on SIGTERM within
// 5 s (REL5). That bound is for a machine that is doing nothing else; on
// this one the time edged took to start, as measured here, is added to it,
// so that a busy machine slows the bound with the daemon and the test
// still fails a daemon that waits on a timer to stop.
func TestRunBinary(t *testing.T) {
	bin := buildEdged(t)
	state := filepath.Join(t.TempDir(), "state")
	// Bounds only reached when something is wrong.
	const startTimeout, stopTimeout, adminTimeout = time.Minute, time.Minute, time.Minute
	p := proc.Start(t, proc.Options{Bin: bin, Args: []string{"run", "--terraform", "../../examples/acme", "--sim", "../../examples/acme/simulator.hcl",
		"--state-dir", state, "--api", "127.0.0.1:0", "--team-domain", "127.0.0.1:0", "--idp", "127.0.0.1:0", "--wireguard", "127.0.0.1:0"}})
	line, _, err := p.WaitLine(proc.Stdout, 0, startTimeout, func(s string) bool {
		f := strings.Fields(s)
		return len(f) >= 5 && f[0] == "control"
	})
	if err != nil {
		t.Fatalf("edged run printed no API address: %v", err)
	}
	api := strings.Fields(line)[4]
	startup := p.Ready()
	t.Logf("edged started in %v", startup)

	admin := func(args ...string) string {
		t.Helper()
		out, stderrOut, code := runEdgedWithin(t, adminTimeout, bin, append(args, "--api", api, "--state-dir", state)...)
		if code != 0 {
			t.Fatalf("edged %v: exit %d\n%s", args, code, stderrOut)
		}
		return out
	}
	if out := admin("devices", "list"); !strings.Contains(out, "no devices are registered") {
		t.Errorf("devices list: %q", out)
	}
	if out := admin("clock", "advance", "2h"); !strings.Contains(out, "2h0m0s ahead") {
		t.Errorf("clock advance: %q", out)
	}
	if out := admin("reload"); !strings.Contains(out, "configuration reloaded") {
		t.Errorf("reload: %q", out)
	}
	if _, stderrOut, code := runEdgedWithin(t, adminTimeout, bin, "devices", "revoke", "nope", "--api", api, "--state-dir", state); code != 1 || !strings.Contains(stderrOut, "no device with ID nope") {
		t.Errorf("revoke of an unknown device: exit %d, %q", code, stderrOut)
	}
	if fi, err := os.Stat(filepath.Join(state, "admin.token")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("admin.token: %v %v", fi, err)
	}

	start := time.Now()
	if !p.Stop(stopTimeout) {
		t.Fatalf("edged run did not stop within %v of SIGTERM", stopTimeout)
	}
	if err := p.Err(); err != nil {
		t.Fatalf("edged run after SIGTERM: %v", err)
	}
	if d, bound := time.Since(start), 5*time.Second+startup; d > bound {
		t.Errorf("SIGTERM took %v; REL5's 5 s and the %v edged took to start allow %v", d, startup, bound)
	}
}

// runEdgedWithin is runEdged for a command that must finish by itself
// within timeout: one that has not is killed and fails the test, named.
func runEdgedWithin(t *testing.T, timeout time.Duration, bin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	// WaitDelay: should it leave a child holding the output.
	p := proc.Start(t, proc.Options{Name: "edged " + strings.Join(args, " "), Bin: bin, Args: args, WaitDelay: 5 * time.Second, Quiet: true})
	err := p.Wait(timeout)
	o, e := p.Output(proc.Stdout).String(), p.Output(proc.Stderr).String()
	var ee *exec.ExitError
	switch {
	case !p.Exited():
		p.Kill()
		t.Fatalf("%v\nstdout:\n%s\nstderr:\n%s", err, o, e)
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		t.Fatalf("running edged %s: %v", strings.Join(args, " "), err)
	}
	return o, e, code
}

// TestRunRefusesBadStarts: a bad configuration lists every error and does
// not start (REL7); a busy port names the flag that moves it.
func TestRunRefusesBadStarts(t *testing.T) {
	bin := buildEdged(t)
	dir := t.TempDir()
	tf, err := os.ReadFile("../../examples/acme/main.tf")
	if err != nil {
		t.Fatal(err)
	}
	bad := strings.Replace(string(tf), `duration = "1h"`, `duration = "soon"`, 1)
	bad = strings.Replace(bad, `duration = "1h30m0s"`, `duration = "0s"`, 1)
	if err := os.WriteFile(filepath.Join(dir, "main.tf"), []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	_, stderr, code := runEdged(t, bin, "run", "--terraform", dir, "--sim", "../../examples/acme/simulator.hcl", "--state-dir", filepath.Join(dir, "state"))
	if code != 1 || strings.Count(stderr, "main.tf:") < 2 || !strings.Contains(stderr, "not started") {
		t.Errorf("bad config: exit %d\n%s", code, stderr)
	}

	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	_, stderr, code = runEdged(t, bin, "run", "--terraform", "../../examples/acme", "--sim", "../../examples/acme/simulator.hcl",
		"--state-dir", filepath.Join(dir, "state2"), "--api", busy.Addr().String(), "--team-domain", "127.0.0.1:0", "--idp", "127.0.0.1:0", "--wireguard", "127.0.0.1:0")
	if code != 1 || !strings.Contains(stderr, "--api") {
		t.Errorf("busy port: exit %d\n%s", code, stderr)
	}
}

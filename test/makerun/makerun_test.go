//go:build linux

package makerun

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// TestDetachedRunRefusesASecondAndStops is issue 13's report: a second
// make run while one ran said "running" and exited 0, and truncated the
// first one's logs (NUL bytes in edged.log). Now it is refused before it
// touches anything, the first instance keeps running with its logs
// intact, the commands make run prints work as written, and make stop
// stops both. A pid file left by a crashed run is no obstacle.
func TestDetachedRunRefusesASecondAndStops(t *testing.T) {
	in := newInstance(t)
	if err := os.MkdirAll(in.run, 0o700); err != nil {
		t.Fatal(err)
	}
	// A crashed run's pid file: its pid no longer runs.
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	d := dead.Process.Pid
	stale := fmt.Sprintf("supervisor=%d\nedged=%d\nagentd=%d\napi=%s\n", d, d, d, in.api)
	writeFile(t, filepath.Join(in.run, "run.pid"), stale)
	const previous = "the previous run's log\n"
	writeFile(t, filepath.Join(in.run, "edged.log"), previous)

	out, code := in.script("scripts/run.sh", "DETACH=1")
	if code != 0 || !strings.Contains(out, "make run: running") {
		t.Fatalf("make run DETACH=1 over a stale pid file: exit %d\n%s", code, out)
	}
	if pf := in.pidFile(); pf["supervisor"] != "" {
		t.Errorf("a detached run's pid file names the script that returned: %v", pf)
	}
	edged, agentd := in.pid("edged"), in.pid("agentd")
	if gone(edged) || gone(agentd) {
		t.Fatalf("make run returned but edged %d or agentd %d is gone\n%s", edged, agentd, out)
	}
	if got := readFile(t, filepath.Join(in.run, "edged.log.1")); got != previous {
		t.Errorf("edged.log.1 = %q, want the previous log %q", got, previous)
	}
	env := printedEnv(t, out)
	healthy := func(when string) {
		t.Helper()
		// As printed: no --state-dir, --api or --socket.
		for _, c := range [][]string{{"edged", "clock", "show"}, {"edged", "devices", "list"}, {"agentctl", "status"}} {
			if got, code := in.command(env, c[0], c[1:]...); code != 0 {
				t.Errorf("%s: %s with make run's exports: exit %d\n%s", when, strings.Join(c, " "), code, got)
			}
		}
	}
	healthy("after make run")

	logs := map[string]string{}
	for _, l := range []string{"edged.log", "agentd.log"} {
		logs[l] = readFile(t, filepath.Join(in.run, l))
	}
	for _, detach := range []string{"DETACH=1", "DETACH="} {
		out, code := in.script("scripts/run.sh", detach)
		for _, want := range []string{"already running", "edged (pid " + strconv.Itoa(edged) + ")",
			"agentd (pid " + strconv.Itoa(agentd) + ")", in.api, "stop.sh"} {
			if code == 0 || !strings.Contains(out, want) {
				t.Errorf("second make run %s: exit %d, want non-zero and %q in:\n%s", detach, code, want, out)
			}
		}
	}
	healthy("after the refused runs")
	if gone(edged) || gone(agentd) {
		t.Errorf("the refused runs stopped the first instance (edged %d, agentd %d)", edged, agentd)
	}
	for name, before := range logs {
		after := readFile(t, filepath.Join(in.run, name))
		if !strings.HasPrefix(after, before) || strings.ContainsRune(after, 0) {
			t.Errorf("%s changed under the first instance: %d bytes before, %d after, NULs: %v",
				name, len(before), len(after), strings.ContainsRune(after, 0))
		}
	}
	if got := readFile(t, filepath.Join(in.run, "edged.log.1")); got != previous {
		t.Errorf("a refused run rotated the logs: edged.log.1 = %q", got)
	}

	out, code = in.script("scripts/stop.sh")
	want := fmt.Sprintf("stopped edged (pid %d) and agentd (pid %d)", edged, agentd)
	// Stopped by SIGTERM, cleanly: SIGKILL is for a process that hangs.
	if code != 0 || !strings.Contains(out, want) || strings.Contains(out, "SIGKILL") {
		t.Errorf("stop.sh: exit %d, want 0 and %q without SIGKILL in:\n%s", code, want, out)
	}
	in.checkStopped(edged, agentd)
	if out, code := in.script("scripts/stop.sh"); code != 0 || !strings.Contains(out, "nothing running") {
		t.Errorf("stop.sh with nothing running: exit %d\n%s", code, out)
	}
}

// TestRunFailsWhenAChildFails checks that make run fails, with the end of
// the failed child's log, when edged or agentd cannot start, and leaves
// nothing running: before, a busy port or a locked state dir still ended
// in "running" and exit 0.
func TestRunFailsWhenAChildFails(t *testing.T) {
	t.Run("edged's port is taken", func(t *testing.T) {
		in := newInstance(t)
		ln, err := net.Listen("tcp", in.api)
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		out, code := in.script("scripts/run.sh", "DETACH=1")
		for _, want := range []string{"edged exited", "end of its log", "address already in use"} {
			if code == 0 || !strings.Contains(out, want) {
				t.Errorf("exit %d, want non-zero and %q in:\n%s", code, want, out)
			}
		}
		in.checkStopped()
	})
	t.Run("agentd cannot make its state dir", func(t *testing.T) {
		in := newInstance(t)
		if err := os.MkdirAll(in.run, 0o700); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(in.run, "agentd"), "not a directory")
		out, code := in.script("scripts/run.sh", "DETACH=1")
		for _, want := range []string{"agentd exited", "end of its log", "not a directory"} {
			if code == 0 || !strings.Contains(out, want) {
				t.Errorf("exit %d, want non-zero and %q in:\n%s", code, want, out)
			}
		}
		// edged had started: it must be stopped again.
		if !strings.Contains(out, "stopping edged (pid") {
			t.Errorf("run.sh did not stop the edged it started:\n%s", out)
		}
		in.checkStopped()
	})
}

// TestForegroundStopsOnSignals checks that a foreground make run stops
// both processes and removes its pid file on Ctrl-C, SIGTERM and a
// closed terminal (SIGHUP, which edged alone would take as "reload", so
// closing the terminal left it running), and fails when a child dies
// after it answered.
func TestForegroundStopsOnSignals(t *testing.T) {
	for _, c := range []struct {
		name string
		act  func(in *instance, script, edged int) error
		code int
		want string
	}{
		// The terminal sends SIGINT and SIGHUP to its foreground process
		// group; a process manager sends SIGTERM to the script.
		{"Ctrl-C", func(_ *instance, s, _ int) error { return syscall.Kill(-s, syscall.SIGINT) }, 130, "SIGINT received"},
		{"terminal closed", func(_ *instance, s, _ int) error { return syscall.Kill(-s, syscall.SIGHUP) }, 129, "SIGHUP received"},
		{"SIGTERM", func(_ *instance, s, _ int) error { return syscall.Kill(s, syscall.SIGTERM) }, 143, "SIGTERM received"},
		{"make stop in another terminal", func(in *instance, s, e int) error {
			out, code := in.script("scripts/stop.sh")
			want := fmt.Sprintf("stopped make run (pid %d), edged (pid %d) and agentd", s, e)
			if code != 0 || !strings.Contains(out, want) {
				return fmt.Errorf("stop.sh: exit %d, want %q in:\n%s", code, want, out)
			}
			return nil
		}, 143, "SIGTERM received"},
		{"edged dies", func(_ *instance, _, e int) error { return syscall.Kill(e, syscall.SIGKILL) }, 1, "edged exited (status 137)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			skipIfIgnored(t, c.code-128)
			in := newInstance(t)
			f := in.startForeground()
			// run.sh gives each process readyTimeout to answer.
			f.waitLine(t, "make run: running", 2*readyTimeout+slack)
			if pf := in.pidFile(); pf["supervisor"] != strconv.Itoa(f.cmd.Process.Pid) {
				t.Errorf("the pid file does not name the running script %d: %v", f.cmd.Process.Pid, pf)
			}
			edged, agentd := in.pid("edged"), in.pid("agentd")
			if err := c.act(in, f.cmd.Process.Pid, edged); err != nil {
				t.Fatal(err)
			}
			code, out := f.wait(t, grace+killWait+slack)
			if code != c.code || !strings.Contains(out, c.want) || !strings.Contains(out, "make run: stopped") ||
				strings.Contains(out, "SIGKILL") {
				t.Errorf("run.sh: exit %d, want %d, %q and \"make run: stopped\" without SIGKILL in:\n%s", code, c.code, c.want, out)
			}
			in.checkStopped(edged, agentd)
		})
	}
}

// checkStopped checks that pids and every other process started from the
// instance's directory are gone, and so is the pid file.
func (in *instance) checkStopped(pids ...int) {
	in.t.Helper()
	for _, pid := range pids {
		if !gone(pid) {
			in.t.Errorf("pid %d still runs", pid)
		}
	}
	if left := in.procs(); len(left) > 0 {
		in.t.Errorf("processes still running from %s: %v", in.run, left)
	}
	if pf := in.pidFile(); pf != nil {
		in.t.Errorf("the pid file is still there: %v", pf)
	}
}

// skipIfIgnored skips when signal sig (a number; 0 and negatives are no
// signal) is ignored in this process: the script would inherit that and
// bash cannot trap a signal ignored at its start. A shell's background job
// runs with SIGINT ignored; a terminal's make run does not.
func skipIfIgnored(t *testing.T, sig int) {
	t.Helper()
	if sig <= 0 || sig > 64 {
		return
	}
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range bytes.Split(b, []byte("\n")) {
		if v, ok := bytes.CutPrefix(line, []byte("SigIgn:")); ok {
			mask, err := strconv.ParseUint(strings.TrimSpace(string(v)), 16, 64)
			if err != nil {
				t.Fatal(err)
			}
			if mask&(1<<(sig-1)) != 0 {
				t.Skipf("signal %d is ignored in this test process (started as a background job?), so the script cannot trap it", sig)
			}
		}
	}
}

func writeFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

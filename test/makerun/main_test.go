//go:build linux

// Package makerun tests make run and make stop as a newcomer uses them
// (issue 13): scripts/run.sh and scripts/stop.sh with the real edged,
// agentd and agentctl, in a temporary run directory on free loopback
// ports, so that they never meet a make run of the developer's own.
package makerun

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ztagent/ztagent/internal/testenv/freeport"
	"github.com/ztagent/ztagent/internal/testenv/gobuild"
	"github.com/ztagent/ztagent/internal/testenv/proc"
)

func TestMain(m *testing.M) {
	code := gobuild.Main(m)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "makerun: leaked goroutines:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// moduleRoot is where the scripts run from, as make runs them.
const moduleRoot = "../.."

// The scripts' own bounds (their defaults, which the tests keep): each
// process has readyTimeout to answer, and a stop takes at most grace
// before SIGKILL and killWait after it. The tests wait that long plus
// slack, and no longer.
const (
	readyTimeout = 30 * time.Second
	grace        = 10 * time.Second
	killWait     = 5 * time.Second
	slack        = 10 * time.Second
)

// build compiles edged, agentd and agentctl once, without the race
// detector: they are the programs under test, not this test.
func build(t *testing.T) string {
	t.Helper()
	return gobuild.Build(t, false, "./cmd/edged", "./cmd/agentd", "./cmd/agentctl")
}

// instance is one make run directory with its own ports.
type instance struct {
	t   *testing.T
	bin string   // BIN: the binaries
	run string   // RUN
	env []string // the scripts' environment
	api string   // edged's control and admin API address
}

// newInstance makes a run directory and picks free ports, and registers
// a cleanup that stops whatever runs from that directory, however the
// test ended.
func newInstance(t *testing.T) *instance {
	t.Helper()
	if testing.Short() {
		t.Skip("makerun: starts edged and agentd; skipped with -short")
	}
	bin := build(t)
	in := &instance{t: t, bin: bin, run: filepath.Join(t.TempDir(), "run")}
	in.api = freeport.TCP(t).String()
	in.env = scriptEnv(map[string]string{
		"BIN":               bin,
		"RUN":               in.run,
		"EDGED_API":         in.api,
		"EDGED_TEAM_DOMAIN": freeport.TCP(t).String(),
		"EDGED_IDP":         freeport.TCP(t).String(),
		"EDGED_WIREGUARD":   freeport.UDP(t).String(),
		"AGENTD_PROXY":      freeport.TCP(t).String(),
	})
	t.Cleanup(in.cleanup)
	return in
}

// scriptEnv is this process's environment without what would point the
// scripts or the binaries elsewhere (a make run of the developer's, a
// session bus and its keyring), plus vars.
func scriptEnv(vars map[string]string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if _, ok := vars[k]; ok || strings.HasPrefix(k, "ZTAGENT_") || k == "DETACH" ||
			k == "DBUS_SESSION_BUS_ADDRESS" || strings.HasPrefix(k, "EDGED_") || strings.HasPrefix(k, "AGENTD_") {
			continue
		}
		env = append(env, kv)
	}
	for k, v := range vars {
		env = append(env, k+"="+v)
	}
	return env
}

// cleanup stops the instance with stop.sh and then kills anything still
// running from its directory, so that a broken script cannot leave
// processes behind.
func (in *instance) cleanup() {
	if out, code := in.script("scripts/stop.sh"); code != 0 {
		in.t.Errorf("cleanup: stop.sh: exit %d\n%s", code, out)
	}
	for _, pid := range in.procs() {
		in.t.Errorf("cleanup: pid %d still ran from %s after stop.sh; killing it", pid, in.run)
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

// script runs a script to completion (it may start detached children,
// whose output goes to their logs) and returns its output and exit code.
func (in *instance) script(name string, env ...string) (string, int) {
	in.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout*2+grace+killWait+slack)
	defer cancel()
	cmd := exec.CommandContext(ctx, name)
	cmd.Dir = moduleRoot
	cmd.Env = append(append([]string(nil), in.env...), env...)
	out, err := cmd.CombinedOutput()
	if err != nil && cmd.ProcessState == nil {
		in.t.Fatalf("%s: %v", name, err)
	}
	return string(out), cmd.ProcessState.ExitCode()
}

// pidFile is the parsed pid file, or nil when there is none.
func (in *instance) pidFile() map[string]string {
	b, err := os.ReadFile(filepath.Join(in.run, "run.pid"))
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		in.t.Fatal(err)
	}
	m := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		k, v, _ := strings.Cut(line, "=")
		m[k] = v
	}
	return m
}

// pid returns the pid file's pid for name, failing the test without one.
func (in *instance) pid(name string) int {
	in.t.Helper()
	pid, err := strconv.Atoi(in.pidFile()[name])
	if err != nil || pid <= 0 {
		in.t.Fatalf("pid file has no %s pid: %v", name, in.pidFile())
	}
	return pid
}

// procs returns the live processes (not zombies) whose command line names
// the instance's directory: what the scripts started from it.
func (in *instance) procs() []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		in.t.Fatal(err)
	}
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && bytes.Contains(cmdline, []byte(in.run)) && !gone(pid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// gone reports whether pid has exited (a zombie counts: it no longer
// runs, and its parent may not be ours to reap it).
func gone(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	s := string(b)
	rest := s[strings.LastIndexByte(s, ')')+1:]
	return strings.HasPrefix(strings.TrimSpace(rest), "Z")
}

// exportRE finds the export line make run prints.
var exportRE = regexp.MustCompile(`(?m)^\s*export (.*)$`)

// printedEnv returns the variables of the export line in out.
func printedEnv(t *testing.T, out string) []string {
	t.Helper()
	m := exportRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no export line in:\n%s", out)
	}
	return strings.Fields(m[1])
}

// command runs a binary of the build with env added, as a user would in
// another terminal, and returns its output and exit code.
func (in *instance) command(env []string, name string, args ...string) (string, int) {
	in.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), slack)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(in.bin, name), args...)
	cmd.Env = append(scriptEnv(nil), env...)
	out, err := cmd.CombinedOutput()
	if err != nil && cmd.ProcessState == nil {
		in.t.Fatalf("%s: %v", name, err)
	}
	return string(out), cmd.ProcessState.ExitCode()
}

// foreground is run.sh running in the foreground, in a process group of
// its own as in a terminal, its standard output and error one stream.
type foreground struct {
	*proc.Proc
	cmd *exec.Cmd
}

// startForeground starts run.sh without DETACH. Its output ends when
// run.sh and everything holding its output exits; the test's cleanup
// waits for that.
func (in *instance) startForeground() *foreground {
	in.t.Helper()
	// As long as a stop may take: output written by a child of run.sh
	// after run.sh itself exited is not lost.
	const stopTime = grace + killWait + slack
	p := proc.Start(in.t, proc.Options{Name: "run.sh", Bin: "scripts/run.sh", Dir: moduleRoot, Env: in.env, MergeOutput: true,
		WaitDelay: stopTime})
	in.t.Cleanup(func() {
		// Whatever the test did, the script must end (cleanup's
		// stop.sh asks it to) and its output with it.
		in.cleanup()
		if p.Wait(stopTime) != nil && !p.Exited() {
			p.Kill()
		}
	})
	return &foreground{Proc: p, cmd: p.Cmd()}
}

// waitLine waits until run.sh prints a line starting with prefix, for at
// most within; it fails the test with the output so far when run.sh ends
// or the time is up first.
func (f *foreground) waitLine(t *testing.T, prefix string, within time.Duration) {
	t.Helper()
	if _, _, err := f.WaitLine(proc.Stdout, 0, within, func(l string) bool { return strings.HasPrefix(l, prefix) }); err != nil {
		t.Fatalf("run.sh did not print %q: %v\n%s", prefix, err, f.Output(proc.Stdout))
	}
}

// wait waits for run.sh to exit, for at most within, and returns its exit
// code and its whole output.
func (f *foreground) wait(t *testing.T, within time.Duration) (int, string) {
	t.Helper()
	_ = f.Wait(within)
	if !f.Exited() {
		t.Fatalf("run.sh did not exit within %v", within)
	}
	return f.ExitCode(), f.Output(proc.Stdout).String()
}

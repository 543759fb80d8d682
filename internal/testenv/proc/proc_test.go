package proc

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// within bounds every wait here; it is only reached when something is
// wrong.
const within = time.Minute

// TestStopKillsTheGroup: Stop sends SIGTERM to the process, which exits
// in time, and kills a grandchild that holds its output open.
func TestStopKillsTheGroup(t *testing.T) {
	p := Start(t, Options{Name: "sh", Bin: "/bin/sh", Args: []string{"-c", `sleep 1000 & echo "child $!"; echo err >&2; wait`}})
	line, next, err := p.WaitLine(Stdout, 0, within, func(s string) bool { return strings.HasPrefix(s, "child ") })
	if err != nil || next != 1 {
		t.Fatalf("WaitLine: %q %d %v", line, next, err)
	}
	if _, _, err := p.WaitLine(Stderr, 0, within, func(s string) bool { return s == "err" }); err != nil {
		t.Fatal(err)
	}
	if !p.Stop(within) {
		t.Fatal("sh did not exit within a minute of SIGTERM")
	}
	if p.Err() == nil || p.ExitCode() != -1 {
		t.Errorf("sh ended by SIGTERM: err %v, code %d", p.Err(), p.ExitCode())
	}
	var pid int
	if _, err := fmt.Sscan(strings.TrimPrefix(line, "child "), &pid); err != nil {
		t.Fatal(err)
	}
	// SIGKILL is sent; the grandchild is gone (or a zombie) once the
	// kernel has delivered it.
	for deadline := time.Now().Add(within); !gone(pid); time.Sleep(10 * time.Millisecond) { // polling /proc: there is no event for another's process exit
		if time.Now().After(deadline) {
			t.Fatalf("the grandchild %d survived Stop", pid)
		}
	}
}

// gone reports whether pid has exited: no such process, or a zombie.
func gone(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	s := string(b)
	return strings.HasPrefix(strings.TrimSpace(s[strings.LastIndexByte(s, ')')+1:]), "Z")
}

// TestOutputEnds: a process that exits ends its output, and WaitLine
// says so at once instead of waiting out its bound.
func TestOutputEnds(t *testing.T) {
	p := Start(t, Options{Bin: "/bin/sh", Args: []string{"-c", "printf 'a\\nb'; exit 3"}, MergeOutput: true})
	if err := p.Wait(within); err == nil {
		t.Fatal("exit 3 reported as success")
	}
	if p.ExitCode() != 3 || p.Output(Stdout).String() != "a\nb" || p.Output(Stdout).Count(func(string) bool { return true }) != 2 {
		t.Errorf("code %d, output %q", p.ExitCode(), p.Output(Stdout).String())
	}
	if _, _, err := p.WaitLine(Stdout, 0, within, func(s string) bool { return s == "c" }); !errors.Is(err, ErrNoMoreOutput) {
		t.Errorf("WaitLine after the end: %v", err)
	}
	if r := p.Report(10); !strings.Contains(r, "exit status 3") || !strings.Contains(r, "a\nb\n") {
		t.Errorf("report: %s", r)
	}
}

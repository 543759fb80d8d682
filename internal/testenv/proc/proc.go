// Package proc starts a child process of a test — one of our binaries, a
// script, the test binary itself — and makes sure it ends with the test.
// The child runs in a process group of its own, so that stopping it kills
// whatever it started too, and it is killed if the test binary dies
// (Pdeathsig). Its output is kept line by line: tests wait for a line
// (a banner, a "listening on") instead of sleeping, and a failed test
// shows what the process said.
package proc

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Stream names one of the process's outputs.
type Stream int

const (
	Stdout Stream = iota
	Stderr
)

func (s Stream) String() string {
	if s == Stderr {
		return "stderr"
	}
	return "stdout"
}

// StopGrace is REL5's bound on a clean shutdown after SIGTERM, and the
// grace the test's cleanup gives a process still running.
const StopGrace = 5 * time.Second

// reportLines is how many lines of each stream a failure report shows.
const reportLines = 40

// Options says what to start.
type Options struct {
	// Name names the process in messages; the default is Bin's base name.
	Name string
	Bin  string
	Args []string
	// Env is the environment; nil is the test's.
	Env []string
	// Dir is the working directory; "" is the test's.
	Dir string
	// OpenStdin gives the process a standard input that Stdin writes
	// to; without it the input is /dev/null.
	OpenStdin bool
	// MergeOutput sends standard error to standard output's pipe and
	// lines, as a terminal shows them.
	MergeOutput bool
	// WaitDelay is how long Wait waits, after the process exited, for a
	// grandchild that holds its output open; the default is 2 s.
	WaitDelay time.Duration
	// Grace is how long the test's cleanup waits after SIGTERM before it
	// kills the process group; the default is StopGrace.
	Grace time.Duration
	// Credential, when set, runs the process as another user (the
	// test must be root; unix only).
	Credential *Credential
	// Quiet leaves the output out of the test's log when it fails, for
	// callers that report it themselves (Report).
	Quiet bool
}

// Credential is a uid and gid to run a process as.
type Credential struct{ UID, GID uint32 }

// Proc is a running (or ended) child process.
type Proc struct {
	name     string
	cmd      *exec.Cmd
	out, err *Lines
	stdin    io.WriteCloser
	done     chan struct{}
	// waitErr is cmd.Wait's result, valid once done is closed.
	waitErr  error
	launched time.Time
	startup  time.Duration
}

// Start starts the process and registers a cleanup that stops it,
// whatever happens: SIGTERM, then SIGKILL to its process group after
// Options.Grace. It fails t when the process cannot be started.
func Start(t testing.TB, o Options) *Proc {
	t.Helper()
	name := o.Name
	if name == "" {
		name = filepath.Base(o.Bin)
	}
	cmd := exec.Command(o.Bin, o.Args...)
	cmd.Env, cmd.Dir = o.Env, o.Dir
	cmd.SysProcAttr = sysProcAttr(o.Credential)
	p := &Proc{name: name, cmd: cmd, out: newLines(), err: newLines(), done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.err
	if o.MergeOutput {
		p.err = p.out
		cmd.Stderr = p.out
	}
	// A grandchild holding the output pipes open must not keep Wait from
	// returning once the process itself has exited.
	cmd.WaitDelay = o.WaitDelay
	if cmd.WaitDelay == 0 {
		cmd.WaitDelay = 2 * time.Second
	}
	if o.OpenStdin {
		w, err := cmd.StdinPipe()
		if err != nil {
			t.Fatalf("start %s: %v", name, err)
		}
		p.stdin = w
	}
	grace := o.Grace
	if grace == 0 {
		grace = StopGrace
	}
	p.launched = time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.waitErr = cmd.Wait()
		p.out.close()
		p.err.close()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.Stop(grace)
		if t.Failed() && !o.Quiet {
			t.Logf("%s", p.Report(reportLines))
		}
	})
	return p
}

// Name is the process's name in messages.
func (p *Proc) Name() string { return p.name }

// Pid is the process's id (and its process group's).
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Cmd is the command, to read (Process, ProcessState); Proc waits for it.
func (p *Proc) Cmd() *exec.Cmd { return p.cmd }

// Stdin is the process's standard input (Options.OpenStdin), or nil.
func (p *Proc) Stdin() io.WriteCloser { return p.stdin }

// Output is the lines of stream s so far (with MergeOutput, both streams
// are Stdout's).
func (p *Proc) Output(s Stream) *Lines {
	if s == Stderr {
		return p.err
	}
	return p.out
}

// Launched is when the process was started.
func (p *Proc) Launched() time.Time { return p.launched }

// Ready records that the process is ready (the test has seen it say so)
// and returns how long it took since launch; Startup returns it later.
// Tests add it to bounds meant for an idle machine (REL3, REL5), so that
// a busy machine slows the bound with the process.
func (p *Proc) Ready() time.Duration {
	p.startup = time.Since(p.launched)
	return p.startup
}

// Startup is what Ready measured, or 0 before it.
func (p *Proc) Startup() time.Duration { return p.startup }

// WaitLine waits up to within for a line of stream s, at index from or
// later, that satisfies match, and returns it with the index after it.
// It fails early when the process has ended its output.
func (p *Proc) WaitLine(s Stream, from int, within time.Duration, match func(string) bool) (line string, next int, err error) {
	line, next, err = p.Output(s).Wait(from, within, match)
	if err != nil {
		return "", next, fmt.Errorf("%s: %s: %w", p.name, s, err)
	}
	return line, next, nil
}

// Stop sends SIGTERM and waits up to grace for the process to exit; then
// (or if it does not) it kills what is left of the process group and
// waits for the process. It reports whether the process exited within
// grace; one that had already exited counts as in time.
func (p *Proc) Stop(grace time.Duration) bool {
	select {
	case <-p.done:
		p.killGroup()
		return true
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(grace)
	defer t.Stop()
	inTime := true
	select {
	case <-p.done:
	case <-t.C:
		inTime = false
	}
	p.killGroup()
	<-p.done
	return inTime
}

// Kill kills the process group at once, without SIGTERM first (a crash,
// not a stop), and waits for the process.
func (p *Proc) Kill() {
	p.killGroup()
	<-p.done
}

// killGroup kills every process left in the child's process group; the
// group is ours, created by Setpgid in Start.
func (p *Proc) killGroup() {
	killGroup(p.cmd.Process)
}

// Done is closed once the process has exited and its output is read.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Wait waits up to within for the process to exit and returns its error
// (nil for exit status 0).
func (p *Proc) Wait(within time.Duration) error {
	t := time.NewTimer(within)
	defer t.Stop()
	select {
	case <-p.done:
		return p.waitErr
	case <-t.C:
		return fmt.Errorf("%s did not exit within %v", p.name, within)
	}
}

// Err is how the process ended (nil for exit status 0, or while it runs).
func (p *Proc) Err() error {
	if !p.Exited() {
		return nil
	}
	return p.waitErr
}

// ExitCode is the process's exit status, or -1 while it runs or when a
// signal ended it.
func (p *Proc) ExitCode() int {
	if !p.Exited() {
		return -1
	}
	return p.cmd.ProcessState.ExitCode()
}

// Report is the end of the process's output, n lines of each stream, for
// failure reports.
func (p *Proc) Report(n int) string {
	var b strings.Builder
	state := "running"
	if p.Exited() {
		state = fmt.Sprintf("exited: %v", p.waitErr)
		if p.waitErr == nil {
			state = "exited: status 0"
		}
	}
	if p.err == p.out {
		fmt.Fprintf(&b, "----- %s (%s), output:\n%s", p.name, state, p.out.Tail(n))
		return b.String()
	}
	fmt.Fprintf(&b, "----- %s (%s), stdout:\n%s", p.name, state, p.out.Tail(n))
	fmt.Fprintf(&b, "----- %s, stderr:\n%s", p.name, p.err.Tail(n))
	return b.String()
}

// Lines is an io.Writer that keeps what a process writes, as lines, and
// wakes whoever waits for a new one.
type Lines struct {
	mu      sync.Mutex
	raw     bytes.Buffer
	lines   []string
	partial []byte
	closed  bool
	// changed is closed (and replaced) whenever a line arrives or the
	// output ends: a broadcast to every waiter.
	changed chan struct{}
}

func newLines() *Lines { return &Lines{changed: make(chan struct{})} }

// Write appends b, splitting it into lines.
func (l *Lines) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.raw.Write(b)
	l.partial = append(l.partial, b...)
	added := false
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		l.lines = append(l.lines, string(l.partial[:i]))
		l.partial = l.partial[i+1:]
		added = true
	}
	if added {
		l.broadcastLocked()
	}
	return len(b), nil
}

func (l *Lines) broadcastLocked() {
	close(l.changed)
	l.changed = make(chan struct{})
}

// close records the end of the output: an unfinished last line becomes
// a line, and waiters stop waiting for more.
func (l *Lines) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	if len(l.partial) > 0 {
		l.lines = append(l.lines, string(l.partial))
		l.partial = nil
	}
	l.closed = true
	l.broadcastLocked()
}

// ErrNoMoreOutput is Wait's error when the output ended without a match.
var ErrNoMoreOutput = errors.New("the process ended its output")

// Wait returns the first line at index from or later that satisfies
// match, and the index after it; it waits up to within for one.
func (l *Lines) Wait(from int, within time.Duration, match func(string) bool) (string, int, error) {
	deadline := time.NewTimer(within)
	defer deadline.Stop()
	for {
		l.mu.Lock()
		for ; from < len(l.lines); from++ {
			if match(l.lines[from]) {
				line := l.lines[from]
				l.mu.Unlock()
				return line, from + 1, nil
			}
		}
		closed, changed := l.closed, l.changed
		l.mu.Unlock()
		if closed {
			return "", from, ErrNoMoreOutput
		}
		select {
		case <-changed:
		case <-deadline.C:
			return "", from, fmt.Errorf("no matching output line within %v", within)
		}
	}
}

// Count is how many lines satisfy match.
func (l *Lines) Count(match func(string) bool) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, s := range l.lines {
		if match(s) {
			n++
		}
	}
	return n
}

// String is everything written so far, byte for byte.
func (l *Lines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.raw.String()
}

// Tail returns the last n lines (and an unfinished one).
func (l *Lines) Tail(n int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	lines := l.lines
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	s := strings.Join(lines, "\n")
	if len(l.partial) > 0 {
		s += "\n" + string(l.partial)
	}
	if s == "" {
		return "(nothing)\n"
	}
	return s + "\n"
}

package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// proc is a child process of a test: edged, agentd, an agentctl that runs
// in the background. It runs in its own process group, so that cleanup can
// kill everything it started (the xdg-open shim included), and its output
// is kept for the failure report.
type proc struct {
	name string
	cmd  *exec.Cmd
	// out collects standard output line by line; tests wait on its lines
	// (banners, agentctl watch events) instead of sleeping.
	out *lineLog
	// errOut is standard error: the logs of edged and agentd.
	errOut *lineLog
	done   chan struct{}
	// waitErr is cmd.Wait's result, valid once done is closed.
	waitErr error
	// launched is when the process was started; startup how long it took
	// to be ready, once the test has seen it ready (see world.startEdge).
	launched time.Time
	startup  time.Duration
}

// startProc starts bin with args and env (nil: the test's environment) and
// stops it, whatever happens, when the test ends: SIGTERM, then SIGKILL to
// its process group after stopGrace.
func startProc(t testing.TB, name string, env []string, bin string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Setpgid: true,
		// If the test binary dies, the child must not outlive it.
		Pdeathsig: syscall.SIGKILL,
	}
	p := &proc{name: name, cmd: cmd, out: newLineLog(), errOut: newLineLog(), done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.errOut
	// A grandchild holding the output pipes open must not keep Wait from
	// returning once the process itself has exited.
	cmd.WaitDelay = 2 * time.Second
	p.launched = time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.waitErr = cmd.Wait()
		p.out.close()
		p.errOut.close()
		close(p.done)
	}()
	t.Cleanup(func() { p.stop(stopGrace) })
	return p
}

// stopGrace is REL5's bound on a clean shutdown after SIGTERM.
const stopGrace = 5 * time.Second

// stop sends SIGTERM and waits up to grace for the process to exit; then
// (or if it does not) it kills what is left of the process group. It
// reports whether the process exited within grace.
func (p *proc) stop(grace time.Duration) bool {
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

// killGroup kills every process left in the child's process group; the
// group is ours, created by Setpgid in startProc.
func (p *proc) killGroup() {
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
}

// exited reports whether the process has ended.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// wait waits up to timeout for the process to exit and returns its error
// (nil for exit status 0).
func (p *proc) wait(timeout time.Duration) error {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-p.done:
		return p.waitErr
	case <-t.C:
		return fmt.Errorf("%s did not exit within %v", p.name, timeout)
	}
}

// waitLine waits up to timeout for a line of standard output from index
// from on that satisfies match, and returns it with the index after it.
func (p *proc) waitLine(from int, timeout time.Duration, match func(string) bool) (string, int, error) {
	line, next, err := p.out.wait(from, timeout, match)
	if err != nil {
		return "", next, fmt.Errorf("%s: %w", p.name, err)
	}
	return line, next, nil
}

// tail is the end of the process's output, for failure reports.
func (p *proc) tail(n int) string {
	var b strings.Builder
	state := "running"
	if p.exited() {
		state = fmt.Sprintf("exited: %v", p.waitErr)
		if p.waitErr == nil {
			state = "exited: status 0"
		}
	}
	fmt.Fprintf(&b, "----- %s (%s), stdout:\n%s", p.name, state, p.out.tail(n))
	fmt.Fprintf(&b, "----- %s, stderr:\n%s", p.name, p.errOut.tail(n))
	return b.String()
}

// lineLog is an io.Writer that keeps what a process writes as lines and
// wakes whoever waits for a new one.
type lineLog struct {
	mu      sync.Mutex
	lines   []string
	partial []byte
	closed  bool
	// changed is closed (and replaced) whenever a line arrives or the log
	// is closed: a broadcast to every waiter.
	changed chan struct{}
}

func newLineLog() *lineLog { return &lineLog{changed: make(chan struct{})} }

// Write appends p, splitting it into lines.
func (l *lineLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partial = append(l.partial, p...)
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
	return len(p), nil
}

func (l *lineLog) broadcastLocked() {
	close(l.changed)
	l.changed = make(chan struct{})
}

// close records the end of the output: an unfinished last line becomes a
// line, and waiters stop waiting for more.
func (l *lineLog) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.partial) > 0 {
		l.lines = append(l.lines, string(l.partial))
		l.partial = nil
	}
	l.closed = true
	l.broadcastLocked()
}

var errNoMoreOutput = errors.New("the process ended its output")

// wait returns the first line at index from or later that satisfies
// match, and the index after it.
func (l *lineLog) wait(from int, timeout time.Duration, match func(string) bool) (string, int, error) {
	deadline := time.NewTimer(timeout)
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
			return "", from, errNoMoreOutput
		}
		select {
		case <-changed:
		case <-deadline.C:
			return "", from, fmt.Errorf("no matching output line within %v", timeout)
		}
	}
}

// count is how many lines satisfy match.
func (l *lineLog) count(match func(string) bool) int {
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

// String is everything written so far.
func (l *lineLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n") + "\n" + string(l.partial)
}

// tail returns the last n lines.
func (l *lineLog) tail(n int) string {
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

// osEnv is the test's environment plus extra variables (later ones win).
func osEnv(extra ...string) []string { return append(os.Environ(), extra...) }

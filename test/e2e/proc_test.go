//go:build linux

package e2e

import (
	"os"
	"testing"
	"time"

	testproc "github.com/ztagent/ztagent/internal/testenv/proc"
)

// proc is a child process of a test: edged, agentd, an agentctl that runs
// in the background. It is a proc.Proc (own process group, killed with
// the test binary, output kept line by line for the world's failure
// report) with the names the scenarios use.
type proc struct {
	*testproc.Proc
	name string
	// out collects standard output line by line; tests wait on its lines
	// (banners, agentctl watch events) instead of sleeping.
	out lineLog
	// errOut is standard error: the logs of edged and agentd.
	errOut lineLog
	// waitErr is how the process ended, set by stop.
	waitErr error
	// launched is when the process was started; startup how long it took
	// to be ready, once the test has seen it ready (see world.startEdge).
	launched time.Time
	startup  time.Duration
}

// lineLog is one output stream of a proc.
type lineLog struct{ *testproc.Lines }

// count is how many lines satisfy match.
func (l lineLog) count(match func(string) bool) int { return l.Count(match) }

// startProc starts bin with args and env (nil: the test's environment) and
// stops it, whatever happens, when the test ends: SIGTERM, then SIGKILL to
// its process group after stopGrace.
func startProc(t testing.TB, name string, env []string, bin string, args ...string) *proc {
	t.Helper()
	// The world reports every process's output itself, in order.
	p := testproc.Start(t, testproc.Options{Name: name, Env: env, Bin: bin, Args: args, Grace: stopGrace, Quiet: true})
	return &proc{Proc: p, name: name, launched: p.Launched(),
		out: lineLog{p.Output(testproc.Stdout)}, errOut: lineLog{p.Output(testproc.Stderr)}}
}

// stopGrace is REL5's bound on a clean shutdown after SIGTERM.
const stopGrace = testproc.StopGrace

// stop is Proc.Stop, and records how the process ended in waitErr.
func (p *proc) stop(grace time.Duration) bool {
	inTime := p.Stop(grace)
	p.waitErr = p.Err()
	return inTime
}

// wait waits up to timeout for the process to exit and returns its error
// (nil for exit status 0).
func (p *proc) wait(timeout time.Duration) error { return p.Wait(timeout) }

// waitLine waits up to timeout for a line of standard output from index
// from on that satisfies match, and returns it with the index after it.
func (p *proc) waitLine(from int, timeout time.Duration, match func(string) bool) (string, int, error) {
	return p.WaitLine(testproc.Stdout, from, timeout, match)
}

// tail is the end of the process's output, for failure reports.
func (p *proc) tail(n int) string { return p.Report(n) }

// osEnv is the test's environment plus extra variables (later ones win).
func osEnv(extra ...string) []string { return append(os.Environ(), extra...) }

// Package gobuild builds our commands for tests that run them as users
// do (edged, agentd, agentctl as real processes): once per test binary,
// with a clear error when the build fails.
//
// A test binary whose TestMain runs Main builds each set of packages
// once, on first use, into a directory Main removes at the end. Without
// Main, Build builds into the test's own temporary directory each time.
package gobuild

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Timeout bounds one go build; on a cold cache it compiles SQLite, gVisor
// and WireGuard.
const Timeout = 5 * time.Minute

var (
	mu sync.Mutex
	// dir is Main's directory, "" without Main.
	dir string
	// builds are Main's builds by their key (race and packages).
	builds = map[string]*build{}
)

type build struct {
	once sync.Once
	dir  string
	err  error
}

// Main runs m's tests with a directory for Build's binaries, removes it
// and returns m.Run's exit code, for TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(gobuild.Main(m)) }
func Main(m *testing.M) int {
	d, err := os.MkdirTemp("", "ztagent-test-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "gobuild:", err)
		return 1
	}
	mu.Lock()
	dir = d
	mu.Unlock()
	defer os.RemoveAll(d)
	return m.Run()
}

// Build builds pkgs (paths from the module root: "./cmd/edged"), with
// the race detector when race is set, and returns the directory that
// holds the commands, each named after its package's directory. It fails
// t with go build's output when the build fails.
func Build(t testing.TB, race bool, pkgs ...string) string {
	t.Helper()
	mu.Lock()
	if dir == "" {
		mu.Unlock()
		out := t.TempDir()
		if err := Go(out, race, pkgs...); err != nil {
			t.Fatalf("build the binaries under test: %v", err)
		}
		return out
	}
	key := fmt.Sprint(race, pkgs)
	b, ok := builds[key]
	if !ok {
		b = &build{dir: filepath.Join(dir, fmt.Sprint(len(builds)))}
		builds[key] = b
	}
	mu.Unlock()
	b.once.Do(func() { b.err = Go(b.dir, race, pkgs...) })
	if b.err != nil {
		t.Fatalf("build the binaries under test: %v", b.err)
	}
	return b.dir
}

// Go runs go build -o outDir/ (with -race when race is set) for pkgs from
// the module root, bounded by Timeout. The error names the command and
// carries its output.
func Go(outDir string, race bool, pkgs ...string) error {
	root, err := ModuleRoot()
	if err != nil {
		return err
	}
	args := []string{"build", "-o", outDir + string(filepath.Separator)}
	if race {
		args = append(args, "-race")
	}
	args = append(args, pkgs...)
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, goTool(), args...)
	cmd.Dir = root
	cmd.WaitDelay = 5 * time.Second // a compiler child holding the output
	out, err := cmd.CombinedOutput()
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("%s did not finish within %v\n%s", strings.Join(cmd.Args, " "), Timeout, out)
	case err != nil:
		return fmt.Errorf("%s (in %s): %v\n%s", strings.Join(cmd.Args, " "), root, err, out)
	}
	return nil
}

// ModuleRoot is the directory of the go.mod above the working directory
// (a package's test runs in the package's directory).
func ModuleRoot() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := wd; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", errors.New("gobuild: no go.mod above " + wd)
		}
	}
}

// goTool is the go command of the toolchain running the tests when go
// test says where it is, else the one on PATH.
func goTool() string {
	if root := os.Getenv("GOROOT"); root != "" {
		p := filepath.Join(root, "bin", "go")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return "go"
}

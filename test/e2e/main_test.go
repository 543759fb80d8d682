// Package e2e runs ztagent the way a user does: real edged, agentd and
// agentctl processes on loopback, the registration in a real Secret Service
// (gnome-keyring under a private dbus-run-session) and a real headless
// Chromium, driven with chromedp, as the user's browser. agentctl watch
// --open-browser opens pages through an xdg-open shim that hands each URL to
// the test's Chromium, which fills in the IdP's login form and confirms the
// enrollment like a person would (DESIGN §11, issue 8).
//
// Each test is one scenario, named after the session rule it shows. A
// missing dependency skips the tests, or fails them under
// ZTAGENT_REQUIRE_REAL_DEPS=1 (make test), so that CI cannot pass by
// skipping.
package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ztagent/ztagent/internal/testenv/realdeps"
)

// binDir holds the binaries TestMain's tests build once.
var (
	binDir    string
	buildOnce sync.Once
	buildErr  error
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "ztagent-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	if code == 0 {
		// Every goroutine of ours (output copiers, chromedp, the FIFO
		// reader) must be gone once its test has cleaned up.
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "e2e: leaked goroutines:", err)
			code = 1
		}
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// bins are the paths of the three binaries under test.
type bins struct{ edged, agentd, agentctl string }

// buildTimeout bounds go build of the three binaries; on a cold cache it
// compiles SQLite, gVisor and WireGuard.
const buildTimeout = 5 * time.Minute

// raceEnv, set to 1, builds the binaries under test with the race detector.
// It is off by default: the race detector makes edged's bcrypt (every start,
// reload and login) about seven times slower, which would multiply the
// tier's time on CI. Without it the build reuses what make lint's go vet
// compiled, and only links.
const raceEnv = "ZTAGENT_E2E_RACE"

// binaries builds edged, agentd and agentctl once per test binary (only
// when a test needs them) and returns their paths.
func binaries(t testing.TB) bins {
	t.Helper()
	buildOnce.Do(func() { buildErr = build(binDir) })
	if buildErr != nil {
		t.Fatalf("build the binaries: %v", buildErr)
	}
	return bins{
		edged:    filepath.Join(binDir, "edged"),
		agentd:   filepath.Join(binDir, "agentd"),
		agentctl: filepath.Join(binDir, "agentctl"),
	}
}

func build(dir string) error {
	goBin := "go"
	if root := os.Getenv("GOROOT"); root != "" {
		if p := filepath.Join(root, "bin", "go"); fileExists(p) {
			goBin = p
		}
	}
	args := []string{"build", "-o", dir + string(filepath.Separator)}
	if os.Getenv(raceEnv) == "1" {
		args = append(args, "-race")
	}
	args = append(args, "./cmd/edged", "./cmd/agentd", "./cmd/agentctl")
	cmd := exec.Command(goBin, args...)
	// The module root: this package is test/e2e.
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		return err
	}
	cmd.Dir = root
	done := make(chan error, 1)
	var out []byte
	go func() {
		var err error
		out, err = cmd.CombinedOutput()
		done <- err
	}()
	t := time.NewTimer(buildTimeout)
	defer t.Stop()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, out)
		}
		return nil
	case <-t.C:
		_ = cmd.Process.Kill()
		<-done
		return fmt.Errorf("%s did not finish within %v", strings.Join(cmd.Args, " "), buildTimeout)
	}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// chromiumNames are the executables tried for Debian's chromium.
var chromiumNames = []string{"chromium", "chromium-browser"}

// findChromium returns the path of Chromium, or "".
func findChromium() string {
	for _, n := range chromiumNames {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	return ""
}

// requireDeps skips the test, or fails it under make test, when a tool the
// scenarios need is missing. It runs before anything is started.
func requireDeps(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("e2e: skipped in -short mode (it starts real processes and a browser)")
	}
	var missing []string
	if findChromium() == "" {
		missing = append(missing, "chromium (Debian package chromium)")
	}
	for _, tool := range []string{"dbus-run-session", "dbus-send", "gnome-keyring-daemon", "secret-tool"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if len(missing) == 0 {
		return
	}
	realdeps.Missing(t, "e2e's "+strings.Join(missing, ", "), "run make deps")
}

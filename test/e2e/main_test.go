//go:build linux

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
	"testing"

	"go.uber.org/goleak"

	"github.com/ztagent/ztagent/internal/testenv/gobuild"
	"github.com/ztagent/ztagent/internal/testenv/realdeps"
)

func TestMain(m *testing.M) {
	code := gobuild.Main(m)
	if code == 0 {
		// Every goroutine of ours (output copiers, chromedp, the FIFO
		// reader) must be gone once its test has cleaned up.
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "e2e: leaked goroutines:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// bins are the paths of the three binaries under test.
type bins struct{ edged, agentd, agentctl string }

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
	dir := gobuild.Build(t, os.Getenv(raceEnv) == "1", "./cmd/edged", "./cmd/agentd", "./cmd/agentctl")
	return bins{
		edged:    filepath.Join(dir, "edged"),
		agentd:   filepath.Join(dir, "agentd"),
		agentctl: filepath.Join(dir, "agentctl"),
	}
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

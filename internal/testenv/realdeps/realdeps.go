// Package realdeps decides what a test does when a real component it
// needs is missing: a tool, a browser, or root. Run by hand, such a test
// skips and says what to install; under make test (Env=1) it fails, so a
// green make test means every real-component test ran. CI runs as root,
// so tests that need root are held to the same rule.
package realdeps

import (
	"os"
	"os/exec"
	"testing"
)

// Env, set to 1 (make test sets it), turns every missing dependency into
// a failure.
const Env = "ZTAGENT_REQUIRE_REAL_DEPS"

// Required reports whether missing dependencies fail tests.
func Required() bool { return os.Getenv(Env) == "1" }

// Missing skips t, or fails it when dependencies are required, saying
// what is missing and how to get it.
func Missing(t testing.TB, what, fix string) {
	t.Helper()
	if Required() {
		t.Fatalf("%s is missing and %s=1: %s", what, Env, fix)
	}
	t.Skipf("%s is missing: %s", what, fix)
}

// Tool returns the path of the named program, or calls Missing with fix.
func Tool(t testing.TB, name, fix string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Missing(t, name, fix)
	}
	return p
}

// Root calls Missing unless the test runs as root; why says what root
// is for.
func Root(t testing.TB, why string) {
	t.Helper()
	if os.Geteuid() != 0 {
		Missing(t, "root", "run the tests as root, as CI does ("+why+")")
	}
}

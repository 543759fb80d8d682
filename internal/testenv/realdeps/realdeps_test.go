package realdeps

import (
	"os"
	"os/exec"
	"testing"
)

// TestMissingFailsWhenRequired runs a child test that finds a tool
// missing, once with the requirement and once without: it must fail the
// first time and skip the second.
func TestMissingFailsWhenRequired(t *testing.T) {
	if os.Getenv("REALDEPS_CHILD") == "1" {
		Tool(t, "no-such-tool-ztagent", "install it")
		t.Fatal("Tool returned for a missing tool")
	}
	for _, c := range []struct {
		required string
		wantFail bool
	}{{"1", true}, {"", false}} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestMissingFailsWhenRequired$", "-test.v")
		cmd.Env = append(os.Environ(), "REALDEPS_CHILD=1", Env+"="+c.required)
		out, err := cmd.CombinedOutput()
		if failed := err != nil; failed != c.wantFail {
			t.Errorf("%s=%q: child failed=%v, want %v:\n%s", Env, c.required, failed, c.wantFail, out)
		}
	}
}

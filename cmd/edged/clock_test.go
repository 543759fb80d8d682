package main

import (
	"bytes"
	"context"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/ztagent/ztagent/pkg/edge/simulator"
)

// edged runs the CLI in this process and returns its output and exit code.
func edged(args ...string) (stdout, stderr string, code int) {
	var out, errOut bytes.Buffer
	code = run(args, &out, &errOut)
	return out.String(), errOut.String(), code
}

// TestClockAdvanceCLIRefusesBadAdvances reproduces issue 12 item 11 from
// the command line: "clock advance 2562047h" then "1h" sent the edge to
// the year 1734. The first is refused with the limit, the second works;
// a negative or malformed advance is a usage error that never reaches the
// edge.
func TestClockAdvanceCLIRefusesBadAdvances(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state")
	loop := netip.MustParseAddrPort("127.0.0.1:0")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sim, err := simulator.Start(ctx, simulator.Options{
		TerraformDir: "../../examples/acme", SimFile: "../../examples/acme/simulator.hcl", StateDir: state,
		Listen:     simulator.Listeners{API: loop, TeamDomain: loop, IdP: loop, WireGuard: loop},
		BcryptCost: bcrypt.MinCost,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := sim.Close(); err != nil {
			t.Error(err)
		}
	}()
	at := []string{"--api", sim.APIURL(), "--state-dir", state}

	for _, bad := range []string{"-1h", "0s", "2d"} {
		_, stderr, code := edged(append(append([]string{"clock", "advance"}, at...), "--", bad)...)
		if code != exitUsage || !strings.Contains(stderr, bad) {
			t.Errorf("clock advance %s: exit %d, %q; want a usage error", bad, code, stderr)
		}
	}
	_, stderr, code := edged(append([]string{"clock", "advance", "2562047h"}, at...)...)
	if code != exitFailure || !strings.Contains(stderr, "100 years") || !strings.Contains(stderr, "at most") {
		t.Errorf("clock advance 2562047h: exit %d, %q; want the limit", code, stderr)
	}
	out, stderr, code := edged(append([]string{"clock", "advance", "1h"}, at...)...)
	if code != 0 || !strings.Contains(out, "1h0m0s ahead") {
		t.Errorf("clock advance 1h: exit %d, %q %q", code, out, stderr)
	}
	if got := sim.Clock().Now(); got.Year() > time.Now().Year()+1 || got.Before(time.Now()) {
		t.Errorf("simulated time %v after the advances", got)
	}
}

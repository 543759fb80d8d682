package simulator

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/ztagent/ztagent/pkg/tfconfig/tfconfigtest"
)

// TestReloadHostileFilesKeepsConfig: a reload of each hostile file of
// tfconfigtest (nesting bombs that were a fatal stack overflow, evaluation
// bombs that ran edged out of memory, a named pipe that hung, binary and
// oversized files, a password bcrypt cannot hash) is refused with the
// limit it hit, keeps the old configuration, and leaves the simulator
// alive: once the file is put right, the next reload succeeds.
func TestReloadHostileFilesKeepsConfig(t *testing.T) {
	tc := newTestConfig(t)
	s := startSim(t, tc.options(stateDir(t)))
	goodSim := tc.readSim(t)
	for _, c := range tfconfigtest.Cases() {
		t.Run(c.Name, func(t *testing.T) {
			if !tfconfigtest.Supported(c) {
				t.Skip("needs unix")
			}
			before := s.cfg.Load()
			path := tfconfigtest.Path(tc.tfDir, tc.simFile, c)
			if err := tfconfigtest.Write(tc.tfDir, tc.simFile, c); err != nil {
				t.Fatal(err)
			}
			res := s.Reload(t.Context())
			if res.Reloaded || !strings.Contains(strings.Join(res.Errors, "\n"), c.Want) || !strings.Contains(strings.Join(res.Errors, "\n"), path) {
				t.Errorf("reload: %+v; want it refused with an error at %s saying %q", res, path, c.Want)
			}
			if s.cfg.Load() != before {
				t.Error("a refused reload replaced the configuration")
			}
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
			if c.File == tfconfigtest.SimFile {
				tc.writeSim(t, goodSim)
			}
			if res, err := adminClient(s).Reload(t.Context()); err != nil || !res.Reloaded {
				t.Fatalf("reload of the repaired configuration: %+v %v", res, err)
			}
		})
	}
}

// TestReloadPanicKeepsConfig: a panic while loading (a bug in the loader
// or a library it calls) refuses the reload like a configuration error
// instead of killing edged, and the old configuration stays in force.
func TestReloadPanicKeepsConfig(t *testing.T) {
	tc := newTestConfig(t)
	s := startSim(t, tc.options(stateDir(t)))
	before := s.cfg.Load()
	reloadConfig = func(string, string, Listeners) (*config, error) { panic("boom") }
	t.Cleanup(func() { reloadConfig = loadConfig })
	res := s.Reload(context.Background())
	if res.Reloaded || len(res.Errors) != 1 || !strings.Contains(res.Errors[0], "boom") || !strings.Contains(res.Errors[0], "the old configuration stays in force") {
		t.Errorf("reload: %+v", res)
	}
	if s.cfg.Load() != before {
		t.Error("the configuration changed")
	}
	reloadConfig = loadConfig // the rest of the test reloads for real; Cleanup covers a failure above
	if res := s.Reload(context.Background()); !res.Reloaded {
		t.Errorf("reload after the panic: %+v", res)
	}
}

package tfconfig

import (
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"

	"github.com/ztagent/ztagent/pkg/policy"
)

func addSeeds(f *testing.F, patterns ...string) {
	f.Helper()
	for _, p := range patterns {
		files, err := filepath.Glob(p)
		if err != nil {
			f.Fatal(err)
		}
		for _, name := range files {
			src, err := os.ReadFile(name)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(src)
		}
	}
}

// FuzzLoadTerraform feeds arbitrary .tf text to the loader: it must not
// panic, every diagnostic must name its file, and a configuration it
// accepts must build a rule engine.
func FuzzLoadTerraform(f *testing.F) {
	addSeeds(f, exampleDir+"/main.tf", "testdata/invalid/*.tf", "testdata/valid/*/main.tf", "testdata/invalid_dirs/*/main.tf")
	f.Fuzz(func(t *testing.T, src []byte) {
		cfg, diags := load(fstest.MapFS{"main.tf": {Data: src}}, "fuzz")
		for _, d := range diags {
			if d.File == "" {
				t.Fatalf("diagnostic without a file: %s", d)
			}
		}
		if diags.HasErrors() {
			return
		}
		if _, err := policy.NewEngine(cfg.Rules(), cfg.PolicyLists()); err != nil {
			t.Fatalf("the loader accepted rules the engine rejects: %v\n%s", err, src)
		}
	})
}

// FuzzLoadSim feeds arbitrary simulator files to LoadSim's parser.
func FuzzLoadSim(f *testing.F) {
	addSeeds(f, exampleSim, "testdata/sim/invalid/*.hcl")
	f.Fuzz(func(t *testing.T, src []byte) {
		s, diags := loadSim(src, "fuzz.hcl")
		if s == nil {
			t.Fatal("nil Sim")
		}
		for _, d := range diags {
			if d.File == "" {
				t.Fatalf("diagnostic without a file: %s", d)
			}
		}
	})
}

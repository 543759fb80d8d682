package tfconfig

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// want is one expected diagnostic, read from a corpus file's leading
// comment lines:
//
//	# want: LINE:COL: message substring            (an error)
//	# want warning: LINE:COL: message substring
//	# want info: FILE:LINE:COL: message substring  (FILE for directory cases)
//	# want nothing                                  (no error and no warning)
//
// "..." in a substring matches anything, for messages that come from
// pkg/policy, whose wording is its own.
type want struct {
	sev       Severity
	file      string
	line, col int
	msg       string
}

var wantRE = regexp.MustCompile(`^# want( warning| info)?: (?:([\w.-]+\.(?:tf|tfvars|hcl|json)):)?(\d+):(\d+): (.+)$`)

func readWants(t *testing.T, path string, src []byte) []want {
	t.Helper()
	var ws []want
	for _, line := range strings.Split(string(src), "\n") {
		if !strings.HasPrefix(line, "# want") {
			break
		}
		if line == "# want nothing" {
			// A file that must load without an error or a warning.
			return ws
		}
		m := wantRE.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("%s: malformed want line %q", path, line)
		}
		w := want{sev: Error, file: path, msg: m[5]}
		switch m[1] {
		case " warning":
			w.sev = Warning
		case " info":
			w.sev = Info
		}
		if m[2] != "" {
			w.file = filepath.Join(filepath.Dir(path), m[2])
		}
		w.line, _ = strconv.Atoi(m[3])
		w.col, _ = strconv.Atoi(m[4])
		ws = append(ws, w)
	}
	if len(ws) == 0 {
		t.Fatalf("%s: no '# want: LINE:COL: message' line at the top", path)
	}
	return ws
}

// checkWants requires every wanted diagnostic, and no error or warning
// that is not wanted: a rule that fires elsewhere too, or a second message
// for one mistake, would hide in the noise. Info lines need not be wanted.
func checkWants(t *testing.T, ws []want, got Diagnostics) {
	t.Helper()
	matched := make([]bool, len(got))
	for _, w := range ws {
		found := false
		for i, d := range got {
			if d.Severity == w.sev && d.File == w.file && d.Line == w.line && d.Column == w.col && containsInOrder(d.Message, w.msg) {
				matched[i], found = true, true
			}
		}
		if !found {
			t.Errorf("missing %s at %s:%d:%d containing %q", w.sev, w.file, w.line, w.col, w.msg)
		}
	}
	for i, d := range got {
		if d.Severity != Info && !matched[i] {
			t.Errorf("unexpected %s: %s", d.Severity, d)
		}
	}
	if t.Failed() {
		t.Logf("all diagnostics:\n%s", got.String())
	}
}

// containsInOrder reports whether msg contains the parts of want, split at
// "...", in order.
func containsInOrder(msg, want string) bool {
	for _, part := range strings.Split(want, "...") {
		i := strings.Index(msg, strings.TrimSpace(part))
		if i < 0 {
			return false
		}
		msg = msg[i+len(strings.TrimSpace(part)):]
	}
	return true
}

// eachCorpusFile runs check in a subtest per file matching glob, with the
// file's source, its want lines and what loading it on its own reported.
func eachCorpusFile(t *testing.T, glob string, check func(t *testing.T, path string, src []byte, ws []want, got Diagnostics)) {
	t.Helper()
	files, err := filepath.Glob(glob)
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus %s: %v", glob, err)
	}
	for _, path := range files {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".tf"), func(t *testing.T) {
			src, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			ws := readWants(t, path, src)
			_, got := load(fstest.MapFS{filepath.Base(path): {Data: src}}, filepath.Dir(path))
			check(t, path, src, ws, got)
		})
	}
}

// TestInvalidTerraform loads each file of testdata/invalid on its own; the
// file names the rule it breaks and its want lines where each error must
// point.
func TestInvalidTerraform(t *testing.T) {
	eachCorpusFile(t, "testdata/invalid/*.tf", func(t *testing.T, _ string, _ []byte, ws []want, got Diagnostics) {
		checkWants(t, ws, got)
	})
}

// TestInvalidTerraformDirs loads each directory of testdata/invalid_dirs,
// for rules that span files (tfvars); the wants are in its main.tf.
func TestInvalidTerraformDirs(t *testing.T) {
	dirs, err := filepath.Glob("testdata/invalid_dirs/*")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no corpus: %v", err)
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			main := filepath.Join(dir, "main.tf")
			src, err := os.ReadFile(main)
			if err != nil {
				t.Fatal(err)
			}
			ws := readWants(t, main, src)
			_, got := Load(dir)
			checkWants(t, ws, got)
		})
	}
}

// TestInvalidSim loads each simulator file of testdata/sim/invalid.
func TestInvalidSim(t *testing.T) {
	files, err := filepath.Glob("testdata/sim/invalid/*.hcl")
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus: %v", err)
	}
	for _, path := range files {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".hcl"), func(t *testing.T) {
			src, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			ws := readWants(t, path, src)
			_, got := LoadSim(path)
			checkWants(t, ws, got)
		})
	}
}

// TestRealWorldTerraform loads each file of testdata/realworld: our own
// files, each reproducing a construct of a named public input (its source
// line names repository, path and commit) that the real provider accepts.
// They must load without an error, with exactly the warnings they want.
func TestRealWorldTerraform(t *testing.T) {
	eachCorpusFile(t, "testdata/realworld/*.tf", func(t *testing.T, path string, src []byte, ws []want, all Diagnostics) {
		if !strings.Contains(string(src), "\n# source: ") || !strings.Contains(string(src), "commit ") {
			t.Fatalf("%s does not name the public input it reproduces (# source: repository, path, commit)", path)
		}
		for _, w := range ws {
			if w.sev == Error {
				t.Fatalf("%s wants an error, but the provider accepts every real-world file", path)
			}
		}
		// Each file is a fragment of a directory: what is said of the
		// directory as a whole (no gateway policy in it) does not apply.
		var got Diagnostics
		for _, d := range all {
			if d.Line > 0 {
				got = append(got, d)
			}
		}
		checkWants(t, ws, got)
	})
}

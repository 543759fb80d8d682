package session

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/ztagent/ztagent/"

// ioImport reports why a standard-library import would give the session
// domain I/O: files, processes, sockets or system calls.
func ioImport(path string) (why string, bad bool) {
	switch {
	case path == "net/url", path == "net/netip":
		return "", false
	case path == "os", strings.HasPrefix(path, "os/"), path == "syscall", path == "plugin", path == "log/syslog":
		return "files, processes or system calls", true
	case path == "net", strings.HasPrefix(path, "net/"):
		return "the network", true
	case strings.HasPrefix(path, "database/"):
		return "a database", true
	}
	return "", false
}

// The session domain is pure (issue 14): pkg/session and the packages of
// ours it imports, however deep, import no keyring, browser or other
// platform code, no third-party module and no I/O package of the standard
// library. A dependency added by mistake fails here, not in go list -deps.
func TestSessionDomainDoesNoIO(t *testing.T) {
	seen := map[string]bool{}
	var walk func(pkg, dir, via string)
	walk = func(pkg, dir, via string) {
		if seen[pkg] {
			return
		}
		seen[pkg] = true
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil || len(files) == 0 {
			t.Fatalf("%s: no Go files in %s (%v)", pkg, dir, err)
		}
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			ast, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
			if err != nil {
				t.Fatal(err)
			}
			for _, spec := range ast.Imports {
				path, _ := strconv.Unquote(spec.Path.Value)
				where := filepath.Base(f) + " of " + pkg + via
				switch {
				case strings.HasPrefix(path, module+"internal/"):
					walk(path, filepath.Join("..", "..", filepath.FromSlash(strings.TrimPrefix(path, module))), ", imported by "+pkg+via)
				case strings.HasPrefix(path, module):
					t.Errorf("%s imports %s: the session domain imports only internal/ leaves, never platform/ or pkg/ code", where, path)
				case strings.Contains(strings.SplitN(path, "/", 2)[0], "."):
					t.Errorf("%s imports the third-party %s: keep the session domain on the standard library", where, path)
				default:
					if why, bad := ioImport(path); bad {
						t.Errorf("%s imports %s, which does I/O (%s): keep it in pkg/agent or platform/", where, path, why)
					}
				}
			}
		}
	}
	if _, err := os.Stat("doc.go"); err != nil {
		t.Fatalf("run from pkg/session: %v", err)
	}
	walk(module+"pkg/session", ".", "")
	if !seen[module+"internal/browseurl"] {
		t.Error("the walk never reached internal/browseurl: is the test still reading pkg/session's imports?")
	}
}

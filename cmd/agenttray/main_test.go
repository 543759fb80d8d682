package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ztagent/ztagent/internal/testenv/realdeps"
)

func TestInstallWritesAnAutostartEntryAndUninstallRemovesIt(t *testing.T) {
	cfg := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", cfg)
	var out, errOut bytes.Buffer
	if code := run([]string{"--socket", "/run/zt agent/$HOME%d.sock", "install"}, &out, &errOut); code != 0 {
		t.Fatalf("install: %d %s", code, errOut.String())
	}
	path := filepath.Join(cfg, "autostart", desktopFile)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	exe, _ := os.Executable()
	entry := string(b)
	for _, want := range []string{"[Desktop Entry]\n", "Type=Application\n",
		"Exec=" + desktopQuote(exe) + ` --socket "/run/zt agent/\$HOME%%d.sock"` + "\n"} {
		if !strings.Contains(entry, want) {
			t.Errorf("the entry lacks %q:\n%s", want, entry)
		}
	}
	if !strings.Contains(out.String(), path) {
		t.Errorf("install said %q", out.String())
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("the entry's mode: %v %v", fi.Mode(), err)
	}
	// Installing again replaces the entry; no temporary file is left.
	if code := run([]string{"install"}, &out, &errOut); code != 0 {
		t.Fatalf("install again: %s", errOut.String())
	}
	if ents, _ := os.ReadDir(filepath.Dir(path)); len(ents) != 1 {
		t.Errorf("the autostart directory holds %v", ents)
	}

	out.Reset()
	if code := run([]string{"uninstall"}, &out, &errOut); code != 0 {
		t.Fatalf("uninstall: %s", errOut.String())
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("the entry is still there: %v", err)
	}
	out.Reset()
	if code := run([]string{"uninstall"}, &out, &errOut); code != 0 || !strings.Contains(out.String(), "was not set to start at login") {
		t.Errorf("uninstall twice: %d %q", code, out.String())
	}
}

func TestDesktopQuote(t *testing.T) {
	for in, want := range map[string]string{
		"/usr/bin/agenttray":    `"/usr/bin/agenttray"`,
		`/opt/a "b"/c`:          `"/opt/a \"b\"/c"`,
		"/x/$y/`z`/100%/back\\": "\"/x/\\$y/\\`z\\`/100%%/back\\\\\"",
	} {
		if got := desktopQuote(in); got != want {
			t.Errorf("desktopQuote(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{{"frobnicate"}, {"install", "extra"}, {"--nope"}} {
		var out, errOut bytes.Buffer
		if code := run(args, &out, &errOut); code != 2 || errOut.Len() == 0 {
			t.Errorf("run(%q) = %d, %q", args, code, errOut.String())
		}
	}
}

func TestRefusesRoot(t *testing.T) {
	realdeps.Root(t, "the refusal is of root")
	var out, errOut bytes.Buffer
	if code := run(nil, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "refusing to run as root") {
		t.Errorf("as root: %d %q", code, errOut.String())
	}
}

// One tray per user session; the lock goes with the process holding it.
func TestSingleInstance(t *testing.T) {
	t.Setenv("XDG_RUNTIME_DIR", t.TempDir())
	release, err := singleInstance()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := singleInstance(); err == nil || !strings.Contains(err.Error(), "another agenttray is already running") {
		t.Fatalf("a second instance: %v", err)
	}
	release()
	again, err := singleInstance()
	if err != nil {
		t.Fatalf("after the first let go: %v", err)
	}
	again()
}

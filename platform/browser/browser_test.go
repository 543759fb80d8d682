package browser

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fakeLauncher puts an xdg-open first on PATH that records its argument.
func fakeLauncher(t *testing.T, script string) string {
	t.Helper()
	dir := t.TempDir()
	out := filepath.Join(dir, "opened")
	body := "#!/bin/sh\n" + strings.ReplaceAll(script, "OUT", out) + "\n"
	if err := os.WriteFile(filepath.Join(dir, "xdg-open"), []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	return out
}

func TestOpensValidatedURLOnly(t *testing.T) {
	out := fakeLauncher(t, `printf '%s' "$1" >> OUT`)
	s := &System{Allowed: []string{"http://acme.localhost:8781", "idp.localhost:8782"}}
	ctx := context.Background()
	if err := s.Open(ctx, "http://acme.localhost:8781/cdn-cgi/access/refresh-identity"); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"calc", "http://evil.example/", "-http://acme.localhost:8781/", "file:///etc/passwd", "https://acme.localhost:8781/"} {
		if err := s.Open(ctx, bad); err == nil {
			t.Errorf("%q was opened", bad)
		}
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != "http://acme.localhost:8781/cdn-cgi/access/refresh-identity" {
		t.Fatalf("the launcher got %q", b)
	}
}

func TestLaunchIsBounded(t *testing.T) {
	fakeLauncher(t, `sleep 2`)
	s := &System{Allowed: []string{"acme.localhost:8781"}, Timeout: 100 * time.Millisecond}
	start := time.Now()
	err := s.Open(context.Background(), "http://acme.localhost:8781/")
	if err == nil || !strings.Contains(err.Error(), "did not return") {
		t.Fatalf("Open with a hung launcher: %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("Open took %v with a 100ms timeout", d)
	}
	if err := s.Open(context.Background(), "http://acme.localhost:8781/"); err != ErrBusy {
		t.Fatalf("a second launch while the first hangs: %v", err)
	}
}

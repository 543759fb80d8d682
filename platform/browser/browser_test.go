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
	// The launcher hangs until the test releases it, so the timeout is the
	// only way Open can return: a busy machine makes it later, never wrong.
	release := filepath.Join(t.TempDir(), "release")
	fakeLauncher(t, `while [ ! -e `+release+` ]; do sleep 0.05; done`)
	const timeout = 100 * time.Millisecond
	s := &System{Allowed: []string{"acme.localhost:8781"}, Timeout: timeout}
	t.Cleanup(func() {
		// Let the launcher exit and wait for the goroutine that waits on
		// it: nothing the test started outlives it.
		if err := os.WriteFile(release, nil, 0o600); err != nil {
			t.Error(err)
		}
		// The lock is held while the launch goroutine waits on the
		// launcher: taking it is waiting for that goroutine.
		s.launching.Lock()
		//lint:ignore SA2001 the critical section is the wait itself
		s.launching.Unlock()
	})
	start := time.Now()
	err := s.Open(context.Background(), "http://acme.localhost:8781/")
	if err == nil || !strings.Contains(err.Error(), "did not return") {
		t.Fatalf("Open with a hung launcher: %v", err)
	}
	if d := time.Since(start); d < timeout {
		t.Fatalf("Open gave up after %v, before its %v timeout", d, timeout)
	}
	// Still hung: a second launch is refused rather than joined.
	if err := s.Open(context.Background(), "http://acme.localhost:8781/"); err != ErrBusy {
		t.Fatalf("a second launch while the first hangs: %v", err)
	}
}

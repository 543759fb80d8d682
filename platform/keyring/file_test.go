package keyring

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFileStore(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	s, err := OpenFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Set(context.Background(), "perm-check", []byte("v")); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]os.FileMode{dir: 0o700, filepath.Join(dir, "perm-check"): 0o600} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s has mode %#o, want %#o", path, fi.Mode().Perm(), want)
		}
	}
	if err := s.Delete(context.Background(), "perm-check"); err != nil {
		t.Fatal(err)
	}
	exerciseStore(t, s)
}

func TestFileStoreRefusesUnsafeDirectories(t *testing.T) {
	base := t.TempDir()

	open := filepath.Join(base, "open")
	if err := os.Mkdir(open, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(open, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenFile(open); err == nil || !strings.Contains(err.Error(), "chmod 700 "+open) {
		t.Errorf("group-readable directory: err = %v, want a chmod hint", err)
	}

	real := filepath.Join(base, "real")
	if err := os.Mkdir(real, 0o700); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(base, "link")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenFile(link); err == nil || !strings.Contains(err.Error(), "symlink") {
		t.Errorf("symlinked directory: err = %v", err)
	}

	file := filepath.Join(base, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenFile(file); err == nil {
		t.Error("a regular file was accepted as the directory")
	}
	if _, err := OpenFile(""); err == nil {
		t.Error("empty directory accepted")
	}
}

func TestFileStoreRefusesReadableSecretFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	s, err := OpenFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "registration")
	if err := os.WriteFile(path, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(context.Background(), "registration"); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("err = %v, want a chmod 600 hint", err)
	}
	// Set replaces it with a private file.
	if err := s.Set(context.Background(), "registration", []byte("y")); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode after Set = %#o", fi.Mode().Perm())
	}
}

func TestFileStoreRemovesStaleTemporaryFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	first, err := OpenFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	first.Close()
	stale := filepath.Join(dir, ".registration123456")
	if err := os.WriteFile(stale, []byte("half"), 0o600); err != nil {
		t.Fatal(err)
	}
	second, err := OpenFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Fatalf("stale temporary file still there: %v", err)
	}
}

// TestFileStoreIsExclusive checks that a second store on the same directory
// is refused while the first is open, so it can neither write concurrently
// nor delete the first one's temporary files, and is allowed once closed.
func TestFileStoreIsExclusive(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	first, err := OpenFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := OpenFile(dir); err == nil || !strings.Contains(err.Error(), "in use by another process") {
		t.Fatalf("second open: %v", err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	second, err := OpenFile(dir)
	if err != nil {
		t.Fatalf("open after Close: %v", err)
	}
	second.Close()
}

package keyring

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// File is a Store that keeps each key in its own 0600 file inside a 0700
// directory. Writes are atomic (temporary file, fsync, rename, fsync of the
// directory), so a crash at any moment leaves the old value or the new one.
type File struct {
	dir  string
	lock *os.File // holds an exclusive lock on lockName while the store is open

	mu     sync.Mutex // serialises writers within the process
	closed bool
}

// tempPrefix starts the names of temporary files, which are never valid keys.
const tempPrefix = "."

// lockName is the file whose lock says the directory is in use.
const lockName = ".lock"

// OpenFile returns a file store in dir, creating dir with mode 0700 if needed.
// It refuses a directory that is a symlink, is not owned by the caller, or is
// accessible to group or others. It takes an exclusive lock on the directory
// for as long as the store is open, so that two processes never write it at
// once, and then removes temporary files left by a writer that crashed.
func OpenFile(dir string) (*File, error) {
	if dir == "" {
		return nil, errors.New("keyring: file store needs a directory")
	}
	dir = filepath.Clean(dir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("keyring: create %s: %w", dir, err)
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return nil, fmt.Errorf("keyring: %w", err)
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		return nil, fmt.Errorf("keyring: %s is a symlink; point --state-dir at a real directory", dir)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("keyring: %s is not a directory", dir)
	}
	if err := checkPrivateDir(dir, fi); err != nil {
		return nil, err
	}
	lock, err := lockDir(filepath.Join(dir, lockName))
	if err != nil {
		return nil, fmt.Errorf("keyring: %s is in use by another process (%v); stop the other agentd or use another --state-dir", dir, err)
	}
	f := &File{dir: dir, lock: lock}
	f.removeStaleTemps()
	return f, nil
}

// Dir returns the directory holding the files.
func (f *File) Dir() string { return f.dir }

// Get returns the value stored under key.
func (f *File) Get(ctx context.Context, key string) ([]byte, error) {
	path, err := f.path(ctx, key)
	if err != nil {
		return nil, err
	}
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, key)
	}
	if err != nil {
		return nil, fmt.Errorf("keyring: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("keyring: %s is not a regular file; remove it and register again", path)
	}
	if err := checkPrivateFile(path, fi); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("keyring: %w", err)
	}
	return b, nil
}

// Set replaces the value under key atomically.
func (f *File) Set(ctx context.Context, key string, value []byte) error {
	path, err := f.path(ctx, key)
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := writeAtomic(f.dir, path, tempPrefix+key, value); err != nil {
		return fmt.Errorf("keyring: write %s: %w", path, err)
	}
	return nil
}

// Delete removes key's file and makes the removal durable.
func (f *File) Delete(ctx context.Context, key string) error {
	path, err := f.path(ctx, key)
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("keyring: %w", err)
	}
	return syncDir(f.dir)
}

// Backend returns "file".
func (f *File) Backend() string { return BackendFile }

// Close releases the directory lock; later calls fail with ErrClosed.
func (f *File) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil
	}
	f.closed = true
	return f.lock.Close() // closing the descriptor drops the lock
}

func (f *File) path(ctx context.Context, key string) (string, error) {
	if err := validateKey(key); err != nil {
		return "", err
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	f.mu.Lock()
	closed := f.closed
	f.mu.Unlock()
	if closed {
		return "", ErrClosed
	}
	return filepath.Join(f.dir, key), nil
}

// removeStaleTemps deletes temporary files of writes that never finished.
// Only one process writes a state directory (agentd), so a temporary file
// present before it starts belongs to a writer that died.
func (f *File) removeStaleTemps() {
	entries, err := os.ReadDir(f.dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), tempPrefix) && e.Name() != lockName && e.Type().IsRegular() {
			_ = os.Remove(filepath.Join(f.dir, e.Name()))
		}
	}
}

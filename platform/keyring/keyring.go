// Package keyring stores the agent's secrets (the device registration with its
// token and WireGuard private key) in the operating system's keyring, or in a
// private file when no keyring answers.
//
// Every call is bounded by its context's deadline (DefaultTimeout when the
// context has none), because OS keyrings can hang: a locked collection waiting
// for a prompt nobody sees, or a stopped Secret Service daemon.
package keyring

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Store is a small key-value store for secrets.
type Store interface {
	// Get returns the value stored under key, or an error wrapping ErrNotFound.
	Get(ctx context.Context, key string) ([]byte, error)
	// Set stores value under key, replacing any previous value atomically.
	Set(ctx context.Context, key string, value []byte) error
	// Delete removes key; deleting a missing key is not an error.
	Delete(ctx context.Context, key string) error
	// Backend returns the backend's name: "system", "file" or "memory".
	Backend() string
	// Close releases the store's connections; the store is unusable after.
	Close() error
}

// Backend names, as accepted by --keyring.
const (
	BackendAuto   = "auto"
	BackendSystem = "system"
	BackendFile   = "file"
	BackendMemory = "memory"
)

// DefaultTimeout bounds a call whose context carries no deadline.
const DefaultTimeout = 5 * time.Second

var (
	// ErrNotFound is wrapped by Get when the key holds nothing.
	ErrNotFound = errors.New("keyring: not found")
	// ErrUnavailable is wrapped when the keyring cannot be reached, does not
	// answer in time, or is locked. Callers report keyring_unavailable.
	ErrUnavailable = errors.New("keyring unavailable")
	// ErrClosed is returned by calls on a closed store.
	ErrClosed = errors.New("keyring: store is closed")
)

// validateKey rejects keys that could escape the file backend's directory or
// collide with its temporary files.
func validateKey(key string) error {
	if key == "" || len(key) > 128 {
		return fmt.Errorf("keyring: invalid key %q: must be 1 to 128 characters", key)
	}
	for i, r := range key {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
			(i > 0 && (r == '-' || r == '_' || r == '.'))
		if !ok {
			return fmt.Errorf("keyring: invalid key %q: use letters, digits, '-', '_' and '.', starting with a letter or digit", key)
		}
	}
	return nil
}

// withDefaultDeadline gives ctx a deadline of DefaultTimeout unless it has one.
func withDefaultDeadline(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, DefaultTimeout)
}

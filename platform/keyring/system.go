package keyring

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	gokeyring "github.com/zalando/go-keyring"
)

// provider is the part of go-keyring the system store calls; tests replace it
// to simulate a keyring that hangs or panics.
type provider interface {
	Get(service, user string) (string, error)
	Set(service, user, password string) error
	Delete(service, user string) error
}

type goKeyring struct{}

func (goKeyring) Get(s, u string) (string, error) { return gokeyring.Get(s, u) }
func (goKeyring) Set(s, u, p string) error        { return gokeyring.Set(s, u, p) }
func (goKeyring) Delete(s, u string) error        { return gokeyring.Delete(s, u) }

// System is a Store in the operating system's keyring through go-keyring: the
// Secret Service on Linux and the BSDs, the Keychain on macOS, the Credential
// Manager on Windows. Items are stored under the given service name with the
// key as the account.
//
// go-keyring calls have no timeout of their own, so each runs in a goroutine
// that the caller stops waiting for at its deadline. At most one such call is
// in flight: while a call hangs, later calls fail at their deadline instead of
// piling up goroutines. On Linux a call that misses its deadline also closes
// the process's D-Bus session connection, which makes the hung call return, so
// no goroutine outlives the failure for long.
type System struct {
	service  string
	provider provider
	platform systemPlatform

	inflight chan struct{} // holds a token while a go-keyring call runs

	mu     sync.Mutex
	closed bool
	// connected is set when a call starts (go-keyring dials the session bus
	// on first use) and cleared once abort has closed the connection, so
	// abort never dials a connection only to close it.
	connected bool
}

// closeWait bounds how long Close waits for the connection to be released.
const closeWait = 2 * time.Second

// systemPlatform holds what differs by OS: whether a keyring can be reached at
// all, and how to unblock a hung call.
type systemPlatform interface {
	// reachable returns nil when a keyring may answer, or why it cannot.
	reachable() error
	// abort makes calls blocked in the keyring return; the channel closes
	// once it has done what it can.
	abort() <-chan struct{}
}

// OpenSystem returns a store in the OS keyring under service. It fails with
// ErrUnavailable when no keyring can be reached without side effects (on
// Linux: no D-Bus session bus, since D-Bus would otherwise try to launch one).
func OpenSystem(service string) (*System, error) {
	return openSystem(service, goKeyring{}, newSystemPlatform())
}

func openSystem(service string, p provider, plat systemPlatform) (*System, error) {
	if service == "" {
		return nil, errors.New("keyring: system store needs a service name")
	}
	if err := plat.reachable(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return &System{service: service, provider: p, platform: plat, inflight: make(chan struct{}, 1)}, nil
}

// Get returns the value stored under key.
func (s *System) Get(ctx context.Context, key string) ([]byte, error) {
	var out string
	err := s.call(ctx, "get", key, func() error {
		v, err := s.provider.Get(s.service, key)
		out = v
		return err
	})
	if err != nil {
		return nil, err
	}
	return []byte(out), nil
}

// Set stores value under key, replacing any previous item.
func (s *System) Set(ctx context.Context, key string, value []byte) error {
	return s.call(ctx, "set", key, func() error {
		return s.provider.Set(s.service, key, string(value))
	})
}

// Delete removes key; a missing key is not an error.
func (s *System) Delete(ctx context.Context, key string) error {
	err := s.call(ctx, "delete", key, func() error {
		return s.provider.Delete(s.service, key)
	})
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}

// Backend returns "system".
func (s *System) Backend() string { return BackendSystem }

// Close releases the D-Bus connection (on Linux) so that no goroutine of the
// store's is left running.
func (s *System) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if !s.connected {
		return nil
	}
	s.connected = false
	t := time.NewTimer(closeWait)
	defer t.Stop()
	select {
	case <-s.platform.abort():
		return nil
	case <-t.C:
		return fmt.Errorf("%w: the D-Bus session bus did not release the connection within %v", ErrUnavailable, closeWait)
	}
}

type callResult struct{ err error }

// abortConnection releases a hung call by closing the connection, unless no
// call has connected since the last abort.
func (s *System) abortConnection() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.connected {
		s.connected = false
		s.platform.abort()
	}
}

func (s *System) call(ctx context.Context, op, key string, fn func() error) error {
	if err := validateKey(key); err != nil {
		return err
	}
	s.mu.Lock()
	closed := s.closed
	s.connected = true
	s.mu.Unlock()
	if closed {
		return ErrClosed
	}
	ctx, cancel := withDefaultDeadline(ctx)
	defer cancel()

	select {
	case s.inflight <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("%w: %s %q: an earlier keyring call has not returned and this one gave up: %v", ErrUnavailable, op, key, ctx.Err())
	}
	done := make(chan callResult, 1)
	go func() {
		defer func() { <-s.inflight }()
		done <- runRecovered(fn)
	}()
	select {
	case r := <-done:
		return s.translate(op, key, r.err)
	case <-ctx.Done():
		s.abortConnection()
		return fmt.Errorf("%w: %s %q: the keyring did not answer in time (%v); is it locked, or is its daemon stopped?", ErrUnavailable, op, key, ctx.Err())
	}
}

// runRecovered runs fn, turning a panic into an error: go-keyring dereferences
// a nil signal when its D-Bus connection closes during a prompt.
func runRecovered(fn func() error) (r callResult) {
	defer func() {
		if p := recover(); p != nil {
			r.err = fmt.Errorf("keyring call panicked: %v", p)
		}
	}()
	return callResult{err: fn()}
}

func (s *System) translate(op, key string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, gokeyring.ErrNotFound):
		return fmt.Errorf("%w: %s", ErrNotFound, key)
	case errors.Is(err, gokeyring.ErrSetDataTooBig):
		return fmt.Errorf("keyring: %s %q: value too large for this OS keyring: %v", op, key, err)
	default:
		return fmt.Errorf("%w: %s %q: %v", ErrUnavailable, op, key, err)
	}
}

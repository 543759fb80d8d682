//go:build linux

package keyring

import (
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/ztagent/ztagent/internal/testenv/realdeps"
	"github.com/ztagent/ztagent/internal/testenv/secretservice"
)

// useBus points this process's D-Bus session at bus for the test. The
// system store's Close drops the shared connection, so the next test's
// store connects to its own bus.
func useBus(t *testing.T, bus *secretservice.Bus) {
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", bus.Address)
}

func TestSystemStoreOnRealSecretService(t *testing.T) {
	bus := secretservice.Start(t, secretservice.Options{})
	useBus(t, bus)
	s, err := OpenSystem("ztagent-test")
	if err != nil {
		t.Fatal(err)
	}
	exerciseStore(t, s)
}

// TestSystemStoreIsVisibleToSecretTool checks that the item is a real Secret
// Service item that other programs find by service and account.
func TestSystemStoreIsVisibleToSecretTool(t *testing.T) {
	bus := secretservice.Start(t, secretservice.Options{})
	realdeps.Tool(t, "secret-tool", "run make deps (Debian package libsecret-tools)")
	useBus(t, bus)
	s, err := OpenSystem("ztagent-test")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Set(ctxT(t, callTimeout), "registration", []byte(`{"device_id":"d-1"}`)); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("secret-tool", "lookup", "service", "ztagent-test", "username", "registration")
	cmd.Env = bus.Env
	out, err := cmd.CombinedOutput()
	if err != nil || string(out) != `{"device_id":"d-1"}` {
		t.Fatalf("secret-tool lookup = %q, %v", out, err)
	}
}

// TestSystemStoreGivesUpOnSilentSecretService freezes gnome-keyring-daemon
// after it owns org.freedesktop.secrets: the bus accepts the call and nobody
// answers. Each call must fail at its deadline with ErrUnavailable, later
// calls must not pile up, and after Close no goroutine may remain: the call
// that hung is released by closing the session-bus connection.
func TestSystemStoreGivesUpOnSilentSecretService(t *testing.T) {
	bus := secretservice.Start(t, secretservice.Options{Stopped: true})
	useBus(t, bus)
	baseline := goleak.IgnoreCurrent()

	s, err := OpenSystem("ztagent-test")
	if err != nil {
		t.Fatal(err)
	}
	// The daemon never answers, so each call can only end at its deadline:
	// a busy machine makes that later, never earlier.
	const deadline = 500 * time.Millisecond
	for i := 0; i < 3; i++ {
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), deadline)
		_, err := s.Get(ctx, "registration")
		elapsed := time.Since(start)
		cancel()
		if !errors.Is(err, ErrUnavailable) {
			t.Fatalf("call %d: err = %v, want ErrUnavailable", i, err)
		}
		if !strings.Contains(err.Error(), "did not answer in time") && !strings.Contains(err.Error(), "has not returned") {
			t.Fatalf("call %d: error does not say what happened: %v", i, err)
		}
		// A call that ignored its deadline would wait on the frozen daemon
		// for ever; callTimeout is only reached then.
		if elapsed < deadline || elapsed > deadline+callTimeout {
			t.Fatalf("call %d took %v with a %v deadline", i, elapsed, deadline)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	goleak.VerifyNone(t, baseline)
}

func TestAutoPicksSystemWhenSecretServiceAnswers(t *testing.T) {
	bus := secretservice.Start(t, secretservice.Options{})
	useBus(t, bus)
	core, logs := observer.New(zap.InfoLevel)
	// The daemon answers: the probe's budget is only spent if it does not,
	// so it is generous rather than the 3 s a busy machine may exceed.
	s, err := Open(context.Background(), Options{Service: "ztagent-test", FileDir: filepath.Join(t.TempDir(), "state"),
		ProbeTimeout: callTimeout, Logger: zap.New(core)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Backend() != BackendSystem {
		t.Fatalf("auto chose %s", s.Backend())
	}
	assertChoiceLogged(t, logs, BackendSystem, "answered")
}

func TestAutoFallsBackToFileWhenSecretServiceIsSilent(t *testing.T) {
	bus := secretservice.Start(t, secretservice.Options{Stopped: true})
	useBus(t, bus)
	core, logs := observer.New(zap.InfoLevel)
	s, err := Open(context.Background(), Options{Service: "ztagent-test", FileDir: filepath.Join(t.TempDir(), "state"),
		ProbeTimeout: 300 * time.Millisecond, Logger: zap.New(core)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Backend() != BackendFile {
		t.Fatalf("auto chose %s", s.Backend())
	}
	assertChoiceLogged(t, logs, BackendFile, "did not answer in time")
}

func TestAutoFallsBackToFileWithoutSessionBus(t *testing.T) {
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", "")
	if (linuxPlatform{}).reachable() == nil {
		t.Skip("this machine has /run/user/UID/bus, so a session bus is always found")
	}
	core, logs := observer.New(zap.InfoLevel)
	s, err := Open(context.Background(), Options{Service: "ztagent-test", FileDir: filepath.Join(t.TempDir(), "state"), Logger: zap.New(core)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Backend() != BackendFile {
		t.Fatalf("auto chose %s", s.Backend())
	}
	assertChoiceLogged(t, logs, BackendFile, "no D-Bus session bus")
}

func assertChoiceLogged(t *testing.T, logs *observer.ObservedLogs, backend, why string) {
	t.Helper()
	entries := logs.FilterMessage("keyring backend chosen").All()
	if len(entries) != 1 {
		t.Fatalf("want one choice logged, got %d", len(entries))
	}
	f := entries[0].ContextMap()
	if f["backend"] != backend || !strings.Contains(f["why"].(string), why) {
		t.Fatalf("logged %v, want backend %s because %q", f, backend, why)
	}
}

// hangingProvider blocks every call until released, and panics on demand.
type hangingProvider struct {
	release  chan struct{}
	returned chan struct{} // receives once per call that has ended
	panics   atomic.Bool
}

func (h *hangingProvider) wait() error {
	defer func() { h.returned <- struct{}{} }()
	<-h.release
	if h.panics.Load() {
		panic("nil signal")
	}
	return nil
}
func (h *hangingProvider) Get(string, string) (string, error) { return "", h.wait() }
func (h *hangingProvider) Set(string, string, string) error   { return h.wait() }
func (h *hangingProvider) Delete(string, string) error        { return h.wait() }

type fakePlatform struct{ aborts chan struct{} }

func (fakePlatform) reachable() error { return nil }
func (f fakePlatform) abort() <-chan struct{} {
	f.aborts <- struct{}{}
	done := make(chan struct{})
	close(done)
	return done
}

// TestSystemStoreBoundsHungCalls checks the one-call-in-flight rule without
// a bus: a second call while the first hangs fails at its own deadline, and
// a panicking keyring library becomes an error, not a crash.
func TestSystemStoreBoundsHungCalls(t *testing.T) {
	p := &hangingProvider{release: make(chan struct{}), returned: make(chan struct{}, 10)}
	p.panics.Store(true)
	plat := fakePlatform{aborts: make(chan struct{}, 10)}
	s, err := openSystem("svc", p, plat)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := s.Set(ctx, "k", []byte("v")); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("first call: %v", err)
	}
	<-plat.aborts
	ctx2, cancel2 := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel2()
	if _, err := s.Get(ctx2, "k"); !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "has not returned") {
		t.Fatalf("second call: %v", err)
	}
	close(p.release) // the library finally returns, by panicking
	<-p.returned
	// The slot is free again once the hung call has ended.
	p.panics.Store(false)
	ctx3, cancel3 := context.WithTimeout(context.Background(), callTimeout)
	defer cancel3()
	if err := s.Delete(ctx3, "k"); err != nil {
		t.Fatalf("call after release: %v", err)
	}
}

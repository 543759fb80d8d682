package keyring

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if runCrashChild() {
		return
	}
	goleak.VerifyTestMain(m)
}

// callTimeout bounds a call that is expected to succeed (a real Secret
// Service may be slow on a busy machine); it is only reached on failure.
const callTimeout = 30 * time.Second

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

// exerciseStore runs the contract every backend must meet.
func exerciseStore(t *testing.T, s Store) {
	t.Helper()
	ctx := ctxT(t, callTimeout)

	if _, err := s.Get(ctx, "registration"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get of a missing key: err = %v, want ErrNotFound", err)
	}
	if err := s.Set(ctx, "registration", []byte("first")); err != nil {
		t.Fatalf("Set: %v", err)
	}
	got, err := s.Get(ctx, "registration")
	if err != nil || string(got) != "first" {
		t.Fatalf("Get = %q, %v; want first", got, err)
	}
	if err := s.Set(ctx, "registration", []byte("second")); err != nil {
		t.Fatalf("overwrite: %v", err)
	}
	if got, err := s.Get(ctx, "registration"); err != nil || string(got) != "second" {
		t.Fatalf("after overwrite Get = %q, %v", got, err)
	}

	// A value far larger than a registration, with every byte value a JSON
	// document can hold.
	big := bytes.Repeat([]byte(`{"k":"v\u00e9\n\t"}0123456789`), 16*1024/29+1)[:16*1024]
	if err := s.Set(ctx, "big", big); err != nil {
		t.Fatalf("Set 16 KiB: %v", err)
	}
	if got, err := s.Get(ctx, "big"); err != nil || !bytes.Equal(got, big) {
		t.Fatalf("16 KiB value came back different (len %d, err %v)", len(got), err)
	}

	if err := s.Delete(ctx, "registration"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := s.Get(ctx, "registration"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get after Delete: err = %v, want ErrNotFound", err)
	}
	if err := s.Delete(ctx, "registration"); err != nil {
		t.Fatalf("Delete of a missing key: %v, want nil", err)
	}
	if got, err := s.Get(ctx, "big"); err != nil || !bytes.Equal(got, big) {
		t.Fatalf("Delete of one key touched another: %v", err)
	}
	if err := s.Delete(ctx, "big"); err != nil {
		t.Fatal(err)
	}

	for _, bad := range []string{"", "../escape", ".hidden", "a/b", "sp ace"} {
		if err := s.Set(ctx, bad, []byte("x")); err == nil {
			t.Errorf("Set accepted key %q", bad)
		}
	}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Get(cancelled, "registration"); err == nil {
		t.Error("Get with a cancelled context succeeded")
	}

	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := s.Get(ctx, "registration"); !errors.Is(err, ErrClosed) {
		t.Fatalf("Get after Close: %v, want ErrClosed", err)
	}
}

func TestMemoryStore(t *testing.T) {
	exerciseStore(t, NewMemory())
}

func TestOpenRejectsUnknownBackend(t *testing.T) {
	_, err := Open(context.Background(), Options{Backend: "vault"})
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte("auto, system, file or memory")) {
		t.Fatalf("err = %v", err)
	}
}

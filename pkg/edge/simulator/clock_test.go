package simulator

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ztagent/ztagent/internal/atomicfile"

	"github.com/ztagent/ztagent/internal/testenv/fulldisk"
	"github.com/ztagent/ztagent/pkg/apierror"
)

// TestClockAdvanceOnFullDisk reproduces the edge part of issue 12 item 12:
// with the disk full, "edged clock advance" said it worked, but the offset
// was not saved and a restart moved simulated time back. Now the admin
// API answers 500 naming the file, the clock stays, and a restart finds
// the offset of the last advance that was saved.
func TestClockAdvanceOnFullDisk(t *testing.T) {
	tc := newTestConfig(t)
	opts := tc.options(stateDir(t))
	var full atomic.Bool
	opts.writeFile = func(path string, data []byte, perm os.FileMode) error {
		if full.Load() {
			return &os.PathError{Op: "write", Path: path + ".tmp", Err: syscall.ENOSPC}
		}
		return atomicfile.WriteFile(path, data, perm)
	}
	s1, err := Start(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := adminClient(s1).AdvanceClock(t.Context(), time.Hour); err != nil {
		t.Fatal(err)
	}
	full.Store(true)
	before := s1.Clock().Now()
	_, err = adminClient(s1).AdvanceClock(t.Context(), 2*time.Hour)
	var apiErr *apierror.Error
	if !errors.As(err, &apiErr) || apiErr.Status != 500 || !strings.Contains(err.Error(), filepath.Join(opts.StateDir, clockFile)) ||
		!strings.Contains(err.Error(), "no space left") || !strings.Contains(err.Error(), "not advanced") {
		t.Fatalf("advance on a full disk: %v; want a 500 naming %s", err, clockFile)
	}
	if got := s1.Clock().Offset(); got != time.Hour {
		t.Fatalf("offset after the failed save: %v, want 1h", got)
	}
	if now := s1.Clock().Now(); now.Sub(before) > time.Hour {
		t.Fatalf("the clock moved by %v although the advance was refused", now.Sub(before))
	}
	if err := s1.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := startSim(t, opts)
	if got := s2.Clock().Offset(); got != time.Hour {
		t.Fatalf("offset after restart: %v, want the saved 1h", got)
	}
}

// TestClockOverflowKeepsEdgeStartable reproduces issue 12 item 11 end to
// end: "clock advance 2562047h" then "1h" wrapped the offset to the year
// 1734, which was saved, and edged refused to start. The first is refused
// now, the second works, and the edge restarts with a sane time.
func TestClockOverflowKeepsEdgeStartable(t *testing.T) {
	tc := newTestConfig(t)
	opts := tc.options(stateDir(t))
	s1, err := Start(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := adminClient(s1).AdvanceClock(t.Context(), 2562047*time.Hour); err == nil || !strings.Contains(err.Error(), "100 years") {
		t.Fatalf("advance by 2562047h: %v, want a refusal naming the limit", err)
	}
	st, err := adminClient(s1).AdvanceClock(t.Context(), time.Hour)
	if err != nil || st.Offset != "1h0m0s" || st.Now.Before(time.Now()) {
		t.Fatalf("advance by 1h: %+v %v", st, err)
	}
	if err := s1.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := startSim(t, opts)
	if got := s2.Clock().Offset(); got != time.Hour {
		t.Fatalf("offset after restart: %v, want 1h", got)
	}
}

// TestClockAdvanceOnRealFullDisk is TestClockAdvanceOnFullDisk on a real
// full file system: a small tmpfs, filled up. It needs root and mount, and
// skips without them.
func TestClockAdvanceOnRealFullDisk(t *testing.T) {
	mnt := fulldisk.Mount(t, "8m")
	tc := newTestConfig(t)
	opts := tc.options(filepath.Join(mnt, "state"))
	s1, err := Start(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	defer func() {
		if !closed {
			_ = s1.Close()
		}
	}()
	if _, err := adminClient(s1).AdvanceClock(t.Context(), time.Hour); err != nil {
		t.Fatal(err)
	}
	filler := filepath.Join(mnt, "filler")
	fulldisk.Fill(t, filler)
	_, err = adminClient(s1).AdvanceClock(t.Context(), 2*time.Hour)
	if err == nil || !strings.Contains(err.Error(), filepath.Join(opts.StateDir, clockFile)) || !strings.Contains(err.Error(), "not advanced") {
		t.Fatalf("advance on a full disk: %v; want a refusal naming %s", err, clockFile)
	}
	if got := s1.Clock().Offset(); got != time.Hour {
		t.Fatalf("offset after the failed save: %v, want 1h", got)
	}
	closed = true
	if err := s1.Close(); err != nil {
		t.Logf("Close on a full disk: %v", err)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	s2 := startSim(t, opts)
	if got := s2.Clock().Offset(); got != time.Hour {
		t.Fatalf("offset after restart: %v, want the saved 1h", got)
	}
}

//go:build unix

package main

import (
	"syscall"
	"testing"
)

// TestRunRaisesTheFileLimit: edged raises a low soft limit on open files
// to the hard one, and bounds its three HTTP listeners to fit in it.
func TestRunRaisesTheFileLimit(t *testing.T) {
	var orig syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &orig); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &orig) })
	if orig.Max < 512 {
		t.Skipf("the hard limit %d is too low to lower the soft one under it", orig.Max)
	}
	low := orig
	low.Cur = 256
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low); err != nil {
		t.Fatal(err)
	}
	n, err := raiseFileLimit()
	var now syscall.Rlimit
	_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &now)
	if err != nil || n != uint64(orig.Max) || uint64(now.Cur) != uint64(orig.Max) {
		t.Fatalf("raiseFileLimit = %d, %v; soft limit now %d, want the hard limit %d", n, err, now.Cur, orig.Max)
	}

	for _, n := range []uint64{600, 1024, 4096, 1 << 20, 1 << 62} {
		if c := connsPerListener(n, 1000); 3*uint64(c)+fdReserve > n || c < 8 {
			t.Errorf("under a limit of %d, %d connections per listener could need %d descriptors", n, c, 3*c+fdReserve)
		}
	}
	if c := connsPerListener(0, 1000); c != 1000 {
		t.Errorf("unknown limit: %d, want the default", c)
	}
}

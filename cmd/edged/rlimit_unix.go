//go:build unix

package main

import "syscall"

// raiseFileLimit raises the soft limit on open files to the hard limit and
// returns the soft limit in force afterwards. Go's runtime does the same
// at start on most systems; doing it here as well makes the number edged
// sizes its listeners by the one it really has, and keeps working where
// the runtime's attempt is skipped.
func raiseFileLimit() (uint64, error) {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 0, err
	}
	if r.Cur >= r.Max {
		return uint64(r.Cur), nil
	}
	want := r
	want.Cur = want.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err != nil {
		// macOS refuses an unlimited hard limit as the soft one; keep
		// what there is.
		return uint64(r.Cur), err
	}
	return uint64(want.Cur), nil
}

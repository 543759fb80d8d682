//go:build !unix

package main

// raiseFileLimit does nothing where there is no RLIMIT_NOFILE (Windows
// bounds handles per process far higher); 0 means unknown.
func raiseFileLimit() (uint64, error) { return 0, nil }

//go:build !unix

package agent

// lockStateDir does nothing where flock(2) does not exist; leftover
// temporary files are then kept rather than risk removing a running
// daemon's.
func lockStateDir(string) (func(), error) { return nil, nil }

//go:build !linux

package keyring

type otherPlatform struct{}

func newSystemPlatform() systemPlatform { return otherPlatform{} }

// The Keychain and the Credential Manager are in-process library calls that
// need no bus; they are assumed reachable and cannot be interrupted.
func (otherPlatform) reachable() error { return nil }
func (otherPlatform) abort() <-chan struct{} {
	done := make(chan struct{})
	close(done)
	return done
}

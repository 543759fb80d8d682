//go:build !linux && !darwin && !windows

package ipc

// IsConsoleUser reports false: on this system agentd cannot tell a person
// at the computer from a service account yet, so only root may register.
func IsConsoleUser(int) bool { return false }

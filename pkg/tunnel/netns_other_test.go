//go:build !linux

package tunnel

// runNetnsHelper has nothing to do: namespace helpers are Linux only.
func runNetnsHelper() bool { return false }

//go:build unix

package tfconfigtest

import (
	"fmt"
	"syscall"
)

// Supported reports whether the system can make c.
func Supported(c Case) bool { return true }

func makeSpecial(path, kind string) error {
	if kind != "fifo" {
		return fmt.Errorf("tfconfigtest: unknown special file %q", kind)
	}
	return syscall.Mkfifo(path, 0o600)
}

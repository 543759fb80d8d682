//go:build !unix

package secretservice

import (
	"os"
	"syscall"
)

// ownGroup has nothing to set where there is no Secret Service to start.
func ownGroup() *syscall.SysProcAttr { return nil }

// killPID kills a process; there are no groups.
func killPID(pid int) {
	if p, err := os.FindProcess(max(pid, -pid)); err == nil {
		_ = p.Kill()
	}
}

package proc

import (
	"os"
	"syscall"
)

// sysProcAttr has nothing to set on Windows, where the tests only
// compile; a Credential is not supported.
func sysProcAttr(*Credential) *syscall.SysProcAttr { return nil }

// killGroup kills p (Windows has no process groups to signal).
func killGroup(p *os.Process) { _ = p.Kill() }

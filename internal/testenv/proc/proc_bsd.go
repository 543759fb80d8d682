//go:build unix && !linux

package proc

import (
	"os"
	"syscall"
)

// sysProcAttr puts the child in a process group of its own and runs it as
// c when set; these systems have no parent-death signal.
func sysProcAttr(c *Credential) *syscall.SysProcAttr {
	a := &syscall.SysProcAttr{Setpgid: true}
	if c != nil {
		a.Credential = &syscall.Credential{Uid: c.UID, Gid: c.GID}
	}
	return a
}

// killGroup kills p's process group.
func killGroup(p *os.Process) { _ = syscall.Kill(-p.Pid, syscall.SIGKILL) }

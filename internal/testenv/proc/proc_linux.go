package proc

import (
	"os"
	"syscall"
)

// sysProcAttr puts the child in a process group of its own, so that its
// own children stop with it, kills it if the test binary dies, and runs
// it as c when set.
func sysProcAttr(c *Credential) *syscall.SysProcAttr {
	a := &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if c != nil {
		a.Credential = &syscall.Credential{Uid: c.UID, Gid: c.GID}
	}
	return a
}

// killGroup kills p's process group.
func killGroup(p *os.Process) { _ = syscall.Kill(-p.Pid, syscall.SIGKILL) }

//go:build unix

package secretservice

import "syscall"

// ownGroup starts a process in a group of its own.
func ownGroup() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

// killPID kills a process, or with a negative pid its group.
func killPID(pid int) { _ = syscall.Kill(pid, syscall.SIGKILL) }

//go:build unix

package agent

import (
	"os/exec"
	"syscall"
)

// asNobody makes cmd run as nobody (the test runs as root).
func asNobody(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
}

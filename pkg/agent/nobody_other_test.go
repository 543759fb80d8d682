//go:build !unix

package agent

import "os/exec"

// asNobody has no uid to switch to here: the tests that use it run as
// root on unix only, and are only compiled elsewhere.
func asNobody(*exec.Cmd) {}

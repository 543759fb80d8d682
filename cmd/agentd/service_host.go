package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// serviceHost is what the service commands need from the machine: which
// init system runs, the files a unit lives in, and systemctl. hostOS is
// the real one; the tests use a fake, so that the decisions, messages and
// exit codes are checked without touching the system.
type serviceHost interface {
	// Init reports whether systemd is the running init system, by the
	// test of sd_booted(3) (/run/systemd/system exists), and the name of
	// PID 1 ("" when unknown), for the message when it is not.
	Init() (systemd bool, pid1 string)
	// IsRoot reports whether the caller may change system services.
	IsRoot() bool
	// Executable returns the absolute path of the running agentd.
	Executable() (string, error)
	ReadFile(path string) ([]byte, error)
	// WriteFile replaces path with data, mode 0644, in one rename.
	WriteFile(path string, data []byte) error
	// Remove removes one file or symlink.
	Remove(path string) error
	Glob(pattern string) ([]string, error)
	Readlink(path string) (string, error)
	// Systemctl runs systemctl with args and returns its combined output;
	// the error includes its exit status.
	Systemctl(args ...string) (string, error)
}

// systemctlTimeout bounds one systemctl call; a stop waits for the unit's
// TimeoutStopSec (10 s) and then some.
const systemctlTimeout = 60 * time.Second

// hostOS is the machine agentd runs on.
type hostOS struct{}

// Init implements serviceHost.
func (hostOS) Init() (bool, string) {
	fi, err := os.Stat("/run/systemd/system")
	systemd := err == nil && fi.IsDir()
	comm, err := os.ReadFile("/proc/1/comm")
	if err != nil {
		return systemd, ""
	}
	return systemd, strings.TrimSpace(string(comm))
}

// IsRoot implements serviceHost.
func (hostOS) IsRoot() bool { return os.Geteuid() == 0 }

// Executable implements serviceHost. Symlinks are resolved, so that the
// unit names the binary itself, not a link that may later point elsewhere.
func (hostOS) Executable() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", err
	}
	return filepath.EvalSymlinks(exe)
}

// ReadFile implements serviceHost.
func (hostOS) ReadFile(path string) ([]byte, error) { return os.ReadFile(path) }

// WriteFile implements serviceHost.
func (hostOS) WriteFile(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	// WriteFile keeps the mode of an existing file; a unit is 0644.
	if err := os.Chmod(tmp, 0o644); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return nil
}

// Remove implements serviceHost.
func (hostOS) Remove(path string) error { return os.Remove(path) }

// Glob implements serviceHost.
func (hostOS) Glob(pattern string) ([]string, error) { return filepath.Glob(pattern) }

// Readlink implements serviceHost.
func (hostOS) Readlink(path string) (string, error) { return os.Readlink(path) }

// Systemctl implements serviceHost.
func (hostOS) Systemctl(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), systemctlTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "systemctl", args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		err = fmt.Errorf("no answer within %v", systemctlTimeout)
	}
	if err != nil {
		return out.String(), fmt.Errorf("systemctl %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return out.String(), nil
}

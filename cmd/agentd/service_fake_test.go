package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// fakeHost is a machine for the service commands: an init system, files
// and links, and a systemd that keeps a unit's state the way systemctl
// reports it.
type fakeHost struct {
	systemd bool
	pid1    string
	root    bool
	exe     string
	files   map[string]string // path → content
	links   map[string]string // path → target
	loaded  bool              // systemd read the unit (daemon-reload)
	active  string            // ActiveState
	calls   []string          // systemctl calls, space-joined
	fail    string            // a systemctl verb that fails
}

func newFakeHost(systemd bool) *fakeHost {
	return &fakeHost{systemd: systemd, pid1: "systemd", root: true, exe: "/usr/local/bin/agentd",
		files: map[string]string{}, links: map[string]string{}, active: "inactive"}
}

func (f *fakeHost) Init() (bool, string)        { return f.systemd, f.pid1 }
func (f *fakeHost) IsRoot() bool                { return f.root }
func (f *fakeHost) Executable() (string, error) { return f.exe, nil }

func (f *fakeHost) ReadFile(p string) ([]byte, error) {
	if s, ok := f.files[p]; ok {
		return []byte(s), nil
	}
	return nil, fs.ErrNotExist
}

func (f *fakeHost) WriteFile(p string, data []byte) error {
	f.files[p] = string(data)
	return nil
}

func (f *fakeHost) Remove(p string) error {
	if _, ok := f.files[p]; ok {
		delete(f.files, p)
		return nil
	}
	if _, ok := f.links[p]; ok {
		delete(f.links, p)
		return nil
	}
	return fs.ErrNotExist
}

func (f *fakeHost) Glob(pattern string) ([]string, error) {
	var out []string
	for _, m := range []map[string]string{f.files, f.links} {
		for p := range m {
			if ok, err := filepath.Match(pattern, p); err != nil {
				return nil, err
			} else if ok {
				out = append(out, p)
			}
		}
	}
	sort.Strings(out)
	return out, nil
}

func (f *fakeHost) Readlink(p string) (string, error) {
	if to, ok := f.links[p]; ok {
		return to, nil
	}
	return "", fs.ErrNotExist
}

// enableLink is where systemctl enable puts the unit's link.
const enableLink = unitDir + "/multi-user.target.wants/" + unitName

func (f *fakeHost) Systemctl(args ...string) (string, error) {
	if !f.systemd {
		panic("systemctl called without systemd: " + strings.Join(args, " "))
	}
	f.calls = append(f.calls, strings.Join(args, " "))
	if args[0] == f.fail {
		return "", fmt.Errorf("systemctl %s: exit status 1: Failed (fake)", args[0])
	}
	notLoaded := fmt.Errorf("systemctl %s: exit status 5: Unit %s not loaded.", args[0], unitName)
	switch args[0] {
	case "daemon-reload":
		_, f.loaded = f.files[unitPath]
	case "show":
		if !f.loaded {
			return "LoadState=not-found\nActiveState=inactive\nSubState=dead\n", nil
		}
		sub := map[string]string{"active": "running", "failed": "failed"}[f.active]
		if sub == "" {
			sub = "dead"
		}
		return fmt.Sprintf("LoadState=loaded\nActiveState=%s\nSubState=%s\n", f.active, sub), nil
	case "enable":
		if !f.loaded {
			return "", notLoaded
		}
		f.links[enableLink] = unitPath
	case "disable":
		delete(f.links, enableLink)
	case "start", "restart":
		if !f.loaded {
			return "", notLoaded
		}
		f.active = "active"
	case "stop":
		f.active = "inactive"
	case "reset-failed":
		if f.active != "failed" {
			return "", errors.New("systemctl reset-failed: exit status 1: not failed")
		}
		f.active = "inactive"
	default:
		panic("unexpected systemctl " + strings.Join(args, " "))
	}
	return "", nil
}

// onHost runs agentd with the service commands on h and returns its
// output and exit code.
func onHost(t *testing.T, h serviceHost, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	old := theServiceHost
	theServiceHost = h
	defer func() { theServiceHost = old }()
	var out, errOut bytes.Buffer
	code = run(context.Background(), args, &out, &errOut)
	return out.String(), errOut.String(), code
}

// want fails the test unless the command exited with code and its output
// holds every one of subs.
func want(t *testing.T, what string, out, errOut string, code, wantCode int, subs ...string) {
	t.Helper()
	all := out + errOut
	if code != wantCode {
		t.Errorf("%s: exit %d, want %d\n%s", what, code, wantCode, all)
	}
	for _, s := range subs {
		if !strings.Contains(all, s) {
			t.Errorf("%s: output lacks %q:\n%s", what, s, all)
		}
	}
}

// TestServiceWithoutSystemd is issue 13's report: with PID 1 not systemd,
// install picked SysV silently and said "install done", status always
// failed with an exec error. Now install refuses, changes nothing, names
// PID 1 and prints the command line to supervise; status says "not
// installed" with its exit code.
func TestServiceWithoutSystemd(t *testing.T) {
	h := newFakeHost(false)
	h.pid1 = "process_api"
	out, errOut, code := onHost(t, h, "install", "--run-arg=--edge-api=https://edge.example")
	want(t, "install", out, errOut, code, 1, `PID 1 is "process_api"`, "/run/systemd/system does not exist",
		"SysV", "/usr/local/bin/agentd run --socket /run/ztagent/agentd.sock --state-dir /var/lib/ztagent --edge-api=https://edge.example")
	if len(h.files)+len(h.links) != 0 {
		t.Errorf("install without systemd wrote %v %v", h.files, h.links)
	}
	out, errOut, code = onHost(t, h, "status")
	want(t, "status", out, errOut, code, statusNotInstalled, "not installed", "systemd is not running")
	for _, action := range []string{"start", "stop", "restart"} {
		out, errOut, code = onHost(t, h, action)
		want(t, action, out, errOut, code, 1, "cannot "+action, "systemd is not running", "agentd run --socket")
	}
	out, errOut, code = onHost(t, h, "uninstall")
	want(t, "uninstall", out, errOut, code, 0, "not installed; nothing to remove")
}

// TestServiceLifecycle drives install, start, status, a failure and
// uninstall on a systemd machine, twice over for uninstall, checking
// each message and exit code and that uninstall leaves nothing behind.
func TestServiceLifecycle(t *testing.T) {
	h := newFakeHost(true)
	out, errOut, code := onHost(t, h, "status")
	want(t, "status before install", out, errOut, code, statusNotInstalled, "not installed")

	h.root = false
	out, errOut, code = onHost(t, h, "install")
	want(t, "install as a user", out, errOut, code, 1, "needs root", "sudo agentd install")
	if len(h.files) != 0 || len(h.calls) != 1 {
		t.Errorf("install as a user changed something: files %v, systemctl %v", h.files, h.calls)
	}
	h.root = true

	args := []string{"--edge-api=https://edge.example", "--team", "acme corp"}
	out, errOut, code = onHost(t, h, "install", "--run-arg="+args[0], "--run-arg="+args[1], "--run-arg="+args[2])
	want(t, "install", out, errOut, code, 0, "installed "+unitPath, "agentd start")
	wantUnit, err := renderUnit(h.exe, args)
	if err != nil {
		t.Fatal(err)
	}
	if h.files[unitPath] != wantUnit {
		t.Errorf("the unit written:\n%s\nwant:\n%s", h.files[unitPath], wantUnit)
	}
	if !strings.Contains(h.files[unitPath], `ExecStart=/usr/local/bin/agentd run --edge-api=https://edge.example --team "acme corp"`) {
		t.Errorf("ExecStart does not run agentd run with the arguments:\n%s", h.files[unitPath])
	}
	if h.links[enableLink] != unitPath {
		t.Errorf("install did not enable the unit: links %v", h.links)
	}
	out, errOut, code = onHost(t, h, "install", "--run-arg="+args[0], "--run-arg="+args[1], "--run-arg="+args[2])
	want(t, "install again", out, errOut, code, 0, "kept (unchanged)")

	out, errOut, code = onHost(t, h, "status")
	want(t, "status after install", out, errOut, code, statusNotRunning, "stopped")
	out, errOut, code = onHost(t, h, "start")
	want(t, "start", out, errOut, code, 0, "start done")
	out, errOut, code = onHost(t, h, "status")
	want(t, "status when running", out, errOut, code, statusRunning, "running")
	h.active = "failed"
	out, errOut, code = onHost(t, h, "status")
	want(t, "status when failed", out, errOut, code, statusNotRunning, "failed", "journalctl -u ztagent")
	h.active = "active"

	// A link that disable does not know of (an older [Install] section, or
	// made by hand) goes too.
	stray := unitDir + "/default.target.wants/" + unitName
	h.links[stray] = unitPath
	h.calls = nil
	out, errOut, code = onHost(t, h, "uninstall")
	want(t, "uninstall", out, errOut, code, 0, "stopped and disabled", unitPath, stray)
	for _, c := range []string{"stop " + unitName, "disable " + unitName, "daemon-reload"} {
		if !containsString(h.calls, c) {
			t.Errorf("uninstall did not run systemctl %s: %v", c, h.calls)
		}
	}
	if len(h.files)+len(h.links) != 0 || h.loaded {
		t.Errorf("uninstall left files %v, links %v (loaded %v)", h.files, h.links, h.loaded)
	}
	out, errOut, code = onHost(t, h, "status")
	want(t, "status after uninstall", out, errOut, code, statusNotInstalled, "not installed")
	out, errOut, code = onHost(t, h, "uninstall")
	want(t, "uninstall again", out, errOut, code, 0, "nothing to remove")
	out, errOut, code = onHost(t, h, "start")
	want(t, "start after uninstall", out, errOut, code, 1, "not installed", "agentd install")
}

// TestServiceErrorsAreReported checks that a systemctl failure is a
// failure with systemctl's words, not "done", and that status says it
// could not ask.
func TestServiceErrorsAreReported(t *testing.T) {
	h := newFakeHost(true)
	h.fail = "enable"
	out, errOut, code := onHost(t, h, "install")
	want(t, "install with enable failing", out, errOut, code, 1, "systemctl enable", "Failed (fake)", "agentd uninstall")
	h.fail = "show"
	out, errOut, code = onHost(t, h, "status")
	want(t, "status with show failing", out, errOut, code, statusUnknown, "ask systemd", "Failed (fake)")
	if strings.Contains(out+errOut, "done") {
		t.Errorf("a failure said done:\n%s%s", out, errOut)
	}
}

// TestUninstallRemovesSysVLeftovers checks that uninstall removes the
// SysV script and the seven /etc/rc?.d links that the old install wrote
// on a machine without systemd, and nothing that is not ours.
func TestUninstallRemovesSysVLeftovers(t *testing.T) {
	h := newFakeHost(false)
	h.files[sysvScript] = "#!/bin/sh\n# description: " + sysvMarker + ": device registration\n"
	var ours []string
	for _, rc := range []string{"2", "3", "4", "5"} {
		ours = append(ours, "/etc/rc"+rc+".d/S50"+serviceName)
	}
	for _, rc := range []string{"0", "1", "6"} {
		ours = append(ours, "/etc/rc"+rc+".d/K02"+serviceName)
	}
	for _, l := range ours {
		h.links[l] = sysvScript
	}
	h.links["/etc/rc2.d/S01other"] = "/etc/init.d/other"
	h.links["/etc/rc3.d/S50"+serviceName+"x"] = "/etc/init.d/ztagentx"

	out, errOut, code := onHost(t, h, "uninstall")
	want(t, "uninstall", out, errOut, code, 0, append([]string{"removed " + sysvScript}, ours...)...)
	if _, ok := h.files[sysvScript]; ok {
		t.Errorf("%s is still there", sysvScript)
	}
	for _, l := range ours {
		if _, ok := h.links[l]; ok {
			t.Errorf("%s is still there", l)
		}
	}
	if len(h.links) != 2 {
		t.Errorf("uninstall removed links that are not its own: %v left", h.links)
	}

	// A script of the same name that is not ours stays.
	h = newFakeHost(false)
	h.files[sysvScript] = "#!/bin/sh\n# someone else's\n"
	out, errOut, code = onHost(t, h, "uninstall")
	want(t, "uninstall of a foreign script", out, errOut, code, 0, "nothing to remove")
	if _, ok := h.files[sysvScript]; !ok {
		t.Error("uninstall removed a script that is not ours")
	}
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ztagent/ztagent/internal/paths"
)

// Where install puts the unit, and what an enable makes: a symlink in
// each *.wants directory of the [Install] section's targets.
const (
	unitDir  = "/etc/systemd/system"
	unitPath = unitDir + "/" + unitName
)

// The SysV script and rc links that agentd install wrote before it
// refused init systems other than systemd (kardianos/service chose SysV
// silently); uninstall removes them when they are ours.
const (
	sysvScript = "/etc/init.d/" + serviceName
	sysvMarker = "ztagent endpoint agent"
)

// Exit codes of agentd status, as systemctl status and LSB init scripts
// use them; the other commands exit 0 or 1 (2 for a usage error).
const (
	statusRunning      = 0
	statusNotRunning   = 3
	statusNotInstalled = 4
	statusUnknown      = 1
)

// exitCode is an error that sets agentd's exit code; err, when set, is
// printed like any failure.
type exitCode struct {
	code int
	err  error
}

// Error returns the wrapped error's message, or the exit status.
func (e exitCode) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

// Unwrap returns the wrapped error.
func (e exitCode) Unwrap() error { return e.err }

// theServiceHost is the machine the service commands act on; tests put a
// fake in its place.
var theServiceHost serviceHost = hostOS{}

// serviceCmdsOn builds the service commands on host h.
func serviceCmdsOn(h serviceHost, stdout io.Writer) []*cobra.Command {
	var runArgs []string
	install := &cobra.Command{
		Use:   "install",
		Short: "Install and enable the systemd unit " + unitName + " (systemd only)",
		Long: `install writes ` + unitPath + `, which runs 'agentd run' as root
with the system-mode defaults (socket ` + paths.SystemSocket + `, state ` + paths.SystemStateDir + `)
and the arguments given with --run-arg, reloads systemd and enables the
unit; 'agentd start' starts it. Run again, it replaces the unit.

Only systemd is supported. On a machine where systemd is not the init
system, install changes nothing, says what runs as PID 1, and prints the
command line to run under that system's supervisor.`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error { return serviceInstall(h, runArgs, stdout) },
	}
	install.Flags().StringArrayVar(&runArgs, "run-arg", nil, "an argument for 'agentd run' in the unit (repeat), e.g. --run-arg=--edge-api=https://edge.example")
	uninstall := &cobra.Command{
		Use:   "uninstall",
		Short: "Stop and remove the system service, with everything install made",
		Long: `uninstall stops and disables ` + unitName + `, removes ` + unitPath + `
and its enable links, and reloads systemd. It also removes the SysV script
and /etc/rc?.d links that older versions of agentd install wrote on
machines without systemd. With nothing installed it says so and exits 0.`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error { return serviceUninstall(h, stdout) },
	}
	control := func(action, short string) *cobra.Command {
		return &cobra.Command{
			Use:   action,
			Short: short,
			Args:  cobra.NoArgs,
			RunE:  func(*cobra.Command, []string) error { return serviceControl(h, action, stdout) },
		}
	}
	status := &cobra.Command{
		Use:   "status",
		Short: "Say whether the system service is installed and running",
		Long: fmt.Sprintf(`status asks systemd about %s and prints one line: running, stopped
(or failed), or not installed.

Exit codes: %d running; %d installed but not running; %d not installed,
or systemd is not running here; %d systemd could not be asked.`, unitName, statusRunning, statusNotRunning, statusNotInstalled, statusUnknown),
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error { return serviceStatus(h, stdout) },
	}
	return []*cobra.Command{
		install, uninstall,
		control("start", "Start the system service"),
		control("stop", "Stop the system service"),
		control("restart", "Restart the system service"),
		status,
	}
}

// noSystemd explains that systemd is not the init system, naming what is.
func noSystemd(h serviceHost) string {
	_, pid1 := h.Init()
	if pid1 == "" {
		pid1 = "unknown"
	}
	return fmt.Sprintf("systemd is not running on this machine (PID 1 is %q; /run/systemd/system does not exist)", pid1)
}

// superviseHint is the command line to run agentd under another
// supervisor, with the system-mode defaults and the given run arguments.
func superviseHint(h serviceHost, runArgs []string) string {
	exe, err := h.Executable()
	if err != nil {
		exe = "/usr/local/bin/agentd"
	}
	words := append([]string{exe, "run", "--socket", paths.SystemSocket, "--state-dir", paths.SystemStateDir}, runArgs...)
	return "  " + strings.Join(words, " ") + `
as root, restarted when it exits with an error (for --mode tun it needs
CAP_NET_ADMIN and /dev/net/tun)`
}

func serviceInstall(h serviceHost, runArgs []string, stdout io.Writer) error {
	if ok, _ := h.Init(); !ok {
		return fmt.Errorf(`not installed: %s, and agentd install writes only a systemd unit; it does not fall back to a SysV, upstart or OpenRC script.
Run the agent under this system's supervisor instead:
%s`, noSystemd(h), superviseHint(h, runArgs))
	}
	if !h.IsRoot() {
		return fmt.Errorf("install needs root: it writes %s and runs systemctl; run: sudo agentd install", unitPath)
	}
	exe, err := h.Executable()
	if err != nil {
		return fmt.Errorf("find the agentd binary for the unit: %w", err)
	}
	unit, err := renderUnit(exe, runArgs)
	if err != nil {
		return usageError{err}
	}
	verb := "installed"
	if old, err := h.ReadFile(unitPath); err == nil {
		verb = "replaced"
		if string(old) == unit {
			verb = "kept (unchanged)"
		}
	}
	if err := h.WriteFile(unitPath, []byte(unit)); err != nil {
		return fmt.Errorf("write %s: %w", unitPath, err)
	}
	for _, args := range [][]string{{"daemon-reload"}, {"enable", unitName}} {
		if _, err := h.Systemctl(args...); err != nil {
			return fmt.Errorf("%w; the unit is at %s, 'agentd uninstall' removes it", err, unitPath)
		}
	}
	fmt.Fprintf(stdout, "%s: %s %s and enabled it (starts at boot)\nStart it now: agentd start; see it: agentd status, journalctl -u %s\n",
		serviceName, verb, unitPath, serviceName)
	return nil
}

// unitState is what systemctl show says about the unit.
type unitState struct{ load, active, sub string }

func queryUnit(h serviceHost) (unitState, error) {
	out, err := h.Systemctl("show", unitName, "--property=LoadState,ActiveState,SubState")
	if err != nil {
		return unitState{}, fmt.Errorf("ask systemd about %s: %w", unitName, err)
	}
	var st unitState
	for _, line := range strings.Split(out, "\n") {
		k, v, _ := strings.Cut(strings.TrimSpace(line), "=")
		switch k {
		case "LoadState":
			st.load = v
		case "ActiveState":
			st.active = v
		case "SubState":
			st.sub = v
		}
	}
	if st.load == "" {
		return st, fmt.Errorf("ask systemd about %s: no LoadState in %q", unitName, out)
	}
	return st, nil
}

// installed reports whether systemd knows the unit (a zero unitState,
// when systemd does not run, is not installed).
func (st unitState) installed() bool { return st.load != "" && st.load != "not-found" }

func serviceStatus(h serviceHost, stdout io.Writer) error {
	if ok, _ := h.Init(); !ok {
		fmt.Fprintf(stdout, "not installed: %s; agentd install supports systemd only\n", noSystemd(h))
		return exitCode{code: statusNotInstalled}
	}
	st, err := queryUnit(h)
	if err != nil {
		return exitCode{code: statusUnknown, err: err}
	}
	switch {
	case !st.installed():
		fmt.Fprintf(stdout, "not installed (no %s; agentd install makes it)\n", unitName)
		return exitCode{code: statusNotInstalled}
	case st.active == "active" || st.active == "reloading":
		fmt.Fprintf(stdout, "running (%s %s)\n", unitName, st.sub)
		return nil
	case st.active == "failed":
		fmt.Fprintf(stdout, "failed (%s; journalctl -u %s says why)\n", unitName, serviceName)
		return exitCode{code: statusNotRunning}
	case st.active == "activating" || st.active == "deactivating":
		fmt.Fprintf(stdout, "%s (%s %s)\n", st.active, unitName, st.sub)
		return exitCode{code: statusNotRunning}
	default:
		fmt.Fprintf(stdout, "stopped (%s is installed; agentd start starts it)\n", unitName)
		return exitCode{code: statusNotRunning}
	}
}

func serviceControl(h serviceHost, action string, stdout io.Writer) error {
	if ok, _ := h.Init(); !ok {
		return fmt.Errorf("cannot %s the service: %s, so there is no %s. Run the agent under this system's supervisor instead:\n%s",
			action, noSystemd(h), unitName, superviseHint(h, nil))
	}
	st, err := queryUnit(h)
	if err != nil {
		return err
	}
	if !st.installed() {
		return fmt.Errorf("cannot %s the service: %s is not installed; run: sudo agentd install", action, unitName)
	}
	if _, err := h.Systemctl(action, unitName); err != nil {
		return fmt.Errorf("%w (as root? journalctl -u %s may say more)", err, serviceName)
	}
	fmt.Fprintf(stdout, "%s: %s done\n", serviceName, action)
	return nil
}

// installedFiles returns every file of ours that install (or an older
// install) left: the unit, its enable links, a SysV script and its links.
func installedFiles(h serviceHost) []string {
	var files []string
	if _, err := h.ReadFile(unitPath); err == nil {
		files = append(files, unitPath)
	}
	links, _ := h.Glob(filepath.Join(unitDir, "*.wants", unitName))
	files = append(files, links...)
	if b, err := h.ReadFile(sysvScript); err == nil && strings.Contains(string(b), sysvMarker) {
		files = append(files, sysvScript)
		rc, _ := h.Glob("/etc/rc[0-6S].d/[SK][0-9][0-9]" + serviceName)
		for _, l := range rc {
			if to, err := h.Readlink(l); err == nil && (to == sysvScript || to == "../init.d/"+serviceName) {
				files = append(files, l)
			}
		}
	}
	return files
}

func serviceUninstall(h serviceHost, stdout io.Writer) error {
	systemd, _ := h.Init()
	var st unitState
	if systemd {
		var err error
		if st, err = queryUnit(h); err != nil {
			return err
		}
	}
	files := installedFiles(h)
	if len(files) == 0 && !st.installed() {
		fmt.Fprintf(stdout, "%s: not installed; nothing to remove\n", serviceName)
		return nil
	}
	if !h.IsRoot() {
		return fmt.Errorf("uninstall needs root: it removes %s; run: sudo agentd uninstall", strings.Join(files, ", "))
	}
	if systemd && st.installed() {
		// Stopped first: a unit removed while it runs leaves the daemon
		// running with nothing to stop it.
		if st.active != "inactive" && st.active != "failed" {
			if _, err := h.Systemctl("stop", unitName); err != nil {
				return err
			}
		}
		if _, err := h.Systemctl("disable", unitName); err != nil {
			return err
		}
	}
	// disable removed the links it knows of; a link left by hand or by an
	// older unit's [Install] is found again and removed too.
	var removed []string
	for _, f := range installedFiles(h) {
		if err := h.Remove(f); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove %s: %w", f, err)
		}
		removed = append(removed, f)
	}
	if systemd {
		if _, err := h.Systemctl("daemon-reload"); err != nil {
			return err
		}
		// Forget a failed state, so status says "not installed"; a unit
		// that never failed has none, and the error says so.
		_, _ = h.Systemctl("reset-failed", unitName)
	}
	var did []string
	if systemd && st.installed() {
		did = append(did, "stopped and disabled "+unitName)
	}
	if len(removed) > 0 {
		did = append(did, "removed "+strings.Join(removed, ", "))
	}
	fmt.Fprintf(stdout, "%s: uninstalled: %s\n", serviceName, strings.Join(did, "; "))
	return nil
}

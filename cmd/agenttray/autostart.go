package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/ztagent/ztagent/internal/atomicfile"
)

// desktopFile is the autostart entry's name.
const desktopFile = "ztagent-tray.desktop"

// autostartDir returns $XDG_CONFIG_HOME/autostart, or ~/.config/autostart
// (the XDG Autostart Specification).
func autostartDir() (string, error) {
	if d := os.Getenv("XDG_CONFIG_HOME"); filepath.IsAbs(d) {
		return filepath.Join(d, "autostart"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("find the home directory for the autostart entry: %w", err)
	}
	return filepath.Join(home, ".config", "autostart"), nil
}

// desktopEntry returns the autostart entry that runs exe with socket.
func desktopEntry(exe, socket string) string {
	cmd := desktopQuote(exe)
	if socket != "" {
		cmd += " --socket " + desktopQuote(socket)
	}
	return strings.Join([]string{
		"[Desktop Entry]",
		"Type=Application",
		"Name=ztagent tray",
		"Comment=Shows ztagent's connection and client sessions, and asks you to sign in again when a session expires",
		"Exec=" + cmd,
		"Icon=network-vpn",
		"Terminal=false",
		"NoDisplay=true",
		"X-GNOME-Autostart-enabled=true",
		"",
	}, "\n")
}

// desktopQuote quotes an Exec argument as the Desktop Entry
// Specification says: in double quotes, with ", `, $ and \ escaped, and %
// doubled (a field code otherwise).
func desktopQuote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "`", "\\`", `$`, `\$`, `%`, `%%`)
	return `"` + r.Replace(s) + `"`
}

// autostart installs or removes the entry and says what it did.
func autostart(install bool, exe, socket string, out io.Writer) error {
	if runtime.GOOS == "windows" || runtime.GOOS == "darwin" {
		return errors.New("install and uninstall write an XDG autostart entry, which this system does not read; " +
			"on Windows put a shortcut to agenttray in shell:startup, on macOS add it to Login Items")
	}
	dir, err := autostartDir()
	if err != nil {
		return err
	}
	path := filepath.Join(dir, desktopFile)
	if !install {
		err := os.Remove(path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			fmt.Fprintf(out, "agenttray was not set to start at login (no %s)\n", path)
			return nil
		case err != nil:
			return fmt.Errorf("remove %s: %w", path, err)
		}
		fmt.Fprintf(out, "removed %s: agenttray no longer starts at login\n", path)
		return nil
	}
	if strings.ContainsAny(exe, "\n\r") || strings.ContainsAny(socket, "\n\r") {
		return errors.New("the program's or the socket's path holds a line break, which an autostart entry cannot carry")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	if err := atomicfile.WriteFile(path, []byte(desktopEntry(exe, socket)), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	fmt.Fprintf(out, "wrote %s: agenttray starts at your next login (run it now with `%s`)\n", path, exe)
	return nil
}

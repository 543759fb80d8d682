package ipc

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// nobodyUID is the overflow uid, nobody: never a person.
const nobodyUID = 65534

// Defaults of login.defs(5) for the range of uids given to people.
const (
	defaultUIDMin = 1000
	defaultUIDMax = 60000
)

// consoleRule is the Linux rule of IsConsoleUser, over files a test can
// replace: a uid given to people (in login.defs' [UID_MIN, UID_MAX], never
// nobody) and, when systemd-logind runs, with a login session now.
type consoleRule struct {
	// logindUsers is logind's per-user state directory; when it does not
	// exist, logind does not run and the uid range decides alone.
	logindUsers string
	loginDefs   string
}

var linuxConsoleRule = consoleRule{logindUsers: "/run/systemd/users", loginDefs: "/etc/login.defs"}

// isConsole reports whether uid is a person logged in here. Root is not
// one by this rule; the permission table admits root on its own.
func (r consoleRule) isConsole(uid int) bool {
	if uid <= 0 || uid == nobodyUID {
		return false
	}
	lo, hi := r.uidRange()
	if uid < lo || uid > hi {
		return false
	}
	fi, err := os.Stat(r.logindUsers)
	if err != nil || !fi.IsDir() {
		return true
	}
	return logindLoggedIn(filepath.Join(r.logindUsers, strconv.Itoa(uid)))
}

// uidRange reads UID_MIN and UID_MAX from login.defs, with the defaults
// of shadow-utils for what is missing or unreadable.
func (r consoleRule) uidRange() (lo, hi int) {
	lo, hi = defaultUIDMin, defaultUIDMax
	f, err := os.Open(r.loginDefs)
	if err != nil {
		return lo, hi
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		n, err := strconv.Atoi(fields[1])
		if err != nil || n <= 0 {
			continue
		}
		switch fields[0] {
		case "UID_MIN":
			lo = n
		case "UID_MAX":
			hi = n
		}
	}
	return lo, hi
}

// logindLoggedIn reports whether logind's state file for a user says the
// user has a session: STATE=active or online. A lingering user (services
// kept running without a session) is not at the computer.
func logindLoggedIn(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "STATE="); ok {
			return v == "active" || v == "online"
		}
	}
	return false
}

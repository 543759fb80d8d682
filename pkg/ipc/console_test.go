package ipc

import (
	"os"
	"path/filepath"
	"testing"
)

// The default console rule (item 19 of issue 12): nobody and system
// accounts never count as console users, whatever else is true; with
// logind, only users with a session do; without it, the uid range of
// login.defs decides.
func TestConsoleRuleRefusesNobodyAndSystemAccounts(t *testing.T) {
	dir := t.TempDir()
	defs := filepath.Join(dir, "login.defs")
	if err := os.WriteFile(defs, []byte("# comment\nUID_MIN\t\t 2000\nUID_MAX 3000\nGID_MIN 10\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	noLogind := consoleRule{logindUsers: filepath.Join(dir, "absent"), loginDefs: defs}
	for uid, want := range map[int]bool{0: false, 1: false, 999: false, 1000: false, 1999: false, 2000: true, 3000: true, 3001: false, nobodyUID: false} {
		if got := noLogind.isConsole(uid); got != want {
			t.Errorf("without logind, isConsole(%d) = %v, want %v", uid, got, want)
		}
	}

	defaults := consoleRule{logindUsers: filepath.Join(dir, "absent"), loginDefs: filepath.Join(dir, "no-login.defs")}
	for uid, want := range map[int]bool{999: false, 1000: true, 60000: true, 60001: false, nobodyUID: false} {
		if got := defaults.isConsole(uid); got != want {
			t.Errorf("with login.defs' defaults, isConsole(%d) = %v, want %v", uid, got, want)
		}
	}

	users := filepath.Join(dir, "users")
	if err := os.Mkdir(users, 0o755); err != nil {
		t.Fatal(err)
	}
	for uid, state := range map[string]string{"2001": "active", "2002": "online", "2003": "lingering", "2004": "closing", "999": "active", "65534": "active"} {
		body := "# This is private data. Do not parse.\nNAME=u\nSTATE=" + state + "\n"
		if err := os.WriteFile(filepath.Join(users, uid), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	logind := consoleRule{logindUsers: users, loginDefs: defs}
	for uid, want := range map[int]bool{2001: true, 2002: true, 2003: false, 2004: false, 2005: false, 999: false, nobodyUID: false} {
		if got := logind.isConsole(uid); got != want {
			t.Errorf("with logind, isConsole(%d) = %v, want %v", uid, got, want)
		}
	}
}

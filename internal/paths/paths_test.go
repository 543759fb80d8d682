package paths

import (
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestSystemLayoutPerOS(t *testing.T) {
	env := map[string]string{"ProgramData": `D:\ProgramData\`}
	getenv := func(k string) string { return env[k] }
	for goos, want := range map[string]Layout{
		"linux":   {"/run/ztagent/agentd.sock", "/var/lib/ztagent"},
		"freebsd": {"/run/ztagent/agentd.sock", "/var/lib/ztagent"},
		"darwin":  {"/var/run/ztagent/agentd.sock", "/Library/Application Support/ztagent"},
		"windows": {`\\.\pipe\ProtectedPrefix\Administrators\ztagent\agentd`, `D:\ProgramData\ztagent`},
	} {
		if got := SystemLayout(goos, getenv); got != want {
			t.Errorf("SystemLayout(%s) = %+v, want %+v", goos, got, want)
		}
	}
	// Without ProgramData, Windows' own default.
	if got := SystemLayout("windows", func(string) string { return "" }).StateDir; got != `C:\ProgramData\ztagent` {
		t.Errorf("without ProgramData: %s", got)
	}
}

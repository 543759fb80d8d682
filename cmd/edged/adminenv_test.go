package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// TestAdminStateDirPrecedence checks where the admin commands look for the
// admin token: --state-dir, else $ZTAGENT_EDGED_STATE_DIR, else the
// default state directory. make run prints the export; before, the
// commands as the README shows them read the default and failed.
func TestAdminStateDirPrecedence(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("XDG_STATE_HOME", filepath.Join(tmp, "xdg"))
	flagDir, envDir := filepath.Join(tmp, "flag"), filepath.Join(tmp, "env")
	def := filepath.Join(tmp, "xdg", "ztagent", "edged")
	for _, c := range []struct {
		name, flag, env, want string
	}{
		{"flag wins over env", flagDir, envDir, flagDir},
		{"env without flag", "", envDir, envDir},
		{"default without either", "", "", def},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv(envStateDir, c.env)
			// No token anywhere: the error names the file it looked for,
			// before any request is made.
			args := []string{"clock", "show", "--api", "http://127.0.0.1:1"}
			if c.flag != "" {
				args = append(args, "--state-dir", c.flag)
			}
			_, stderr, code := edged(args...)
			want := filepath.Join(c.want, "admin.token")
			if code != exitFailure || !strings.Contains(stderr, want) {
				t.Errorf("exit %d, stderr %q; want a failure naming %s", code, stderr, want)
			}
			if !strings.Contains(stderr, envStateDir) {
				t.Errorf("stderr %q does not say that %s can be set", stderr, envStateDir)
			}
		})
	}
}

// TestAdminAPIPrecedence checks which edge the admin commands ask: --api,
// else $ZTAGENT_EDGED_API (else http://127.0.0.1:8780, which a test cannot
// claim without colliding with a running make run; firstSet covers it).
func TestAdminAPIPrecedence(t *testing.T) {
	token := filepath.Join(t.TempDir(), "admin.token")
	if err := os.WriteFile(token, []byte("t0ken\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	edge := func() (*httptest.Server, *atomic.Int32) {
		var hits atomic.Int32
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			hits.Add(1)
			http.Error(w, `{"error":"test edge"}`, http.StatusTeapot)
		}))
		t.Cleanup(srv.Close)
		return srv, &hits
	}
	flagSrv, flagHits := edge()
	envSrv, envHits := edge()
	for _, c := range []struct {
		name, flag, wantName string
		want                 *atomic.Int32
	}{
		{"flag wins over env", flagSrv.URL, "--api", flagHits},
		{"env without flag", "", "$" + envAPI, envHits},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv(envAPI, envSrv.URL)
			before := [2]int32{flagHits.Load(), envHits.Load()}
			args := []string{"clock", "show", "--admin-token-file", token}
			if c.flag != "" {
				args = append(args, "--api", c.flag)
			}
			edged(args...)
			after := [2]int32{flagHits.Load(), envHits.Load()}
			hit := map[*atomic.Int32]bool{flagHits: after[0] > before[0], envHits: after[1] > before[1]}
			if !hit[c.want] || hit[flagHits] && hit[envHits] {
				t.Errorf("requests: flag edge %d, env edge %d; want only the %s one", after[0]-before[0], after[1]-before[1], c.wantName)
			}
		})
	}
	t.Setenv(envAPI, "")
	if got := firstSet("", envAPI, defaultAPI); got != defaultAPI {
		t.Errorf("without flag or env the API is %q, want %q", got, defaultAPI)
	}
}

// TestAdminHelpNamesTheEnvironment checks that --help says what the
// flags fall back to, for each admin command.
func TestAdminHelpNamesTheEnvironment(t *testing.T) {
	for _, cmd := range [][]string{{"clock", "show"}, {"devices", "list"}, {"reload"}} {
		out, _, code := edged(append(cmd, "--help")...)
		if code != 0 || !strings.Contains(out, "$"+envStateDir) || !strings.Contains(out, "$"+envAPI) {
			t.Errorf("edged %s --help (exit %d) does not name $%s and $%s:\n%s", strings.Join(cmd, " "), code, envStateDir, envAPI, out)
		}
	}
}

// TestRunStateDirFollowsTheEnvironment: edged run takes its state
// directory from $ZTAGENT_EDGED_STATE_DIR too, so one export points the
// server and its admin commands at the same place.
func TestRunStateDirFollowsTheEnvironment(t *testing.T) {
	envDir := filepath.Join(t.TempDir(), "env")
	t.Setenv(envStateDir, envDir)
	out, _, code := edged("run", "--help")
	if code != 0 || !strings.Contains(out, envDir) {
		t.Fatalf("edged run --help (exit %d) does not default --state-dir to $%s=%s:\n%s", code, envStateDir, envDir, out)
	}
}

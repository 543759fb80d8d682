//go:build linux

package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	testproc "github.com/ztagent/ztagent/internal/testenv/proc"
	"github.com/ztagent/ztagent/pkg/ipc/ipcproto"
)

// mdmXML is an mdm.xml as an administrator writes it for a server.
func mdmXML(clientID, clientSecret string) string {
	return fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?>
<dict>
  <key>organization</key>
  <string>acme</string>
  <key>auth_client_id</key>
  <string>%s</string>
  <key>auth_client_secret</key>
  <string>%s</string>
  <key>switch_locked</key>
  <true/>
</dict>
`, clientID, clientSecret)
}

// serversToken reads the credentials edged minted for the example's
// "Servers" service token from its state directory, as an administrator
// would.
func (w *world) serversToken() (id, secret string) {
	w.t.Helper()
	b, err := os.ReadFile(filepath.Join(w.edgeState, "service-tokens.json"))
	if err != nil {
		w.fatalf("edged wrote no service token file: %v", err)
	}
	var f struct {
		Tokens []struct {
			Name         string `json:"name"`
			ClientID     string `json:"client_id"`
			ClientSecret string `json:"client_secret"`
		} `json:"tokens"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		w.fatalf("service-tokens.json: %v", err)
	}
	for _, t := range f.Tokens {
		if t.Name == "Servers" {
			return t.ClientID, t.ClientSecret
		}
	}
	w.fatalf("service-tokens.json has no Servers token:\n%s", b)
	return "", ""
}

// hup sends agentd SIGHUP and waits for the log line that says it read
// the MDM file again, or failed to.
func (w *world) hup(after int, match func(string) bool) int {
	w.t.Helper()
	if err := w.agent.Cmd().Process.Signal(syscall.SIGHUP); err != nil {
		w.fatalf("SIGHUP agentd: %v", err)
	}
	_, next, err := w.agent.WaitLine(testproc.Stderr, after, stepTimeout, match)
	if err != nil {
		w.fatalf("agentd did not answer SIGHUP as expected: %v", err)
	}
	return next
}

// TestE2E_UnattendedEnrollmentFromMDM: a server enrolls with no one at
// it. The administrator copies the Servers token's credentials from
// edged's state directory into mdm.xml; first with a mistyped secret,
// which agentd tries once and reports (file and reason) without retrying;
// then the right one, which agentd reads on SIGHUP and enrolls with: a
// non-identity device that reaches the wiki through the Servers Service
// Auth policy, and whose user may not turn the tunnel off.
func TestE2E_UnattendedEnrollmentFromMDM(t *testing.T) {
	var mdmFile string
	w := newWorldWith(t, func(w *world) {
		// The wiki admits the Servers token too (Service Auth).
		w.editTerraform(`    { id = cloudflare_zero_trust_access_policy.employees.id, precedence = 1 },
  ]
}

# The git web UI`, `    { id = cloudflare_zero_trust_access_policy.employees.id, precedence = 1 },
    { id = cloudflare_zero_trust_access_policy.servers.id, precedence = 2 },
  ]
}

# The git web UI`)
		mdmFile = filepath.Join(filepath.Dir(w.agentState), "mdm.xml")
		w.agentArgs = []string{"--mdm", mdmFile}
	})
	id, secret := w.serversToken()
	if out := w.agent.Output(testproc.Stderr).Count(func(s string) bool { return strings.Contains(s, secret) }); out != 0 {
		w.fatalf("agentd logged the secret")
	}

	wrong := strings.Repeat("0", len(secret))
	if err := os.WriteFile(mdmFile, []byte(mdmXML(id, wrong)), 0o600); err != nil {
		w.fatalf("%v", err)
	}
	at := w.hup(0, func(s string) bool { return strings.Contains(s, "unattended enrollment refused") })
	st := w.status()
	if st.State != ipcproto.StateUnregistered || !strings.Contains(st.Message, mdmFile) || !strings.Contains(st.Message, "client ID or secret is wrong") {
		w.fatalf("status after the wrong secret: %+v", st)
	}
	refused, _ := w.audit(0, "registration_refused")
	if len(refused) != 1 {
		w.fatalf("%d refused registrations at the edge after one wrong secret, want 1", len(refused))
	}

	if err := os.WriteFile(mdmFile, []byte(mdmXML(id, secret)), 0o600); err != nil {
		w.fatalf("%v", err)
	}
	w.hup(at, func(s string) bool { return strings.Contains(s, "enrolled unattended") })
	if _, _, err := w.agent.WaitLine(testproc.Stderr, at, stepTimeout, func(s string) bool {
		return strings.Contains(s, "control stream open") || strings.Contains(s, "connected")
	}); err != nil {
		w.fatalf("agentd did not connect after enrolling: %v", err)
	}
	st = w.status()
	if r := st.Registration; r == nil || r.EnrolledVia != "service_token" || r.User != "non_identity@acme.cloudflareaccess.com" {
		w.fatalf("registration after the unattended enrollment: %+v", st)
	}
	if out := w.mustCtl("status"); !strings.Contains(out, `unattended with the service token "Servers"`) || !strings.Contains(out, "no IdP") ||
		!strings.Contains(out, "none: no one signs in on a device enrolled with a service token") {
		w.fatalf("agentctl status:\n%s", out)
	}
	if r := w.get(wikiURL); !r.fromWiki() {
		w.fatalf("wiki from the service-token device: %v", r)
	}
	if _, err := w.ctl("disconnect"); err == nil && os.Geteuid() != 0 {
		w.fatalf("agentctl disconnect succeeded although mdm.xml locks the switch")
	}
	if n := w.agent.Output(testproc.Stderr).Count(func(s string) bool { return strings.Contains(s, secret) || strings.Contains(s, wrong) }); n != 0 {
		w.fatalf("agentd's log carries a service token secret (%d lines)", n)
	}
	if n := w.edge.Output(testproc.Stderr).Count(func(s string) bool { return strings.Contains(s, secret) }); n != 0 {
		w.fatalf("edged's log carries the service token secret (%d lines)", n)
	}
}

package simulator

import (
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ztagent/ztagent/pkg/apierror"
	"github.com/ztagent/ztagent/pkg/control"
)

// registerWithToken registers the test agent's device with a service
// token at the control API.
func (a *testAgent) registerWithToken(clientID, clientSecret string) (control.Registration, error) {
	api := &control.Client{BaseURL: a.sim.APIURL()}
	reg, err := api.Register(a.t.Context(), control.RegisterRequest{
		ServiceToken:      &control.ServiceTokenCredentials{ClientID: clientID, ClientSecret: clientSecret},
		WGPublicKey:       a.key.Public().String(),
		DeviceFingerprint: a.fingerprint, Name: "test-" + a.fingerprint, OS: "linux",
	})
	if err == nil {
		a.reg = reg
	}
	return reg, err
}

func wantRefusal(t *testing.T, err error, status int, code string) *apierror.Error {
	t.Helper()
	var ae *apierror.Error
	if !errors.As(err, &ae) || ae.Status != status || ae.Code != code {
		t.Fatalf("got %v, want %d %s", err, status, code)
	}
	return ae
}

// The example's service token "Servers" gets credentials minted into a
// 0600 file in the state directory, kept across a restart; a device
// registers with them as non_identity@acme.cloudflareaccess.com, with no
// IdP and no auth_time. A wrong secret and an unknown client ID get the
// same 401, audited, with the secret in no log line.
func TestServiceTokenEnrollment(t *testing.T) {
	tc := newTestConfig(t)
	dir := stateDir(t)
	s := startSim(t, tc.options(dir))
	path := filepath.Join(dir, serviceTokensFile)
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("%s: %v, %v; want a 0600 file", path, fi, err)
	}
	id, sec, ok := s.ServiceTokenCredentials("Servers")
	if !ok || !strings.HasSuffix(id, ".access") || len(sec.Reveal()) != 64 {
		t.Fatalf("credentials of Servers: %q, %d-character secret, %v", id, len(sec.Reveal()), ok)
	}
	var file tokensFileV1
	b, _ := os.ReadFile(path)
	if err := json.Unmarshal(b, &file); err != nil || len(file.Tokens) != 1 || file.Tokens[0].ClientID != id ||
		file.Tokens[0].ClientSecret != sec.Reveal() || file.Tokens[0].Address != "cloudflare_zero_trust_access_service_token.servers" {
		t.Fatalf("%s: %v\n%s", path, err, b)
	}

	a := newAgent(t, s, "fp-server")
	wantRefusal(t, func() error { _, err := a.registerWithToken(id, strings.Repeat("0", 64)); return err }(), http.StatusUnauthorized, control.CodeInvalidServiceToken)
	wantRefusal(t, func() error { _, err := a.registerWithToken("nobody.access", sec.Reveal()); return err }(), http.StatusUnauthorized, control.CodeInvalidServiceToken)
	if !slices.Contains(auditKinds(t, s), "registration_refused") {
		t.Errorf("no registration_refused in the audit log: %v", auditKinds(t, s))
	}
	reg, err := a.registerWithToken(id, sec.Reveal())
	if err != nil {
		t.Fatal(err)
	}
	if reg.User.Email != "non_identity@acme.cloudflareaccess.com" || !reg.AuthTime.IsZero() || reg.IdP.Type != "" ||
		reg.ServiceToken == nil || reg.ServiceToken.Name != "Servers" {
		t.Fatalf("registration: %+v", reg)
	}
	dev, err := s.reg.Get(t.Context(), reg.DeviceID)
	if err != nil || dev.ServiceTokenID == "" || !dev.AuthTime.IsZero() {
		t.Fatalf("registry: %+v, %v", dev, err)
	}

	// A restart keeps the credentials and the device.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := startSim(t, tc.options(dir))
	id2, sec2, _ := s2.ServiceTokenCredentials("Servers")
	if id2 != id || !sec2.Equal(sec) {
		t.Fatalf("after a restart the credentials changed: %q", id2)
	}
	if dev, err := s2.reg.Get(t.Context(), reg.DeviceID); err != nil || dev.ServiceTokenID == "" {
		t.Fatalf("registry after the restart: %+v, %v", dev, err)
	}
}

// A token no Service Auth policy of the enrollment permissions includes is
// refused 403; one past its duration 401 service_token_expired. The
// simulator file's credentials are used as given.
func TestServiceTokenRefusals(t *testing.T) {
	tc := newTestConfig(t)
	tc.writeTF(t, tc.readTF(t)+`
resource "cloudflare_zero_trust_access_service_token" "other" {
  account_id = var.cloudflare_account_id
  name       = "Other"
}
resource "cloudflare_zero_trust_access_service_token" "brief" {
  account_id = var.cloudflare_account_id
  name       = "Brief"
  duration   = "1h"
}
`)
	tc.editTF(t, `(?s)(resource "cloudflare_zero_trust_access_policy" "servers".*?include = \[\n)`,
		"${1}    { service_token = { token_id = cloudflare_zero_trust_access_service_token.brief.id } },\n")
	tc.writeSim(t, tc.readSim(t)+`
service_token "other" {
  client_id     = "other.access"
  client_secret = "other-secret-other-secret-other-secret"
}
`)
	s := startSim(t, tc.options(stateDir(t)))
	a := newAgent(t, s, "fp-server")
	_, err := a.registerWithToken("other.access", "other-secret-other-secret-other-secret")
	ae := wantRefusal(t, err, http.StatusForbidden, control.CodeEnrollmentNotPermitted)
	if !strings.Contains(ae.Message, `no Service Auth policy (decision = "non_identity") of "Device enrollment" includes the service token "Other"`) {
		t.Errorf("refusal: %v", ae)
	}
	id, sec, _ := s.ServiceTokenCredentials("Brief")
	advance(t, s, time.Hour+time.Second)
	_, err = a.registerWithToken(id, sec.Reveal())
	wantRefusal(t, err, http.StatusUnauthorized, control.CodeServiceTokenExpired)
}

// A service-token device is blocked, for good and without a
// session_expired signal, by a policy that checks the session: it has no
// IdP session. Identity-based policies do not match it.
func TestServiceTokenDeviceHasNoIdPSession(t *testing.T) {
	tc := newTestConfig(t)
	tc.writeTF(t, tc.readTF(t)+`
resource "cloudflare_zero_trust_gateway_policy" "ssh_recent_sign_in" {
  account_id  = var.cloudflare_account_id
  name        = "SSH needs a recent sign-in"
  enabled     = true
  action      = "allow"
  filters     = ["l4"]
  precedence  = 50
  traffic     = "net.dst.port == 22"
  rule_settings = {
    check_session = { enforce = true, duration = "8h" }
  }
}
`)
	s := startSim(t, tc.options(stateDir(t)))
	a := newAgent(t, s, "fp-server")
	id, sec, _ := s.ServiceTokenCredentials("Servers")
	if _, err := a.registerWithToken(id, sec.Reveal()); err != nil {
		t.Fatal(err)
	}
	ex, err := a.api().Explain(t.Context(), a.reg.DeviceID, "10.0.0.10:22", "tcp")
	if err != nil {
		t.Fatal(err)
	}
	if ex.Action != "block" || ex.Reason != "no_idp_session" || ex.SessionAge != "none" {
		t.Fatalf("explain: %+v", ex)
	}
	sess, err := a.api().Session(t.Context(), a.reg.DeviceID)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, p := range sess.Gateway {
		if p.Name == "SSH needs a recent sign-in" {
			found = p.NoIdPSession && p.Expired
		}
	}
	if !found || sess.Access != nil {
		t.Fatalf("session: %+v", sess)
	}
	ex, err = a.api().Explain(t.Context(), a.reg.DeviceID, "10.0.0.10:80", "tcp")
	if err != nil || ex.Reason == "session_expired" || ex.Reason == "no_idp_session" {
		t.Fatalf("the wiki's identity policy must not apply to the device: %+v, %v", ex, err)
	}

	// A real flow: blocked with no_idp_session and never signalled. The
	// Gateway queues a flow's audit record and its signal in one FIFO, so
	// once the record of a later flow is in the audit log, a signal of
	// the blocked one would be in the device's events.
	tun := a.startTunnel()
	if !dialRefused(t, tun, "10.0.0.10:22") {
		t.Fatal("ssh from the service-token device was let through")
	}
	dialRefused(t, tun, "10.0.0.10:9") // no policy: its record follows
	reasons := func() map[string]string {
		page, err := adminClient(s).Audit(t.Context(), 0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, r := range page.Records {
			var d struct{ Dst, Reason string }
			if r.Kind == "gateway_decision" && json.Unmarshal(r.Detail, &d) == nil {
				out[d.Dst] = d.Reason
			}
		}
		return out
	}
	deadline := time.Now().Add(30 * time.Second)
	got := reasons()
	for got["10.0.0.10:9"] == "" {
		if time.Now().After(deadline) {
			t.Fatalf("no audit record of the second flow: %v", got)
		}
		select {
		case <-t.Context().Done():
		case <-time.After(20 * time.Millisecond):
		}
		got = reasons()
	}
	if got["10.0.0.10:22"] != "no_idp_session" {
		t.Fatalf("ssh flow's audit reason %q, want no_idp_session (%v)", got["10.0.0.10:22"], got)
	}
	evs, err := s.reg.After(t.Context(), a.reg.DeviceID, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs {
		if ev.Type == control.EventSessionExpired {
			t.Fatalf("the service-token device was signalled session_expired: %+v", ev)
		}
	}
}

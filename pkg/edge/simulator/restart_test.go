package simulator

import (
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ztagent/ztagent/internal/secret"
	"github.com/ztagent/ztagent/pkg/apierror"
	"github.com/ztagent/ztagent/pkg/control"
	"github.com/ztagent/ztagent/pkg/edge/admin"
	"github.com/ztagent/ztagent/pkg/edge/registry"
)

// REL6: after a restart of the edge on the same state directory the device
// token still works, the edge keeps its WireGuard key and the device's
// peer, and a tunnel carries traffic again without a new registration.
// (An already-running tunnel recovers by itself too, but only after
// WireGuard's rekey timeout of about 15 s, too slow for this test.)
func TestREL6_RestartKeepsRegistrations(t *testing.T) {
	tc := newTestConfig(t)
	state := stateDir(t)
	opts := tc.options(state)
	opts.Listen = freeListeners(t)
	s1, err := Start(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	a := newAgent(t, s1, "fp-1")
	reg := a.enroll(alice)
	tn := a.startTunnel()
	if status, _, err := getThrough(t.Context(), tn, "http://wiki.acme.internal/"); err != nil || status != 200 {
		t.Fatalf("before restart: %d %v", status, err)
	}
	if err := s1.Close(); err != nil {
		t.Fatal(err)
	}

	s2 := startSim(t, opts)
	a.sim = s2
	d, err := a.api().Device(t.Context(), reg.DeviceID)
	if err != nil || d.State != "active" {
		t.Fatalf("after restart: %+v %v", d, err)
	}
	if got := s2.cfg.Load().settings(s2.wg).Tunnel.EdgePublicKey; got != reg.Tunnel.EdgePublicKey {
		t.Fatalf("the edge's WireGuard key changed across a restart: %s → %s", reg.Tunnel.EdgePublicKey, got)
	}
	// The agent's next tunnel (after its own restart, or a re-handshake
	// when its control stream reconnects) works with the same
	// registration: the edge restored the device's peer.
	if err := tn.Close(); err != nil {
		t.Fatal(err)
	}
	tn = a.startTunnel()
	if status, body, err := getThrough(t.Context(), tn, "http://wiki.acme.internal/again"); err != nil || status != 200 {
		t.Fatalf("after restart the tunnel does not carry traffic: %d %q %v", status, body, err)
	}
	for _, f := range []string{dbFile, adminTokenFile, wgKeyFile} {
		fi, err := os.Stat(filepath.Join(state, f))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s has mode %v; want no access for group and others", f, fi.Mode().Perm())
		}
	}
}

// REL7: a configuration with errors does not start, and every error is
// listed; a reload with errors keeps the old configuration and reports
// them.
func TestREL7_BadConfig(t *testing.T) {
	tc := newTestConfig(t)
	good := tc.readTF(t)
	tc.editTF(t, `duration\s*=\s*"1h30m0s"`, `duration = "soon"`)
	bad := tc.readTF(t)
	tc.writeTF(t, strings.Replace(bad, `duration = "1h"`, `duration = "-1h"`, 1))
	_, err := Start(t.Context(), tc.options(stateDir(t)))
	var ce *ConfigError
	if !errors.As(err, &ce) || len(ce.Diagnostics.Errors()) < 2 || !strings.Contains(ce.Error(), "main.tf:") {
		t.Fatalf("Start with two bad durations: %v", err)
	}

	tc.writeTF(t, good)
	s := startSim(t, tc.options(stateDir(t)))
	// The bad file also drops the prompt: a reload that applied part of
	// it would show.
	tc.writeTF(t, regexp.MustCompile(`(?m)^\s*prompt\s*=\s*"login"\s*$`).ReplaceAllString(bad, ""))
	res, err := adminClient(s).Reload(t.Context())
	if !apierror.HasCode(err, control.CodeInvalidConfig) || len(res.Errors) == 0 || !strings.Contains(res.Errors[0], "main.tf:") {
		t.Fatalf("bad reload: %v", err)
	}
	// The old configuration is in force, prompt included.
	a := newAgent(t, s, "fp-1")
	if team, err := a.api().Team(t.Context(), "acme"); err != nil || team.IdP.Prompt != "login" {
		t.Fatalf("after a refused reload the prompt is %q (%v)", team.IdP.Prompt, err)
	}
	a.enroll(alice)
	if res := refreshIdentity(t, a, alice); res.FormsShown != 1 {
		t.Fatal("after a refused reload, refresh-identity no longer asks for credentials")
	}
	kinds := auditKinds(t, s)
	if !containsKind(kinds, "config_reload_refused") {
		t.Fatalf("audit log lacks the refused reload: %v", kinds)
	}
}

func containsKind(kinds []string, k string) bool {
	for _, x := range kinds {
		if x == k {
			return true
		}
	}
	return false
}

// The event stream resumes: reconnecting with the last sequence number
// seen gives every later event once, nothing before it.
func TestEventsResume(t *testing.T) {
	tc := newTestConfig(t)
	s := startSim(t, tc.options(stateDir(t)))
	a := newAgent(t, s, "fp-1")
	reg := a.enroll(alice)
	for i := range 5 {
		if _, err := s.Registry().Append(t.Context(), reg.DeviceID, control.EventPolicyChanged, map[string]int{"n": i}); err != nil {
			t.Fatal(err)
		}
	}
	st, err := a.api().Events(t.Context(), reg.DeviceID, 0)
	if err != nil {
		t.Fatal(err)
	}
	first := nextEvent(t, st)
	second := nextEvent(t, st)
	st.Close()

	st, err = a.api().Events(t.Context(), reg.DeviceID, second.Seq)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	// Appended while connected: arrives after the backlog.
	if _, err := s.Registry().Append(t.Context(), reg.DeviceID, control.EventPolicyChanged, map[string]int{"n": 5}); err != nil {
		t.Fatal(err)
	}
	var seqs []int64
	for range 4 {
		seqs = append(seqs, nextEvent(t, st).Seq)
	}
	if first.Seq >= second.Seq {
		t.Fatalf("sequence numbers do not increase: %d, %d", first.Seq, second.Seq)
	}
	for i, seq := range seqs {
		if seq <= second.Seq || (i > 0 && seq <= seqs[i-1]) {
			t.Fatalf("after resuming at %d got %v", second.Seq, seqs)
		}
	}
	if _, err := a.api().Events(t.Context(), reg.DeviceID, -1); !apierror.HasCode(err, control.CodeBadRequest) {
		t.Fatalf("after=-1: %v", err)
	}
}

// The admin API needs its token; the clock moves simulated time, which the
// device's age follows.
func TestAdminAPI(t *testing.T) {
	tc := newTestConfig(t)
	s := startSim(t, tc.options(stateDir(t)))
	wrong := &admin.Client{BaseURL: s.APIURL(), Token: secret.New("wrong-admin-token")}
	if _, err := wrong.Devices(t.Context()); !apierror.HasCode(err, "unauthorized") {
		t.Fatalf("wrong admin token: %v", err)
	}
	noToken, err := http.Get(s.APIURL() + "/admin/v1/devices")
	if err != nil {
		t.Fatal(err)
	}
	noToken.Body.Close()
	if noToken.StatusCode != http.StatusUnauthorized || noToken.Header.Get(control.VersionHeader) != control.APIVersion {
		t.Fatalf("no admin token: %d, version %q", noToken.StatusCode, noToken.Header.Get(control.VersionHeader))
	}

	before := s.Clock().Now()
	st, err := adminClient(s).AdvanceClock(t.Context(), 90*time.Minute)
	if err != nil || st.Now.Sub(before) < 90*time.Minute || st.Offset != "1h30m0s" {
		t.Fatalf("advance: %+v %v", st, err)
	}
	if _, err := adminClient(s).AdvanceClock(t.Context(), -time.Hour); err == nil {
		t.Fatal("the clock moved back")
	}
	var notFound *apierror.Error
	if _, err := adminClient(s).Revoke(t.Context(), "no-such-device"); !errors.As(err, &notFound) || notFound.Status != http.StatusNotFound || notFound.Code != registry.CodeNotFound {
		t.Fatalf("revoke of an unknown device: %v", err)
	}
}

// Settings that need a restart stay as they were after a reload that
// changes them, and the reload says so: a new client_id would not be known
// to the running IdP.
func TestReloadKeepsRestartOnlySettings(t *testing.T) {
	tc := newTestConfig(t)
	s := startSim(t, tc.options(stateDir(t)))
	a := newAgent(t, s, "fp-1")
	a.enroll(alice)
	tc.editTF(t, `client_id\s*=\s*"[^"]*"`, `client_id = "another-client"`)
	res, err := adminClient(s).Reload(t.Context())
	if err != nil || !res.Reloaded || !strings.Contains(strings.Join(res.Warnings, "\n"), "client_id") {
		t.Fatalf("reload: %+v %v", res, err)
	}
	refreshIdentity(t, a, alice) // fails unless the old client is still used
}

// The simulated time survives a restart: auth_times stamped after an
// advance would otherwise lie in the future.
func TestClockOffsetSurvivesRestart(t *testing.T) {
	tc := newTestConfig(t)
	opts := tc.options(stateDir(t))
	s1, err := Start(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := adminClient(s1).AdvanceClock(t.Context(), 2*time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := s1.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := startSim(t, opts)
	if got := s2.Clock().Offset(); got != 2*time.Hour {
		t.Fatalf("offset after restart: %v, want 2h", got)
	}
}

// Close ends open event streams, even one whose client reads nothing: the
// stream ends with the simulator's base context, so its client reads the
// end of the response. A stream Close had to wait out the shutdown grace
// for would be cut off instead, and its client would see the body broken;
// the proof is that ordering, not how long Close took.
func TestCloseWithOpenStream(t *testing.T) {
	tc := newTestConfig(t)
	s, err := Start(t.Context(), tc.options(stateDir(t)))
	if err != nil {
		t.Fatal(err)
	}
	a := newAgent(t, s, "fp-1")
	reg := a.enroll(alice)
	st, err := a.api().Events(t.Context(), reg.DeviceID, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	start := time.Now()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("Close took %v with an open event stream", time.Since(start))
	for {
		_, err := st.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatalf("the event stream was cut off rather than ended by Close: %v", err)
		}
	}
}

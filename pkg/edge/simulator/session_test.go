package simulator

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ztagent/ztagent/internal/testenv/scriptbrowser"
	"github.com/ztagent/ztagent/pkg/apierror"
	"github.com/ztagent/ztagent/pkg/control"
	"github.com/ztagent/ztagent/pkg/edge/registry"
)

// nextEvent reads the next event with a deadline, passing over
// clock_changed: every advance of the simulated time announces itself, and
// these tests are about what follows it.
func nextEvent(t *testing.T, st *control.EventStream) control.Event {
	t.Helper()
	type res struct {
		ev  control.Event
		err error
	}
	for {
		ch := make(chan res, 1)
		go func() {
			ev, err := st.Next()
			ch <- res{ev, err}
		}()
		select {
		case r := <-ch:
			if r.err != nil {
				t.Fatalf("event stream: %v", r.err)
			}
			if r.ev.Type == control.EventClockChanged {
				continue
			}
			return r.ev
		case <-time.After(15 * time.Second):
			t.Fatal("no event within 15s")
			return control.Event{}
		}
	}
}

func refreshIdentity(t *testing.T, a *testAgent, user *scriptbrowser.Credentials) *scriptbrowser.Result {
	t.Helper()
	res, err := a.browser.Visit(t.Context(), a.reg.Team.RefreshIdentityURL, scriptbrowser.VisitOptions{Login: user})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != 200 {
		t.Fatalf("refresh-identity ended with %d at %s: %s %s", res.Status, res.URL, res.ErrorText, res.Body)
	}
	return res
}

// S2: any successful IdP authentication of the user resets the age of every
// device of that user: here the enrollment of a second device, then a
// refresh-identity from it, each move the first device's auth_time and put
// a session_refreshed event on its stream.
func TestS2_AnyLoginResetsSession(t *testing.T) {
	tc := newTestConfig(t)
	s := startSim(t, tc.options(stateDir(t)))
	laptop := newAgent(t, s, "fp-laptop")
	first := laptop.enroll(alice)
	st, err := laptop.api().Events(t.Context(), first.DeviceID, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()

	if _, err := adminClient(s).AdvanceClock(t.Context(), 2*time.Hour); err != nil {
		t.Fatal(err)
	}
	phone := newAgent(t, s, "fp-phone")
	second := phone.enroll(alice)
	if !second.AuthTime.After(first.AuthTime.Add(2*time.Hour - time.Minute)) {
		t.Fatalf("second login auth_time %v is not ~2h after the first %v", second.AuthTime, first.AuthTime)
	}
	ev := nextEvent(t, st)
	var p control.SessionRefreshed
	if ev.Type != control.EventSessionRefreshed || json.Unmarshal(ev.Payload, &p) != nil || !p.AuthTime.Equal(second.AuthTime) {
		t.Fatalf("laptop got %+v (%s), want session_refreshed at %v", ev, ev.Payload, second.AuthTime)
	}
	d, err := laptop.api().Device(t.Context(), first.DeviceID)
	if err != nil || !d.AuthTime.Equal(second.AuthTime) {
		t.Fatalf("laptop auth_time %v, %v; want %v", d.AuthTime, err, second.AuthTime)
	}

	// refresh-identity from the phone's browser resets the laptop too.
	if _, err := adminClient(s).AdvanceClock(t.Context(), time.Hour); err != nil {
		t.Fatal(err)
	}
	refreshIdentity(t, phone, alice)
	ev = nextEvent(t, st)
	if ev.Type != control.EventSessionRefreshed || json.Unmarshal(ev.Payload, &p) != nil || !p.AuthTime.After(second.AuthTime) {
		t.Fatalf("after refresh-identity the laptop got %+v", ev)
	}
}

// S11: with an IdP browser session, prompt=login (azureAD) still shows the
// form on refresh-identity; once a reload removes the prompt, the IdP
// session re-authenticates silently. The audit log shows each prompt.
func TestS11_PromptLoginForcesForm(t *testing.T) {
	tc := newTestConfig(t)
	s := startSim(t, tc.options(stateDir(t)))
	a := newAgent(t, s, "fp-1")
	a.enroll(alice) // leaves an IdP session cookie in the browser

	res := refreshIdentity(t, a, alice)
	if res.FormsShown != 1 {
		t.Fatalf("prompt=login: %d login forms shown, want 1", res.FormsShown)
	}

	tc.editTF(t, `(?m)^\s*prompt\s*=\s*"login"\s*$`, "")
	if res, err := adminClient(s).Reload(t.Context()); err != nil || !res.Reloaded {
		t.Fatalf("reload: %+v %v", res, err)
	}
	before, err := a.api().Device(t.Context(), a.reg.DeviceID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := adminClient(s).AdvanceClock(t.Context(), time.Hour); err != nil {
		t.Fatal(err)
	}
	team, err := a.api().Team(t.Context(), "acme")
	if err != nil || team.IdP.Prompt != "" {
		t.Fatalf("after reload the team says prompt %q (%v)", team.IdP.Prompt, err)
	}
	res = refreshIdentity(t, a, nil)
	if res.FormShown() {
		t.Fatal("without prompt, the IdP session did not re-authenticate silently")
	}
	// The silent re-authentication resets the session (S2), although the
	// IdP's own auth_time is still that of the password entry.
	after, err := a.api().Device(t.Context(), a.reg.DeviceID)
	if err != nil || after.AuthTime.Sub(before.AuthTime) < time.Hour {
		t.Fatalf("auth_time %v → %v (%v) after a silent re-authentication an hour later", before.AuthTime, after.AuthTime, err)
	}

	page, err := adminClient(s).Audit(t.Context(), 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var prompts []string
	for _, r := range page.Records {
		if r.Kind != "idp_authorize" {
			continue
		}
		var d struct {
			Prompt        string `json:"prompt"`
			SessionReused bool   `json:"session_reused"`
		}
		if err := json.Unmarshal(r.Detail, &d); err != nil {
			t.Fatal(err)
		}
		prompts = append(prompts, d.Prompt)
	}
	if len(prompts) < 3 || prompts[len(prompts)-2] != "login" || prompts[len(prompts)-1] != "" {
		t.Fatalf("authorize prompts in the audit log: %q", prompts)
	}
}

// S11: prompt on an IdP that is not azureAD is a configuration error.
func TestS11_PromptOnOtherIdPRefused(t *testing.T) {
	tc := newTestConfig(t)
	tc.editTF(t, `type\s*=\s*"azureAD"`, `type = "okta"`)
	_, err := Start(t.Context(), tc.options(stateDir(t)))
	var ce *ConfigError
	if err == nil || !asConfigError(err, &ce) || !strings.Contains(ce.Error(), "prompt") {
		t.Fatalf("Start = %v, want a configuration error about prompt", err)
	}
}

func asConfigError(err error, dst **ConfigError) bool {
	ce, ok := err.(*ConfigError)
	*dst = ce
	return ok
}

// S12: a group change in the simulator file, reloaded, reaches the device
// after refresh-identity.
func TestS12_GroupChangeAfterRefreshIdentity(t *testing.T) {
	tc := newTestConfig(t)
	s := startSim(t, tc.options(stateDir(t)))
	a := newAgent(t, s, "fp-1")
	reg := a.enroll(alice)

	sim := tc.readSim(t)
	changed := strings.Replace(sim, `groups   = ["engineering"]`, `groups   = ["engineering", "sre"]`, 1)
	if changed == sim {
		t.Fatal("the example simulator file changed shape; update the test")
	}
	tc.writeSim(t, changed)
	if res, err := adminClient(s).Reload(t.Context()); err != nil || !res.Reloaded {
		t.Fatalf("reload: %+v %v", res, err)
	}
	d, _ := a.api().Device(t.Context(), reg.DeviceID)
	if slices.Contains(d.User.Groups, "sre") {
		t.Fatal("groups changed before the user re-authenticated")
	}
	refreshIdentity(t, a, alice)
	d, err := a.api().Device(t.Context(), reg.DeviceID)
	if err != nil || !slices.Equal(d.User.Groups, []string{"engineering", "sre"}) {
		t.Fatalf("groups after refresh-identity: %v (%v)", d.User.Groups, err)
	}
}

// S13: one user per device. Bob is refused on alice's device (409 naming
// alice) until alice leaves; leaving is refused when the device profile
// does not allow it; an admin revoke frees the device too.
func TestS13_OneUserPerDevice(t *testing.T) {
	tc := newTestConfig(t)
	s := startSim(t, tc.options(stateDir(t)))
	a := newAgent(t, s, "fp-shared")
	regA := a.enroll(alice)

	b := newAgent(t, s, "fp-shared")
	_, err := b.register(b.login(bob))
	var apiErr *apierror.Error
	if !errors.As(err, &apiErr) || apiErr.Status != 409 || apiErr.Code != registry.CodeOtherUser || apiErr.User != alice.Email {
		t.Fatalf("bob on alice's device: %v", err)
	}
	if err := a.api().Leave(t.Context(), regA.DeviceID); err != nil {
		t.Fatalf("alice leaves: %v", err)
	}
	regB := b.enroll(bob)

	// Not allowed to leave: bob stays until an admin revokes the device.
	tc.editTF(t, `allowed_to_leave\s*=\s*true`, "allowed_to_leave = false")
	if res, err := adminClient(s).Reload(t.Context()); err != nil || !res.Reloaded {
		t.Fatalf("reload: %+v %v", res, err)
	}
	err = b.api().Leave(t.Context(), regB.DeviceID)
	if !errors.As(err, &apiErr) || apiErr.Status != 403 || apiErr.Code != registry.CodeNotAllowedLeave {
		t.Fatalf("leave while not allowed: %v", err)
	}
	if _, err := adminClient(s).Revoke(t.Context(), regB.DeviceID); err != nil {
		t.Fatal(err)
	}
	c := newAgent(t, s, "fp-shared")
	if reg := c.enroll(alice); reg.User.Email != alice.Email {
		t.Fatalf("alice after revoke: %+v", reg.User)
	}
}

// S14: an admin revoke puts device_revoked on the device's stream (its last
// line), the token stops working and the WireGuard peer goes away, so the
// tunnel carries no new flow.
func TestS14_RevokeSignalsAndStopsTraffic(t *testing.T) {
	tc := newTestConfig(t)
	s := startSim(t, tc.options(stateDir(t)))
	a := newAgent(t, s, "fp-1")
	reg := a.enroll(alice)
	tn := a.startTunnel()
	if status, _, err := getThrough(t.Context(), tn, "http://wiki.acme.internal/"); err != nil || status != 200 {
		t.Fatalf("before revoke: %d %v", status, err)
	}
	// The dial that must fail after the revoke, timed while it works.
	began := time.Now()
	c, err := tn.DialContext(t.Context(), "tcp", "10.0.0.10:80")
	if err != nil {
		t.Fatalf("dial before revoke: %v", err)
	}
	dialed := time.Since(began)
	c.Close()
	st, err := a.api().Events(t.Context(), reg.DeviceID, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()

	if _, err := adminClient(s).Revoke(t.Context(), reg.DeviceID); err != nil {
		t.Fatal(err)
	}
	if ev := nextEvent(t, st); ev.Type != control.EventDeviceRevoked {
		t.Fatalf("event after revoke: %+v", ev)
	}
	if _, err := st.Next(); err != io.EOF {
		t.Fatalf("the stream went on after device_revoked: %v", err)
	}
	if _, err := a.api().Events(t.Context(), reg.DeviceID, 0); !apierror.HasCode(err, registry.CodeRevoked) {
		t.Fatalf("reconnecting a revoked device's stream: %v", err)
	}
	// The edge dropped the peer: nothing comes back through the tunnel. A
	// peer still there would connect in about the dial timed above; twenty
	// of those leave room for a busier moment.
	t.Logf("a dial took %v before the revoke; it is given %v after", dialed, 20*dialed)
	ctx, cancel := context.WithTimeout(t.Context(), 20*dialed)
	defer cancel()
	if c, err := tn.DialContext(ctx, "tcp", "10.0.0.10:80"); err == nil {
		c.Close()
		t.Fatal("a revoked device still opens connections through the tunnel")
	}
	devs, err := adminClient(s).Devices(t.Context())
	if err != nil || len(devs) != 1 || devs[0].State != "revoked" {
		t.Fatalf("devices after revoke: %+v %v", devs, err)
	}
}

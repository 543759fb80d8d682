package simulator

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/ztagent/ztagent/internal/testenv/scriptbrowser"
	"github.com/ztagent/ztagent/pkg/apierror"
	"github.com/ztagent/ztagent/pkg/control"
)

// The example organization's device enrollment permissions (a type "warp"
// application allowing the Employees policy) let alice register and
// refuse mallory, who signs in but is no employee: with a page saying why,
// no enrollment code, and an audit record.
func TestEnrollmentPermissionsRefuseOutsiders(t *testing.T) {
	tc := newTestConfig(t)
	s := startSim(t, tc.options(stateDir(t)))

	m := newAgent(t, s, "fp-mallory").visitWARP(mallory)
	res := m.result
	if res.Stopped || res.Status != http.StatusForbidden || !res.FormShown() {
		t.Fatalf("mallory at /warp: stopped %v, status %d after %d login forms; want a 403 page after her sign-in", res.Stopped, res.Status, res.FormsShown)
	}
	for _, want := range []string{"You cannot register a device", "no device enrollment policy of", "Device enrollment", mallory.Email} {
		if !strings.Contains(res.Body, want) {
			t.Errorf("the refusal page lacks %q:\n%s", want, res.Body)
		}
	}
	if !slices.Contains(auditKinds(t, s), "access_enrollment_refused") {
		t.Errorf("no access_enrollment_refused in the audit log: %v", auditKinds(t, s))
	}
	newAgent(t, s, "fp-alice").enroll(alice)
}

// A reload that narrows the enrollment permissions applies to a code
// already handed out: the control API refuses bob's registration with
// enrollment_not_permitted. The new policy names the engineering group by
// its Entra object ID, which the simulator file gives it, so alice still
// registers.
func TestEnrollmentPermissionsFollowReloadAtTheControlAPI(t *testing.T) {
	tc := newTestConfig(t)
	s := startSim(t, tc.options(stateDir(t)))
	b := newAgent(t, s, "fp-bob")
	code := b.login(bob)

	tc.writeTF(t, tc.readTF(t)+`
resource "cloudflare_zero_trust_access_policy" "engineers" {
  account_id = var.cloudflare_account_id
  name       = "Engineers"
  decision   = "allow"
  include = [
    { azure_ad = { id = "5b2c7e1a-4d3f-4a8e-9c6b-2f1e0d9a8c7b", identity_provider_id = cloudflare_zero_trust_access_identity_provider.entra_id.id } },
  ]
}
`)
	tc.editTF(t, `(?s)(type\s+= "warp".*?policies = \[\s*)\{ id = cloudflare_zero_trust_access_policy\.employees\.id`,
		`${1}{ id = cloudflare_zero_trust_access_policy.engineers.id`)
	if r := s.Reload(t.Context()); !r.Reloaded {
		t.Fatalf("reload: %+v", r)
	}

	_, err := b.register(code)
	var ae *apierror.Error
	if !errors.As(err, &ae) || ae.Code != control.CodeEnrollmentNotPermitted || ae.Status != http.StatusForbidden ||
		!strings.Contains(ae.Message, `no device enrollment policy of "Device enrollment" includes bob@example.com`) || ae.Hint == "" {
		t.Fatalf("bob's registration after the reload: %v; want 403 %s naming the permissions", err, control.CodeEnrollmentNotPermitted)
	}
	if !slices.Contains(auditKinds(t, s), "registration_refused") {
		t.Errorf("no registration_refused in the audit log: %v", auditKinds(t, s))
	}
	newAgent(t, s, "fp-alice").enroll(alice)
}

// allowed_idps that leave out the IdP the built-in IdP plays: enrollment
// and the application's login refuse before any sign-in, naming the
// providers they accept, and validation warns.
func TestAllowedIdPsRefuseTheIdPTheyLeaveOut(t *testing.T) {
	tc := newTestConfig(t)
	tc.writeTF(t, tc.readTF(t)+`
resource "cloudflare_zero_trust_access_identity_provider" "pin" {
  account_id = var.cloudflare_account_id
  name       = "One-time PIN"
  type       = "onetimepin"
  config     = {}
}
`)
	tc.editTF(t, `allowed_idps\s*= \[cloudflare_zero_trust_access_identity_provider\.entra_id\.id\]`,
		`allowed_idps = [cloudflare_zero_trust_access_identity_provider.pin.id]`)
	tc.editTF(t, `(domain\s+= "wiki\.acme\.internal")`, "$1\n  allowed_idps = [cloudflare_zero_trust_access_identity_provider.pin.id]")
	s := startSim(t, tc.options(stateDir(t)))

	warned := 0
	for _, d := range s.cfg.Load().diags.Warnings() {
		if strings.Contains(d.Message, "allowed_idps leave out cloudflare_zero_trust_access_identity_provider.entra_id") {
			warned++
		}
	}
	if warned != 2 {
		t.Errorf("%d allowed_idps warnings, want 2 (enrollment and wiki):\n%s", warned, s.cfg.Load().diags.String())
	}

	res := newAgent(t, s, "fp-alice").visitWARP(alice).result
	if res.Stopped || res.Status != http.StatusForbidden || res.FormShown() ||
		!strings.Contains(res.Body, "Device enrollment accepts only") || !strings.Contains(res.Body, "One-time PIN") {
		t.Fatalf("/warp: stopped %v, status %d, %d login forms:\n%s", res.Stopped, res.Status, res.FormsShown, res.Body)
	}

	res, err := newAgent(t, s, "fp-web").browser.Visit(t.Context(), s.TeamDomainURL()+"/cdn-cgi/access/login/wiki.acme.internal", scriptbrowser.VisitOptions{Login: alice})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != http.StatusForbidden || res.FormShown() || !strings.Contains(res.Body, "Sign-in to Company wiki accepts only") {
		t.Fatalf("wiki login: status %d, %d login forms:\n%s", res.Status, res.FormsShown, res.Body)
	}
}

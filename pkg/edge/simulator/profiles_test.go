package simulator

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/ztagent/ztagent/pkg/apierror"
	"github.com/ztagent/ztagent/pkg/edge/registry"
)

const financeProfileTF = `
resource "cloudflare_zero_trust_device_custom_profile" "finance" {
  account_id       = var.cloudflare_account_id
  name             = "Finance laptops"
  match            = "identity.groups.name == \"finance\" and os.name == \"linux\""
  precedence       = 10
  allowed_to_leave = false
}

resource "cloudflare_zero_trust_device_custom_profile" "everyone_on_windows" {
  account_id       = var.cloudflare_account_id
  name             = "Windows"
  match            = "os.name == \"windows\""
  precedence       = 5
  allowed_to_leave = false
}
`

// S13 "if allowed", per device: the custom profile whose match selects
// the device's user and OS decides whether its user may leave. Bob (group
// finance, on linux) gets "Finance laptops", which forbids it, and the
// refusal names the profile; alice matches no custom profile and gets the
// default one, which allows it. Disabling the profile is seen at once.
func TestS13_CustomProfileDecidesWhoMayLeave(t *testing.T) {
	tc := newTestConfig(t)
	tc.writeTF(t, tc.readTF(t)+financeProfileTF)
	s := startSim(t, tc.options(stateDir(t)))
	a, b := newAgent(t, s, "fp-alice"), newAgent(t, s, "fp-bob")
	regA, regB := a.enroll(alice), b.enroll(bob)

	err := b.api().Leave(t.Context(), regB.DeviceID)
	var ae *apierror.Error
	if !errors.As(err, &ae) || ae.Status != http.StatusForbidden || ae.Code != registry.CodeNotAllowedLeave || !strings.Contains(ae.Message, `"Finance laptops"`) {
		t.Fatalf("bob leaves under the finance profile: %v; want 403 %s naming the profile", err, registry.CodeNotAllowedLeave)
	}
	if err := a.api().Leave(t.Context(), regA.DeviceID); err != nil {
		t.Fatalf("alice leaves under the default profile: %v", err)
	}

	tc.editTF(t, `(precedence       = 10\n)`, "$1  enabled          = false\n")
	if r := s.Reload(t.Context()); !r.Reloaded {
		t.Fatalf("reload: %+v", r)
	}
	if err := b.api().Leave(t.Context(), regB.DeviceID); err != nil {
		t.Fatalf("bob leaves once the finance profile is disabled: %v", err)
	}
}

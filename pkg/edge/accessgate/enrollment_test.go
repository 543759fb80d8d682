package accessgate

import (
	"strings"
	"testing"

	"github.com/ztagent/ztagent/pkg/tfconfig"
)

func enrollmentOf(policies ...tfconfig.AppPolicy) *Enrollment {
	return CompileEnrollment(&tfconfig.Config{AccessApplications: []*tfconfig.AccessApplication{
		{Name: "Wiki", Type: "self_hosted", Policies: []tfconfig.AppPolicy{{Policy: pol("everyone", DecisionAllow, rules(rule("everyone", "")), nil, nil)}}},
		{Name: "Device enrollment", Type: tfconfig.TypeWARPApp, AllowedIdPs: []string{"idp-entra"}, Policies: policies},
	}})
}

// Enrollment decides as Access does: the first allow or deny policy that
// matches, in precedence order; none matching, or no policy at all,
// refuses. Only the "warp" application counts, and without one everyone
// may enroll.
func TestEnrollmentPermit(t *testing.T) {
	staff := pol("Staff", DecisionAllow, rules(rule("email_domain", "example.com")), nil, nil)
	noBob := pol("No Bob", DecisionDeny, rules(rule("email", "bob@example.com")), nil, nil)
	bob := &Identity{Email: "bob@example.com"}
	mallory := &Identity{Email: "mallory@contractor.test"}
	e := enrollmentOf(tfconfig.AppPolicy{Policy: staff, Precedence: 2}, tfconfig.AppPolicy{Policy: noBob, Precedence: 1})
	for _, c := range []struct {
		id      *Identity
		allowed bool
		policy  string
		reason  string
	}{
		{aliceID, true, "Staff", ""},
		{bob, false, "No Bob", `the device enrollment policy "No Bob" of "Device enrollment" blocks bob@example.com`},
		{mallory, false, "", `no device enrollment policy of "Device enrollment" includes mallory@contractor.test`},
	} {
		v := e.Permit(*c.id)
		if v.Allowed != c.allowed || v.Policy != c.policy || v.Reason != c.reason {
			t.Errorf("%s: %+v; want allowed %v by %q, reason %q", c.id.Email, v, c.allowed, c.policy, c.reason)
		}
	}
	if v := enrollmentOf().Permit(*aliceID); v.Allowed || !strings.Contains(v.Reason, "have no policy") {
		t.Errorf("no policy: %+v; want a refusal saying so", v)
	}
	if v := CompileEnrollment(&tfconfig.Config{}).Permit(*mallory); !v.Allowed {
		t.Errorf("without a warp application: %+v; want allowed", v)
	}
	if !e.OffersIdP("idp-entra") || e.OffersIdP("idp-pin") || !CompileEnrollment(nil).OffersIdP("idp-pin") {
		t.Error("OffersIdP does not follow allowed_idps")
	}
}

package simulator

import (
	"slices"
	"testing"

	"github.com/ztagent/ztagent/pkg/edge/gateway"
	"github.com/ztagent/ztagent/pkg/tfconfig"
)

// A device's identity gets from the simulator file's directory its groups'
// IDs and e-mails (by the group names the login gave) and its user's SAML
// attributes and OIDC claims (by e-mail, case-insensitively); a user the
// file does not know keeps what the login gave.
func TestDirectoryEnrichesIdentity(t *testing.T) {
	c := &config{sim: &tfconfig.Sim{
		IdP: tfconfig.SimIdP{
			Groups: []*tfconfig.Group{
				{Name: "engineering", ID: "g-eng", Email: "eng@acme.example"},
				{Name: "finance", Email: "fin@acme.example"},
			},
			Users: []*tfconfig.User{{Email: "alice@example.com", SAMLAttributes: []string{"department=Eng"}, OIDCClaims: []string{"team=platform"}}},
		},
		Network: tfconfig.Network{VNetID: "v-1", Hosts: []*tfconfig.HostCategories{{Name: "news.example", Content: []int{7}}}},
	}}
	id := c.directory(gateway.Identity{Email: "Alice@Example.com", Groups: []string{"Engineering", "finance", "other"}})
	if !slices.Equal(id.GroupIDs, []string{"g-eng"}) || !slices.Equal(id.GroupEmails, []string{"eng@acme.example", "fin@acme.example"}) ||
		!slices.Equal(id.SAMLAttributes, []string{"department=Eng"}) || !slices.Equal(id.OIDCClaims, []string{"team=platform"}) {
		t.Errorf("identity = %+v", id)
	}
	if id := c.directory(gateway.Identity{Email: "carol@elsewhere.test"}); id.GroupIDs != nil || id.SAMLAttributes != nil {
		t.Errorf("an unknown user got %+v", id)
	}
	st := c.site()
	if st.VNetID != "v-1" || !slices.Equal(st.Categories["news.example"].Content, []int{7}) {
		t.Errorf("site = %+v", st)
	}
}

package simulator

import (
	"github.com/ztagent/ztagent/pkg/edge/access"
	"github.com/ztagent/ztagent/pkg/tfconfig"
)

// externalIdPs returns the identity providers of the configuration the
// built-in IdP does not play and the team domain can sign in with, and why
// each other one cannot be (by Terraform address).
func externalIdPs(tf *tfconfig.Config, sim *tfconfig.Sim) ([]access.IdP, map[string]string) {
	var out []access.IdP
	why := map[string]string{}
	for _, p := range tf.IdentityProviders {
		if p == sim.IdP.Provider {
			continue
		}
		base := ""
		if e := sim.IdP.ExternalFor(p.Label); e != nil {
			base = e.BaseURL
		}
		idp, err := access.ExternalIdP(p, base)
		if err != nil {
			why[p.Address()] = err.Error()
			continue
		}
		out = append(out, idp)
	}
	return out, why
}

// signInIdPs returns the IDs of the identity providers the team domain
// signs in with: the played one first, then the external ones.
func (c *config) signInIdPs() []string {
	ids := []string{c.sim.IdP.Provider.ID}
	for _, p := range c.external {
		ids = append(ids, p.ID)
	}
	return ids
}

// namesIdPs reports whether links for a device must name the IdP it
// enrolled with (refresh-identity, the block page, Access logins): the
// organization signs in with more than one.
func (c *config) namesIdPs() bool { return len(c.external) > 0 }

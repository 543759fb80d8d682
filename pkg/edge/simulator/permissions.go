package simulator

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/ztagent/ztagent/pkg/edge/access"
	"github.com/ztagent/ztagent/pkg/edge/accessgate"
	"github.com/ztagent/ztagent/pkg/edge/controlapi"
	"github.com/ztagent/ztagent/pkg/edge/gateway"
	"github.com/ztagent/ztagent/pkg/tfconfig"
)

// permissions are the configuration in force's rules for who signs in
// where: the applications' allowed_idps and the device enrollment
// permissions (the type "warp" application). They read the configuration
// per call, so a reload applies to the next sign-in.
type permissions struct{ s *Simulator }

var _ access.Permissions = permissions{}

// LoginIdPs returns the identity providers a sign-in may use: those the
// application's (or the device enrollment permissions') allowed_idps name
// among the ones the team domain signs in with, or an error naming both
// sides when none is left.
func (p permissions) LoginIdPs(trigger access.Trigger, app string) ([]string, error) {
	cfg := p.s.cfg.Load()
	var a *tfconfig.AccessApplication
	what := ""
	switch trigger {
	case access.TriggerEnrollment:
		a, what = cfg.tf.EnrollmentApp(), "Device enrollment"
	case access.TriggerAccessLogin:
		for _, x := range cfg.tf.AccessApplications {
			if servesHost(x, app) {
				a, what = x, "Sign-in to "+x.Name
				break
			}
		}
	}
	if a == nil || len(a.AllowedIdPs) == 0 {
		return nil, nil
	}
	var ids []string
	for _, id := range cfg.signInIdPs() {
		if a.OffersIdP(id) {
			ids = append(ids, id)
		}
	}
	if len(ids) > 0 {
		return ids, nil
	}
	return nil, cfg.noIdPLeft(a, what)
}

// Enroll applies the device enrollment policies to the person who signed
// in.
func (p permissions) Enroll(l access.Login) error {
	return p.s.cfg.Load().mayEnroll(l.Email, l.Name, l.Groups)
}

// mayEnrollAPI is controlapi.Options.MayEnroll: the same policies, asked
// again when the agent redeems its code, in case a reload changed them.
func (s *Simulator) mayEnrollAPI(l controlapi.Login) error {
	return s.cfg.Load().mayEnroll(l.Email, l.Name, l.Groups)
}

// mayEnroll applies the enrollment policies. Group selectors match the
// user's group names and, where the simulator file gives them, the groups'
// IDs: real Entra ID policies name groups by object ID.
func (c *config) mayEnroll(email, name string, groups []string) error {
	ids := c.directory(gateway.Identity{Email: email, Groups: groups}).GroupIDs
	v := c.enrollment.Permit(accessgate.Identity{Email: email, Name: name, Groups: append(slices.Clone(groups), ids...)})
	if !v.Allowed {
		return errors.New(v.Reason)
	}
	return nil
}

// noIdPLeft is the refusal of a sign-in whose application allows none of
// the identity providers the team domain signs in with.
func (c *config) noIdPLeft(app *tfconfig.AccessApplication, what string) error {
	var allowed, here []string
	for _, id := range app.AllowedIdPs {
		allowed = append(allowed, fmt.Sprintf("%q", c.tf.IdentityProviderName(id)))
	}
	for _, id := range c.signInIdPs() {
		here = append(here, fmt.Sprintf("%q", c.tf.IdentityProviderName(id)))
	}
	return fmt.Errorf("%s accepts only %s, and this team domain signs in with %s. Ask your administrator to allow one of those for %q", what, strings.Join(allowed, ", "), strings.Join(here, ", "), app.Name)
}

// servesHost reports whether app is served at host (lower case, no port).
func servesHost(app *tfconfig.AccessApplication, host string) bool {
	return slices.Contains(app.Hosts(), host)
}

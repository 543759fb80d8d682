package simulator

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/ztagent/ztagent/pkg/edge/access"
	"github.com/ztagent/ztagent/pkg/edge/accessgate"
	"github.com/ztagent/ztagent/pkg/edge/controlapi"
	"github.com/ztagent/ztagent/pkg/tfconfig"
)

// permissions are the configuration in force's rules for who signs in
// where: the applications' allowed_idps and the device enrollment
// permissions (the type "warp" application). They read the configuration
// per call, so a reload applies to the next sign-in.
type permissions struct{ s *Simulator }

var _ access.Permissions = permissions{}

// AppLogin refuses the login of an application whose allowed_idps leave
// out the identity provider the built-in IdP plays.
func (p permissions) AppLogin(host string) error {
	cfg := p.s.cfg.Load()
	for _, app := range cfg.tf.AccessApplications {
		if !servesHost(app, host) {
			continue
		}
		if err := cfg.offers(app, "Sign-in to "+app.Name); err != nil {
			return err
		}
	}
	return nil
}

// EnrollmentLogin refuses enrollment when the device enrollment
// permissions' allowed_idps leave out the IdP the built-in IdP plays.
func (p permissions) EnrollmentLogin() error {
	cfg := p.s.cfg.Load()
	if app := cfg.tf.EnrollmentApp(); app != nil {
		return cfg.offers(app, "Device enrollment")
	}
	return nil
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
	all := slices.Clone(groups)
	for _, g := range groups {
		if d := c.sim.IdP.Group(g); d != nil && d.ID != "" {
			all = append(all, d.ID)
		}
	}
	v := c.enrollment.Permit(accessgate.Identity{Email: email, Name: name, Groups: all})
	if !v.Allowed {
		return errors.New(v.Reason)
	}
	return nil
}

// offers returns nil when app's login offers the IdP the built-in IdP
// plays, else the refusal that names the providers it does offer.
func (c *config) offers(app *tfconfig.AccessApplication, what string) error {
	played := c.sim.IdP.Provider
	if app.OffersIdP(played.ID) {
		return nil
	}
	var names []string
	for _, id := range app.AllowedIdPs {
		names = append(names, fmt.Sprintf("%q", c.tf.IdentityProviderName(id)))
	}
	return fmt.Errorf("%s accepts only %s, and this team domain signs in with %q. Ask your administrator to allow %q for %q", what, strings.Join(names, ", "), played.Name, played.Name, app.Name)
}

// servesHost reports whether app is served at host (lower case, no port).
func servesHost(app *tfconfig.AccessApplication, host string) bool {
	for _, h := range app.Hostnames() {
		h = strings.ToLower(h)
		if i := strings.IndexAny(h, "/:"); i >= 0 {
			h = h[:i]
		}
		if h == host {
			return true
		}
	}
	return false
}

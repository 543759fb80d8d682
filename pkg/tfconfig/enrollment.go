package tfconfig

// checkAllowedIdPs resolves every allowed_idps entry to an identity
// provider of the directory. A Cloudflare ID that none has is a provider
// made in the dashboard or in another module: real, so a warning; anything
// else is a broken reference.
func (l *loader) checkAllowedIdPs() {
	known := map[string]bool{}
	for _, p := range l.cfg.IdentityProviders {
		known[p.ID] = true
	}
	for _, m := range l.apps {
		for i, id := range m.app.AllowedIdPs {
			switch {
			case known[id]:
			case cloudflareID.MatchString(id):
				l.d.warnf(m.idps[i].rng, "no %s in %s has the ID %q (an identity provider made in the dashboard or in another module): the simulator cannot sign anyone in with it, so %s offers only the providers declared here", TypeIdentityProvider, l.dir, id, m.app.Address())
			default:
				l.d.errorf(m.idps[i].rng, "no %s has the ID %q; reference one as %s.NAME.id", TypeIdentityProvider, id, TypeIdentityProvider)
			}
		}
	}
}

// checkEnrollmentApps reports a second type "warp" application: Cloudflare
// keeps one set of device enrollment permissions per account, so the API
// refuses to create another.
func (l *loader) checkEnrollmentApps() {
	var first *AccessApplication
	for _, m := range l.apps {
		if m.app.Type != TypeWARPApp {
			continue
		}
		if first == nil {
			first = m.app
			continue
		}
		l.d.at(Error, m.app.Pos, "%s is a second type \"warp\" application; an account has one, the device enrollment permissions (%s at %s): put every enrollment policy in its policies", m.app.Address(), first.Address(), first.Pos)
	}
}

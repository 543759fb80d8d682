package tfconfig

import (
	"net/url"
	"strings"

	"github.com/hashicorp/hcl/v2"
)

// ExternalIdP is an idp { external "<label>" { base_url = "…" } } block:
// the Terraform identity provider of that label, which the built-in IdP
// does not play, is reached at base_url instead of the host its URLs name
// (an OpenID provider started by a test, a staging tenant).
type ExternalIdP struct {
	// Label is the Terraform name of the identity provider.
	Label string
	// BaseURL replaces the scheme and host of each of the provider's URLs
	// (the issuer, auth_url, token_url, certs_url; for Entra ID the
	// login.microsoftonline.com origin), keeping their paths.
	BaseURL string
	Pos     Pos
}

var simExternalSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "base_url", Required: true}}}

func (l *loader) simExternal(s *Sim, b *hcl.Block) {
	c := l.content(b.Body, simExternalSchema)
	e := &ExternalIdP{Label: strings.TrimPrefix(b.Labels[0], TypeIdentityProvider+"."), Pos: posOf(b.LabelRanges[0])}
	for _, prev := range s.IdP.External {
		if prev.Label == e.Label {
			l.d.errorf(b.LabelRanges[0], "external %q is given twice (first at %s); keep one", e.Label, prev.Pos)
			return
		}
	}
	a := c.Attributes["base_url"]
	if a == nil {
		return // reported by the schema
	}
	raw, ok := l.attrField(a, "base_url").str()
	if !ok {
		return
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		l.d.errorf(a.Expr.Range(), "base_url %q must be an http(s) origin with no path, such as http://127.0.0.1:9000", raw)
		return
	}
	e.BaseURL = u.Scheme + "://" + u.Host
	s.IdP.External = append(s.IdP.External, e)
}

// ExternalFor returns the external block of the identity provider with
// Terraform label label, or nil.
func (s *SimIdP) ExternalFor(label string) *ExternalIdP {
	for _, e := range s.External {
		if e.Label == label {
			return e
		}
	}
	return nil
}

// linkExternal checks that each external block names an identity provider
// of the directory that the built-in IdP does not play.
func linkExternal(cfg *Config, sim *Sim, d *diags) {
	for _, e := range sim.IdP.External {
		var found *IdentityProvider
		names := make([]string, 0, len(cfg.IdentityProviders))
		for _, p := range cfg.IdentityProviders {
			names = append(names, p.Label)
			if p.Label == e.Label {
				found = p
			}
		}
		switch {
		case found == nil:
			d.at(Error, e.Pos, "idp.external names %q, but no %s %q is declared in %s%s", e.Label, TypeIdentityProvider, e.Label, cfg.Dir, suggest(e.Label, names))
		case found == sim.IdP.Provider:
			d.at(Error, e.Pos, "idp.external names %q, which the built-in IdP plays (idp.plays); an identity provider is either played or external", e.Label)
		}
	}
}

// Rebase returns raw with its scheme and host replaced by base's (an
// origin), keeping its path and query; raw unchanged when base is "".
func Rebase(raw, base string) string {
	if base == "" || raw == "" {
		return raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	b, err := url.Parse(base)
	if err != nil {
		return raw
	}
	u.Scheme, u.Host = b.Scheme, b.Host
	return u.String()
}

// SignsInExternally reports whether the simulator signs in through p when
// the built-in IdP does not play it: it is an OpenID Connect provider
// (type oidc or azureAD).
func SignsInExternally(p *IdentityProvider) bool {
	return p.Type == IdPOIDC || p.Type == IdPAzureAD
}

// offersAnySignIn reports whether app's login offers an identity provider
// the simulator signs in with: the played one or an external one.
func offersAnySignIn(cfg *Config, sim *Sim, app *AccessApplication) bool {
	for _, p := range cfg.IdentityProviders {
		if (p == sim.IdP.Provider || SignsInExternally(p)) && app.OffersIdP(p.ID) {
			return true
		}
	}
	return false
}

package access

import (
	"fmt"
	"slices"

	"github.com/ztagent/ztagent/pkg/tfconfig"
)

// IdPFromTerraform returns the IdP a Terraform identity provider
// describes, signing in at issuer: the built-in IdP's URL when the
// simulator plays this provider.
func IdPFromTerraform(p *tfconfig.IdentityProvider, issuer string) IdP {
	return IdP{
		ID: p.ID, Name: p.Name,
		Type: p.Type, Issuer: issuer, ClientID: p.Config.ClientID, ClientSecret: p.Config.ClientSecret,
		Scopes: slices.Clone(p.Config.Scopes), Prompt: p.Config.Prompt, EmailClaim: p.Config.EmailClaimName,
		AuthURL: p.Config.AuthURL, TokenURL: p.Config.TokenURL, JWKSURL: p.Config.CertsURL,
		Claims: slices.Clone(p.Config.Claims),
	}
}

// entraIssuer is the issuer of an Entra ID tenant's v2.0 ID tokens, where
// Cloudflare discovers its endpoints.
func entraIssuer(base, directoryID string) string {
	if base == "" {
		base = "https://login.microsoftonline.com"
	}
	return base + "/" + directoryID + "/v2.0"
}

// ExternalIdP returns how the team domain signs in with a Terraform
// identity provider the built-in IdP does not play, as Cloudflare does:
// an oidc provider through its auth_url, token_url and certs_url (and its
// issuer_url, or discovery at it when those are missing), an azureAD one
// through its tenant's issuer. base, when set, replaces the origin of each
// URL (the simulator file's idp.external base_url). It returns an error
// saying why the provider cannot be signed in with here.
func ExternalIdP(p *tfconfig.IdentityProvider, base string) (IdP, error) {
	c := p.Config
	idp := IdPFromTerraform(p, "")
	idp.External = true
	if !tfconfig.SignsInExternally(p) {
		return IdP{}, fmt.Errorf("%s is type %q; the simulator signs in through external OpenID Connect providers of type oidc and azureAD only (play it with the built-in IdP: idp { plays = %q })", p.Address(), p.Type, p.Label)
	}
	switch p.Type {
	case tfconfig.IdPOIDC:
		idp.Issuer = tfconfig.Rebase(c.IssuerURL, base)
		idp.AuthURL, idp.TokenURL, idp.JWKSURL = tfconfig.Rebase(c.AuthURL, base), tfconfig.Rebase(c.TokenURL, base), tfconfig.Rebase(c.CertsURL, base)
		if idp.Issuer == "" && (idp.AuthURL == "" || idp.TokenURL == "" || idp.JWKSURL == "") {
			return IdP{}, fmt.Errorf("%s sets neither config.issuer_url nor all of auth_url, token_url and certs_url, so there is nowhere to sign in", p.Address())
		}
	case tfconfig.IdPAzureAD:
		if c.DirectoryID == "" {
			return IdP{}, fmt.Errorf("%s has no config.directory_id, which names the Entra ID tenant to sign in with", p.Address())
		}
		idp.Issuer = entraIssuer(base, c.DirectoryID)
		idp.AuthURL, idp.TokenURL, idp.JWKSURL = "", "", ""
	}
	if c.ClientID == "" {
		return IdP{}, fmt.Errorf("%s has no config.client_id, the team domain's client at the provider", p.Address())
	}
	if err := idp.validate(); err != nil {
		return IdP{}, fmt.Errorf("%s: %w", p.Address(), err)
	}
	return idp, nil
}

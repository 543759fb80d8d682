# want warning: 12:7: the group selector is not simulated, so the simulator never matches it: it matches members of an Access group (its id is a cloudflare_zero_trust_access_group ID, not an IdP group name)
# want warning: 13:7: the login_method selector is not simulated, so the simulator never matches it: it matches users who logged in with the identity provider whose ID it holds
# want: 28:33: warp_auth_session_duration "300s": Cloudflare accepts only hours (h) and minutes (m) here, such as "30m", "12h" or "2h45m"; write "5m"
# In provider v5, group = { id } is an Access group ID and login_method =
# { id } an identity provider ID: neither names an IdP group, and the
# simulator does not pretend they do.
resource "cloudflare_zero_trust_access_policy" "engineers" {
  name     = "Engineers"
  decision = "allow"
  include = [
    { email_domain = { domain = "example.com" } },
    { group = { id = cloudflare_zero_trust_access_group.engineers.id } },
    { login_method = { id = cloudflare_zero_trust_access_identity_provider.entra_id.id } },
  ]
}

resource "cloudflare_zero_trust_access_group" "engineers" {
  name = "Engineers"
}

resource "cloudflare_zero_trust_access_identity_provider" "entra_id" {
  name = "Entra ID"
  type = "azureAD"
}

resource "cloudflare_zero_trust_organization" "acme" {
  allow_authenticate_via_warp = true
  warp_auth_session_duration  = "300s"
}

# Device identity cannot apply with that duration, but that was said above.
resource "cloudflare_zero_trust_access_application" "wiki" {
  name                        = "Wiki"
  domain                      = "wiki.acme.internal"
  allow_authenticate_via_warp = true
}

# want nothing
# source: cloudflare/terraform-provider-cloudflare,
#   internal/services/zero_trust_access_application/testdata/accessapplicationconfigwithmultipleidps.tf,
#   commit a834aa4b472e5b047023099014fb698174dcb7b8
# construct: a zone-level self-hosted application whose allowed_idps
#   reference two identity providers: a one-time PIN IdP with no config at
#   all and a GitHub IdP whose config object is indented unevenly.
# provider: accepts; the simulator loads it (allowed_idps resolve to both
#   providers; without a simulator file nothing is signed in).
resource "cloudflare_zero_trust_access_identity_provider" "pin" {
  account_id = "5f2a0c6d9b7e4c1a8d3f6b0e2a9c7d41"
  name       = "PIN"
  type       = "onetimepin"
}

resource "cloudflare_zero_trust_access_identity_provider" "gh" {
  account_id = "5f2a0c6d9b7e4c1a8d3f6b0e2a9c7d41"
  name       = "GitHub"
  type       = "github"
  config = {
  client_id = "Iv1.0a1b2c3d4e5f"
    client_secret = "not-a-secret"
}
}

resource "cloudflare_zero_trust_access_application" "docs" {
  zone_id          = "0d9c8b7a6f5e4d3c2b1a0f9e8d7c6b5a"
  name             = "Docs"
  domain           = "docs.acme.example"
  type             = "self_hosted"
  session_duration = "24h"
  allowed_idps = [
    cloudflare_zero_trust_access_identity_provider.pin.id,
    cloudflare_zero_trust_access_identity_provider.gh.id,
  ]
}

# want warning: 31:76: no cloudflare_zero_trust_access_identity_provider in testdata/invalid has the ID "2e3f4a5b-6c7d-4e8f-9a0b-1c2d3e4f5a6b" (an identity provider made in the dashboard or in another module)
# want: 31:116: no cloudflare_zero_trust_access_identity_provider has the ID "entra"; reference one as cloudflare_zero_trust_access_identity_provider.NAME.id
# want: 35:1: cloudflare_zero_trust_access_application.enrollment_again is a second type "warp" application; an account has one
# Device enrollment permissions as provider v5 writes them: a type "warp"
# application whose allowed_idps reference identity providers. A reference
# to a provider made in the dashboard (a Cloudflare ID) loads with a
# warning; a made-up ID is an error; a second "warp" application is an
# error, as the API allows one per account.
resource "cloudflare_zero_trust_access_identity_provider" "entra" {
  account_id = "5f2a0c6d9b7e4c1a8d3f6b0e2a9c7d41"
  name       = "Entra ID"
  type       = "azureAD"
  config = {
    client_id     = "c0ffee00-1111-2222-3333-444455556666"
    client_secret = "not-a-real-secret"
    directory_id  = "d1d1d1d1-0000-4000-8000-000000000001"
  }
}

resource "cloudflare_zero_trust_access_policy" "staff" {
  account_id = "5f2a0c6d9b7e4c1a8d3f6b0e2a9c7d41"
  name       = "Staff"
  decision   = "allow"
  include    = [{ email_domain = { domain = "example.com" } }]
}

resource "cloudflare_zero_trust_access_application" "enrollment" {
  account_id   = "5f2a0c6d9b7e4c1a8d3f6b0e2a9c7d41"
  name         = "Device enrollment"
  type         = "warp"
  allowed_idps = [cloudflare_zero_trust_access_identity_provider.entra.id, "2e3f4a5b-6c7d-4e8f-9a0b-1c2d3e4f5a6b", "entra"]
  policies     = [{ id = cloudflare_zero_trust_access_policy.staff.id, precedence = 1 }]
}

resource "cloudflare_zero_trust_access_application" "enrollment_again" {
  account_id = "5f2a0c6d9b7e4c1a8d3f6b0e2a9c7d41"
  name       = "Device enrollment 2"
  type       = "warp"
}

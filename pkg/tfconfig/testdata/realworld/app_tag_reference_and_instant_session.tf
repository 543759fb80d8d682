# want nothing
# source: cloudflare/terraform-provider-cloudflare,
#   internal/services/zero_trust_access_application/testdata/accessapplicationconfigwithadefinedtag.tf,
#   commit 4004533778ed1a792b5ee8ace4214a9bae0dd1f9
# construct: an application tagged with an access tag declared beside it
#   (a resource type the simulator skips), referenced by .id as the test
#   does and, in a second application, by .name, the argument the tag
#   sets; that application's session expires immediately ("0s").
# provider: accepts; the simulator skips the tag (an info line), resolves
#   both references and loads the applications.
resource "cloudflare_zero_trust_access_tag" "finance" {
  account_id = "5f2a0c6d9b7e4c1a8d3f6b0e2a9c7d41"
  name = "finance"
}
resource "cloudflare_zero_trust_access_application" "ledger" {
  zone_id                   = "0d9c8b7a6f5e4d3c2b1a0f9e8d7c6b5a"
  name                      = "Ledger"
  domain                    = "ledger.acme.example"
  type                      = "self_hosted"
  session_duration          = "24h"
  tags                      = [cloudflare_zero_trust_access_tag.finance.id]
}

resource "cloudflare_zero_trust_access_application" "ledger_admin" {
  zone_id          = "0d9c8b7a6f5e4d3c2b1a0f9e8d7c6b5a"
  name             = "Ledger admin"
  domain           = "ledger.acme.example/admin"
  session_duration = "0s"
  tags             = [cloudflare_zero_trust_access_tag.finance.name]
}

# want: 3:10: cloudflare_teams_rule is a Cloudflare provider v4 resource; the simulator reads provider v5, where it is cloudflare_zero_trust_gateway_policy
# want: 8:10: cloudflare_access_identity_provider is a Cloudflare provider v4 resource
resource "cloudflare_teams_rule" "wiki" {
  name   = "Wiki"
  action = "allow"
}

resource "cloudflare_access_identity_provider" "entra" {
  name = "Entra"
  type = "azureAD"
}

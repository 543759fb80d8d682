# want: 14:10: cloudflare_teams_rule is a Cloudflare provider v4 resource type; the simulator reads provider v5, where it is cloudflare_zero_trust_gateway_policy
# want: 21:10: cloudflare_teams_list is a Cloudflare provider v4 resource type; the simulator reads provider v5, where it is cloudflare_zero_trust_list
# want: 27:10: cloudflare_access_identity_provider is a Cloudflare provider v4 resource type; ... where it is cloudflare_zero_trust_access_identity_provider
# want: 32:10: cloudflare_access_application is a Cloudflare provider v4 resource type; ... where it is cloudflare_zero_trust_access_application
# want: 37:10: cloudflare_access_policy is a Cloudflare provider v4 resource type; ... where it is cloudflare_zero_trust_access_policy
# want: 42:10: cloudflare_teams_account is a Cloudflare provider v4 resource type; ... where it is cloudflare_zero_trust_gateway_settings
# want: 46:10: cloudflare_zero_trust_access_organization is a Cloudflare provider v4 resource type; ... where it is cloudflare_zero_trust_organization
# want: 51:10: cloudflare_access_organization is a Cloudflare provider v4 resource type; ... where it is cloudflare_zero_trust_organization
# want: 55:10: cloudflare_device_settings_policy is a Cloudflare provider v4 resource type; ... where it is cloudflare_zero_trust_device_default_profile
# want: 60:10: cloudflare_access_group is a Cloudflare provider v4 resource type; ... where it is cloudflare_zero_trust_access_group
# A provider v4 configuration: each v4 type is one error, and nothing else is
# reported (no "no gateway policy" warning, no second error for the v5
# policy's reference to the v4 list).
resource "cloudflare_teams_rule" "wiki" {
  name    = "Wiki"
  action  = "allow"
  filters = ["l4"]
  traffic = "net.dst.ip in ${"$"}${cloudflare_teams_list.wiki.id}"
}

resource "cloudflare_teams_list" "wiki" {
  name  = "Wiki"
  type  = "IP"
  items = ["10.0.0.10"]
}

resource "cloudflare_access_identity_provider" "entra" {
  name = "Entra"
  type = "azureAD"
}

resource "cloudflare_access_application" "wiki" {
  name   = "Wiki"
  domain = "wiki.acme.internal"
}

resource "cloudflare_access_policy" "employees" {
  name     = "Employees"
  decision = "allow"
}

resource "cloudflare_teams_account" "acme" {
  tls_decrypt_enabled = true
}

resource "cloudflare_zero_trust_access_organization" "acme" {
  name        = "Acme"
  auth_domain = "acme.cloudflareaccess.com"
}

resource "cloudflare_access_organization" "acme" {
  name = "Acme"
}

resource "cloudflare_device_settings_policy" "default" {
  default          = true
  allowed_to_leave = true
}

resource "cloudflare_access_group" "engineers" {
  name = "Engineers"
}

# A v5 policy that references the v4 list: the list is the mistake, and it
# is reported once, above.
resource "cloudflare_zero_trust_gateway_policy" "v5" {
  name       = "v5"
  enabled    = true
  precedence = 1
  action     = "allow"
  filters    = ["l4"]
  traffic    = "net.dst.ip in ${"$"}${cloudflare_teams_list.wiki.id}"
}

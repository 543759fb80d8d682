# want: 15:16: action "allowed" is not a Gateway action (did you mean "allow"?)
# want: 30:18: rule_settings.check_session.enforce must be true or false, not string
# want: 38:10: identity provider type "azuread-v2" is not a Cloudflare type
# want: 48:33: application type "self-hosted" is not a Cloudflare type (did you mean "self_hosted"?)
# want: 55:11: list type "IPS" is not a Cloudflare list type (did you mean "IP"?)
# want: 64:17: filter "l4s" is not a Gateway filter (did you mean "l4"?)
# One mistake, one message: no check_session error for the misspelt action,
# no "does not set enforce = true" warning for the bad enforce, no "remove
# prompt" for the misspelt IdP type, no device-identity error for the
# misspelt app type, no item errors for the misspelt list type.
resource "cloudflare_zero_trust_gateway_policy" "allow" {
  name       = "Allow, misspelt"
  enabled    = true
  precedence = 1
  action     = "allowed"
  filters    = ["l4"]
  rule_settings = {
    check_session = { enforce = true, duration = "1h" }
  }
}

resource "cloudflare_zero_trust_gateway_policy" "enforce" {
  name       = "Enforce is not a bool"
  enabled    = true
  precedence = 2
  action     = "allow"
  filters    = ["http"]
  rule_settings = {
    check_session = {
      enforce  = "yes"
      duration = "1h"
    }
  }
}

resource "cloudflare_zero_trust_access_identity_provider" "entra" {
  name = "Entra ID"
  type = "azuread-v2"
  config = {
    client_id    = "client"
    directory_id = "tenant"
    prompt       = "login"
  }
}

resource "cloudflare_zero_trust_access_application" "wiki" {
  name                        = "Wiki"
  type                        = "self-hosted"
  domain                      = "wiki.acme.internal"
  allow_authenticate_via_warp = true
}

resource "cloudflare_zero_trust_list" "wiki" {
  name  = "Wiki"
  type  = "IPS"
  items = ["not an address"]
}

resource "cloudflare_zero_trust_gateway_policy" "l4" {
  name       = "L4 misspelt"
  enabled    = true
  precedence = 3
  action     = "allow"
  filters    = ["l4s"]
  traffic    = "net.dst.ip in {10.0.0.1 nope}"
  rule_settings = {
    check_session = { enforce = true, duration = "1h" }
  }
}

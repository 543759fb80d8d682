# want info: 17:16: action "ALLOW" is read as "allow": the provider accepts it in any case
# want info: 18:17: filter "L4" is read as "l4": the provider accepts it in any case
# want warning: 21:23: check_session of cloudflare_zero_trust_gateway_policy.off does not set enforce = true, so the session is not checked
# want: 29:16: filters has 2 values, and a Gateway policy takes one: write one policy per filter (filters = ["l4"], filters = ["http"])
# want info: 38:11: list type "aaguid" is read as "AAGUID": the provider accepts it in any case
# want info: 43:12: application type "Self_Hosted" is read as "self_hosted": the provider accepts it in any case
# want info: 48:14: decision "Allow" is read as "allow": the provider accepts it in any case
# Enum values in any case, as the provider's OneOfCaseInsensitive
# validators accept them (read in the canonical spelling, with an info
# line); the IdP type "cloudflare" and the list type "AAGUID" of provider
# v5.22.0; check_session = { enforce = false, duration = "0s" } is off, not
# an error; filters takes one value.
resource "cloudflare_zero_trust_gateway_policy" "off" {
  name       = "Session check off"
  enabled    = true
  precedence = 1
  action     = "ALLOW"
  filters    = ["L4"]
  traffic    = "net.dst.port == 22"
  rule_settings = {
    check_session = { enforce = false, duration = "0s" }
  }
}
resource "cloudflare_zero_trust_gateway_policy" "two" {
  name       = "Two filters"
  enabled    = true
  precedence = 2
  action     = "block"
  filters    = ["l4", "http"]
  traffic    = "net.dst.port == 23"
}
resource "cloudflare_zero_trust_access_identity_provider" "cf" {
  name = "Cloudflare"
  type = "cloudflare"
}
resource "cloudflare_zero_trust_list" "keys" {
  name  = "Security keys"
  type  = "aaguid"
  items = [{ value = "cb69481e-8ff7-4039-93ec-0a2729a154a8" }]
}
resource "cloudflare_zero_trust_access_application" "app" {
  name   = "App"
  type   = "Self_Hosted"
  domain = "app.acme.internal"
}
resource "cloudflare_zero_trust_access_policy" "p" {
  name     = "Everyone"
  decision = "Allow"
  include  = [{ everyone = {} }]
}

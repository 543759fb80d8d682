# want: 9:1: cloudflare_zero_trust_gateway_policy.typo has no filters
# want: 13:3: filter is not an argument of cloudflare_zero_trust_gateway_policy.typo in the Cloudflare provider v5 schema, so Terraform refuses it (did you mean "filters"?)
# want warning: 16:5: rule_settings.check_sesion is not an attribute of rule_settings in the Cloudflare provider v5 schema (did you mean "check_session"?): Terraform drops it without an error, so neither Cloudflare nor the simulator applies it
# want info: 19:1: skipping resources of type cloudflare_dns_record (www, api)
# A misspelt argument is refused, as Terraform refuses it; a misspelt key
# in an object attribute Terraform drops silently, so it loads, but with a
# warning naming the closest valid name: a misspelt check_session must not
# pass for "no limit" unnoticed.
resource "cloudflare_zero_trust_gateway_policy" "typo" {
  name       = "Typo"
  enabled    = true
  precedence = 1
  filter     = ["l4"]
  action     = "allow"
  rule_settings = {
    check_sesion = { enforce = true, duration = "1h" }
  }
}
resource "cloudflare_dns_record" "www" {
  name = "www"
}
resource "cloudflare_dns_record" "api" {
  name = "api"
}

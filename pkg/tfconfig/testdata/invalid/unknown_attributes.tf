# want: 5:1: cloudflare_zero_trust_gateway_policy.typo has no filters
# want warning: 9:3: filter is not an attribute of cloudflare_zero_trust_gateway_policy.typo that the simulator knows
# want warning: 12:5: rule_settings.check_sesion is not an attribute of rule_settings that the simulator knows
# want info: 15:1: skipping resources of type cloudflare_dns_record (www, api)
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

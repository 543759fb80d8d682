# want: 10:5: check_session is only allowed on l4 and http policies
resource "cloudflare_zero_trust_gateway_policy" "dns_with_session" {
  name       = "DNS with a session check"
  enabled    = true
  precedence = 1
  action     = "allow"
  filters    = ["dns"]
  traffic    = "dns.fqdn == \"wiki.acme.internal\""
  rule_settings = {
    check_session = {
      enforce  = true
      duration = "1h"
    }
  }
}

# want: 9:3: rule_settings is written as a block, the Cloudflare provider v4 syntax
resource "cloudflare_zero_trust_gateway_policy" "v4" {
  name       = "Provider v4 syntax"
  enabled    = true
  precedence = 1
  action     = "allow"
  filters    = ["l4"]
  traffic    = "net.dst.port == 22"
  rule_settings {
    check_session {
      enforce  = true
      duration = "1h"
    }
  }
}

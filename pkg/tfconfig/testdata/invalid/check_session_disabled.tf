# want warning: 6:3: is disabled (enabled = false), so its check_session never applies
# want warning: 12:7: does not set enforce = true, so the session is not checked
# want warning: 25:5: has check_session but no enabled attribute
resource "cloudflare_zero_trust_gateway_policy" "disabled" {
  name       = "Disabled"
  enabled    = false
  precedence = 1
  action     = "allow"
  filters    = ["l4"]
  rule_settings = {
    check_session = {
      enforce  = false
      duration = "1h"
    }
  }
}

resource "cloudflare_zero_trust_gateway_policy" "no_enabled" {
  name       = "No enabled attribute"
  precedence = 2
  action     = "allow"
  filters    = ["l4"]
  traffic    = "net.dst.port == 443"
  rule_settings = {
    check_session = {
      enforce  = true
      duration = "2h"
    }
  }
}

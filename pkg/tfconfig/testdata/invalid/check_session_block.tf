# want: 10:5: check_session is only allowed on allow policies
resource "cloudflare_zero_trust_gateway_policy" "block_with_session" {
  name       = "Block with a session check"
  enabled    = true
  precedence = 1
  action     = "block"
  filters    = ["l4"]
  traffic    = "net.dst.port == 22"
  rule_settings = {
    check_session = {
      enforce  = true
      duration = "1h"
    }
  }
}

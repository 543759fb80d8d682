# want: 10:5: check_session has enforce = true but no duration
resource "cloudflare_zero_trust_gateway_policy" "no_duration" {
  name       = "No duration"
  enabled    = true
  precedence = 1
  action     = "allow"
  filters    = ["l4"]
  traffic    = "net.dst.port == 22"
  rule_settings = {
    check_session = {
      enforce = true
    }
  }
}

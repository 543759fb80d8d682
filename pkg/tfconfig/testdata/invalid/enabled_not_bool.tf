# want: 7:16: ...
resource "cloudflare_zero_trust_gateway_policy" "p" {
  name       = "Enabled is not a bool"
  precedence = 1
  action     = "allow"
  filters    = ["l4"]
  enabled    = "yes"
  rule_settings = {
    check_session = { enforce = true, duration = "1h" }
  }
}

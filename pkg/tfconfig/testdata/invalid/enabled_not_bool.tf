# want: 8:16: enabled must be true or false, not string
# One mistake, one message: no "disabled, so its check_session never applies" too.
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

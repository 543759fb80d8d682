# want: 9:17: Invalid expression
# A file with a syntax error is not decoded: no "has no action", "has no
# filters" or "no enabled attribute" for what the parser never reached.
resource "cloudflare_zero_trust_gateway_policy" "p" {
  name       = "Half parsed"
  precedence = 1
  rule_settings = {
    check_session = {
      enforce = = true
    }
  }
  enabled = true
  action  = "allow"
  filters = ["l4"]
}

# want: 12:18: rule_settings.check_session.duration: session duration "1d" is not a duration
# want: 26:18: session duration "0s" must be positive
# want: 38:66: session duration "-5m" must be positive
resource "cloudflare_zero_trust_gateway_policy" "days" {
  name       = "Days are not Go durations"
  enabled    = true
  precedence = 1
  action     = "allow"
  filters    = ["l4"]
  rule_settings = {
    check_session = {
      duration = "1d"
      enforce  = true
    }
  }
}

resource "cloudflare_zero_trust_gateway_policy" "zero" {
  name       = "Zero"
  enabled    = true
  precedence = 2
  action     = "allow"
  filters    = ["http"]
  rule_settings = {
    check_session = {
      duration = "0s"
      enforce  = true
    }
  }
}

resource "cloudflare_zero_trust_gateway_policy" "negative" {
  name          = "Negative, on one line"
  enabled       = true
  precedence    = 3
  action        = "allow"
  filters       = ["http"]
  rule_settings = { check_session = { enforce = true, duration = "-5m" } }
}

# want: 8:16: action "alow" is not a Gateway action
# want: 9:17: filter "l7" is not a Gateway filter
# want: 10:16: enabled must be true or false
# want: 11:16: precedence must be a whole number
# want: 14:1: cloudflare_zero_trust_gateway_policy.no_filters has no filters
resource "cloudflare_zero_trust_gateway_policy" "bad" {
  name       = "Bad values"
  action     = "alow"
  filters    = ["l7"]
  enabled    = "maybe"
  precedence = 1.5
}

resource "cloudflare_zero_trust_gateway_policy" "no_filters" {
  name       = "No filters"
  enabled    = true
  precedence = 2
  action     = "allow"
}

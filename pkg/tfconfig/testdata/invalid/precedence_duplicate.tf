# want: 15:3: precedence 100 of cloudflare_zero_trust_gateway_policy.second is also the precedence of cloudflare_zero_trust_gateway_policy.first at testdata/invalid/precedence_duplicate.tf:6:3
resource "cloudflare_zero_trust_gateway_policy" "first" {
  name       = "First"
  enabled    = true
  action     = "allow"
  precedence = 100
  filters    = ["l4"]
  traffic    = "net.dst.port == 22"
}

resource "cloudflare_zero_trust_gateway_policy" "second" {
  name       = "Second"
  enabled    = true
  action     = "block"
  precedence = 100
  filters    = ["l4"]
  traffic    = "net.dst.port == 23"
}

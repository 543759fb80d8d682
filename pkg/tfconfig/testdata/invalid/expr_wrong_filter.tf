# want: 8:17: traffic expression: ... net.dst.ip
resource "cloudflare_zero_trust_gateway_policy" "dns_with_l4_field" {
  name       = "A DNS policy that looks at L4 fields"
  enabled    = true
  precedence = 1
  action     = "block"
  filters    = ["dns"]
  traffic    = "net.dst.ip == 10.0.0.1"
}

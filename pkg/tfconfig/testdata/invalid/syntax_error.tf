# want: 4:10: Invalid expression
resource "cloudflare_zero_trust_list" "broken" {
  name = "Broken"
  type = = "IP"
}

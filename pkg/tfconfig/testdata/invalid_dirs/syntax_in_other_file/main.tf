# want: lists.tf:4:11: Invalid expression
# lists.tf does not parse, so nothing is decoded: no "no
# cloudflare_zero_trust_list named wiki" here, where the list is referenced,
# and no warning about terraform.tfvars setting a variable declared there.
resource "cloudflare_zero_trust_gateway_policy" "wiki" {
  name       = "Wiki"
  enabled    = true
  precedence = 1
  action     = "allow"
  filters    = ["l4"]
  traffic    = "net.dst.ip in ${"$"}${cloudflare_zero_trust_list.wiki.id}"
}

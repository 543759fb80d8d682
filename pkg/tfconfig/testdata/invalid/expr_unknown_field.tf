# want: 10:17: traffic expression: ... net.dst.ipx
# want: 11:51: identity expression: ... identity.bogus
# want: 20:33: traffic expression: ... net.dst.port ... list
resource "cloudflare_zero_trust_gateway_policy" "seed_form" {
  name       = "The seed's interpolation, with a misspelt field"
  enabled    = true
  precedence = 1
  action     = "allow"
  filters    = ["l4"]
  traffic    = "net.dst.ipx in ${"$"}${cloudflare_zero_trust_list.wiki_IPs.id}"
  identity   = "identity.email matches \".*\" and identity.bogus == \"x\""
}

resource "cloudflare_zero_trust_gateway_policy" "list_type" {
  name       = "An IP list where a port goes"
  enabled    = true
  precedence = 2
  action     = "allow"
  filters    = ["l4"]
  traffic    = "net.dst.port in ${"$"}${cloudflare_zero_trust_list.wiki_IPs.id}"
}

resource "cloudflare_zero_trust_list" "wiki_IPs" {
  name  = "Wiki IPs"
  type  = "IP"
  items = [{ value = "10.0.0.10" }]
}

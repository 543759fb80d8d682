# want: 9:31: traffic expression: ... $no_such_list
# want: 18:39: no cloudflare_zero_trust_list named "wiki_ips" is declared (did you mean "wiki_IPs"?)
resource "cloudflare_zero_trust_gateway_policy" "literal" {
  name       = "A list ID written literally"
  enabled    = true
  precedence = 1
  action     = "allow"
  filters    = ["l4"]
  traffic    = "net.dst.ip in $no_such_list"
}

resource "cloudflare_zero_trust_gateway_policy" "reference" {
  name       = "A misspelt list reference"
  enabled    = true
  precedence = 2
  action     = "allow"
  filters    = ["l4"]
  traffic    = "net.dst.ip in ${"$"}${cloudflare_zero_trust_list.wiki_ips.id}"
}

resource "cloudflare_zero_trust_list" "wiki_IPs" {
  name  = "Wiki IPs"
  type  = "IP"
  items = [{ value = "10.0.0.10" }]
}

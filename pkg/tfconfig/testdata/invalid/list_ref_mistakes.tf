# want: 13:31: traffic expression: expected a list name or ID after '$'; to reference a list, write ${"$"}${cloudflare_zero_trust_list.wiki.id} in the HCL string
# want: 22:58: traffic expression: unexpected character '.'; to reference a list, write ${"$"}${cloudflare_zero_trust_list.wiki.id}
# want: 31:31: traffic expression: unknown list $... that is the ID of cloudflare_zero_trust_access_identity_provider.entra_id, not of a list; reference a list as ${"$"}${cloudflare_zero_trust_list.NAME.id}
# The usual ways of getting the seed's "${"$"}${…}" idiom wrong: "$${" is
# an escaped interpolation (the policy sees a literal "${"), a bare "$" is
# followed by text, and the ID of another resource is not a list.
resource "cloudflare_zero_trust_gateway_policy" "escaped" {
  name       = "Escaped interpolation"
  enabled    = true
  precedence = 1
  action     = "allow"
  filters    = ["l4"]
  traffic    = "net.dst.ip in $${cloudflare_zero_trust_list.wiki.id}"
}

resource "cloudflare_zero_trust_gateway_policy" "bare" {
  name       = "Bare dollar"
  enabled    = true
  precedence = 2
  action     = "allow"
  filters    = ["l4"]
  traffic    = "net.dst.ip in $cloudflare_zero_trust_list.wiki.id"
}

resource "cloudflare_zero_trust_gateway_policy" "idp" {
  name       = "Not a list"
  enabled    = true
  precedence = 3
  action     = "allow"
  filters    = ["l4"]
  traffic    = "net.dst.ip in ${"$"}${cloudflare_zero_trust_access_identity_provider.entra_id.id}"
}

resource "cloudflare_zero_trust_list" "wiki" {
  name  = "Wiki"
  type  = "IP"
  items = ["10.0.0.10"]
}

resource "cloudflare_zero_trust_access_identity_provider" "entra_id" {
  name = "Entra ID"
  type = "azureAD"
}

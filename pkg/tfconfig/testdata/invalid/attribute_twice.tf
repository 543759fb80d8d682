# want: 6:3: Attribute redefined: The argument "type" was already set
# A file with a parse error is not decoded further, so no other diagnostic follows.
resource "cloudflare_zero_trust_list" "wiki" {
  name = "Wiki"
  type = "IP"
  type = "DOMAIN"
}

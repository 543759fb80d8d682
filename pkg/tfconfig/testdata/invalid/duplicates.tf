# want: 7:3: Attribute redefined: The argument "type" was already set
# want: 10:39: resource cloudflare_zero_trust_list.wiki is declared twice (first at testdata/invalid/duplicates.tf:4:1)
# want: 19:1: a second cloudflare_zero_trust_organization
resource "cloudflare_zero_trust_list" "wiki" {
  name = "Wiki"
  type = "IP"
  type = "DOMAIN"
}

resource "cloudflare_zero_trust_list" "wiki" {
  name = "Wiki again"
  type = "IP"
}

resource "cloudflare_zero_trust_organization" "one" {
  name = "One"
}

resource "cloudflare_zero_trust_organization" "two" {
  name = "Two"
}

# want: 8:39: resource cloudflare_zero_trust_list.wiki is declared twice (first at testdata/invalid/duplicates.tf:3:1)
# want: 17:1: a second cloudflare_zero_trust_organization
resource "cloudflare_zero_trust_list" "wiki" {
  name = "Wiki"
  type = "IP"
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

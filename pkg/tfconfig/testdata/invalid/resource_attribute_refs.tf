# want: 19:61: cloudflare_zero_trust_access_tag.team.created_at: the resource does not set created_at to a value known before it is created
# A reference reads .id of any declared resource, and any other argument
# the resource sets with a value known before it exists; an attribute
# only Cloudflare computes (created_at) cannot be read here.
variable "tag_name" {
  type    = string
  default = "platform"
}

resource "cloudflare_zero_trust_access_tag" "team" {
  account_id = "5f2a0c6d9b7e4c1a8d3f6b0e2a9c7d41"
  name       = var.tag_name
}

resource "cloudflare_zero_trust_access_application" "console" {
  account_id = cloudflare_zero_trust_access_tag.team.account_id
  name       = "Console for ${cloudflare_zero_trust_access_tag.team.name}"
  domain     = "console.acme.example"
  tags       = [cloudflare_zero_trust_access_tag.team.name, cloudflare_zero_trust_access_tag.team.created_at]
}

# want: 10:3: items_with_description is written as a block, the Cloudflare provider v4 syntax; ... write items = [{ value = "10.0.0.10", description = "..." }]
# want: 14:3: items_with_description is written as a block
# The v4 form of a list with descriptions: an error, not a warning that
# silently drops the items.
resource "cloudflare_zero_trust_list" "wiki" {
  name  = "Wiki"
  type  = "IP"
  items = ["10.0.0.9"]

  items_with_description {
    value       = "10.0.0.10"
    description = "wiki"
  }
  items_with_description {
    value       = "10.0.0.11"
    description = "wiki replica"
  }
}

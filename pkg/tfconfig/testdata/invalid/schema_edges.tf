# want warning: 9:1: has no enabled attribute
# want: 15:3: sharable is read-only in the Cloudflare provider v5 schema (Cloudflare computes it), so Terraform refuses to set it
# want: 16:55: expiration.expired is read-only in the Cloudflare provider v5 schema
# want warning: 23:5: config.client_name is not an attribute of config in the Cloudflare provider v5 schema: Terraform drops it without an error
# Edges of the provider v5.22.0 schema: a read-only argument is refused;
# an unknown key inside an object attribute loads, as Terraform drops it
# (the provider's own acceptance test for a one-time PIN IdP sets
# config.client_name, which the schema lacks).
resource "cloudflare_zero_trust_gateway_policy" "ro" {
  name       = "Read-only fields"
  precedence = 1
  action     = "allow"
  filters    = ["l4"]
  traffic    = "net.dst.port == 22"
  sharable   = true
  expiration = { expires_at = "2030-01-01T00:00:00Z", expired = false }
}
resource "cloudflare_zero_trust_access_identity_provider" "otp" {
  account_id = "0123"
  name       = "One-time PIN"
  type       = "onetimepin"
  config = {
    client_name = "test_name"
  }
}

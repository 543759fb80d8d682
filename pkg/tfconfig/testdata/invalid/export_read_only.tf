# want: 18:5: expiration.expired is read-only in the Cloudflare provider v5 schema (Cloudflare computes it), so Terraform refuses to set it
# cf-terraforming writes what the API returns, read-only attributes too:
# expiration.expired is computed by Cloudflare, and Terraform refuses a
# configuration that sets it ("Invalid Configuration for Read-Only
# Attribute"). source: cloudflare/cf-terraforming,
# testdata/terraform/v5/cloudflare_zero_trust_gateway_policy/test.tf,
# commit 39ee947ef07cadc1aaa900dc9a3ab050db9961d6.
resource "cloudflare_zero_trust_gateway_policy" "exported_with_computed" {
  account_id = "3a1f0c9e8d7b6a5f4e3d2c1b0a9f8e7d"
  action     = "block"
  name       = "Block until June"
  enabled    = true
  filters    = ["dns"]
  traffic    = "any(dns.domains[*] == \"games.example\")"
  expiration = {
    expires_at = "2031-06-30T17:00:00Z"
    duration   = 30
    expired    = false
  }
}

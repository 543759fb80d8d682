# want warning: 13:5: config.client_name is not an attribute of config in the Cloudflare provider v5 schema
# source: cloudflare/terraform-provider-cloudflare,
#   internal/services/zero_trust_access_identity_provider/testdata/accessidentityprovideronetimepin.tf,
#   commit a2efdc5786ae9726d56928dbfe91933bd92404ca (v5.22.0)
# construct: a one-time PIN IdP whose config sets a key the v5 schema lacks.
# provider: accepts (Terraform drops unknown keys of an object attribute,
#   hashicorp/terraform#33570); the simulator loads it with a warning.
resource "cloudflare_zero_trust_access_identity_provider" "pin" {
  account_id = var.account_id
  name       = "Email PIN"
  type       = "onetimepin"
  config = {
    client_name = "pin-login"
  }
}

variable "account_id" {
  default = "5f2a0c6d9b7e4c1a8d3f6b0e2a9c7d41"
}

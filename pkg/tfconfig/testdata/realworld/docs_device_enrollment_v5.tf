# want nothing
# source: cloudflare/cloudflare-docs,
#   src/content/partials/cloudflare-one/warp/device-enrollment.mdx (the
#   "Terraform (v5)" tab of Device enrollment permissions), commit
#   046f5f9e5fdf226151e76964294d856025c97ce6, and
#   src/content/partials/cloudflare-one/access/entra-id-terraform.mdx,
#   commit 3bc5a5e7bf34a8b20091a0209e3c32868a4835ba
# construct: device enrollment permissions as the docs write them: a
#   reusable policy on an e-mail domain written with a leading "@", and a
#   type "warp" application whose allowed_idps reference an Entra ID
#   provider with support_groups, all indented with tabs. The docs' Entra
#   ID snippet writes config as a block (provider v4 syntax, refused by v5,
#   see testdata/invalid/v4_block.tf); here it is an attribute.
# provider: accepts; the simulator loads the permissions (the "@" is
#   ignored when matching, as Access does).
variable "cloudflare_account_id" {
  type    = string
  default = "5f2a0c6d9b7e4c1a8d3f6b0e2a9c7d41"
}

variable "entra_client_secret" {
  type      = string
  sensitive = true
  default   = "not-a-secret"
}

resource "cloudflare_zero_trust_access_identity_provider" "entra" {
	account_id = var.cloudflare_account_id
	name       = "Entra ID"
	type       = "azureAD"
	config = {
		client_id      = "2b3c4d5e-6f70-4812-9a3b-4c5d6e7f8091"
		client_secret  = var.entra_client_secret
		directory_id   = "9a8b7c6d-5e4f-4321-8fed-cba987654321"
		support_groups = true
	}
}

resource "cloudflare_zero_trust_access_policy" "staff_domain" {
	account_id   = var.cloudflare_account_id
	name         = "Staff e-mail domain"
	decision     = "allow"
	include      = [
		{
			email_domain = {
				domain = "@acme.example"
			}
		}
	]
}

resource "cloudflare_zero_trust_access_application" "enrollment" {
	account_id       = var.cloudflare_account_id
	type             = "warp"
	name             = "Device enrollment"
	allowed_idps              = [cloudflare_zero_trust_access_identity_provider.entra.id]
	auto_redirect_to_identity = true
	app_launcher_visible      = false
	policies = [
		{
			id = cloudflare_zero_trust_access_policy.staff_domain.id
			precedence = 1
		}
	]
}

# Terraform merges this into main.tf: the git policy is enabled here, and
# the wiki session comes from this variable default.
resource "cloudflare_zero_trust_gateway_policy" "git" {
  enabled = true
}

variable "wiki" {
  default = { ip = "10.0.0.10", session = "2h" }
}

# want: 30:18: rule_settings.check_session.duration: session duration "1d" is not a duration ... (value set at testdata/invalid_dirs/tfvars_origin/terraform.tfvars:3:11)
# want: 27:16: traffic expression: unknown field net.dst.ipx ... (value set at testdata/invalid_dirs/tfvars_origin/terraform.tfvars:4:11)
# want: 50:16: action "alow" is not a Gateway action (did you mean "allow"?) ... (value set at testdata/invalid_dirs/tfvars_origin/terraform.tfvars:7:11)
# want: 39:12: "10.0.0.300" is not an IP address or CIDR ... (value set at testdata/invalid_dirs/tfvars_origin/terraform.tfvars:5:11)
# want: 43:32: warp_auth_session_duration "300s": Cloudflare accepts only hours (h) and minutes (m) here ... write "5m" (value set at testdata/invalid_dirs/tfvars_origin/terraform.tfvars:6:11)
variable "session" { type = string }
variable "traffic" { type = string }
variable "wiki_ip" { type = string }
variable "warp" { type = string }
variable "action" {
  type    = string
  default = "allow"
}

locals {
  wiki_ip = var.wiki_ip
}

resource "cloudflare_zero_trust_gateway_policy" "wiki" {
  name       = "Wiki"
  enabled    = true
  precedence = 1
  action     = "allow"
  filters    = ["l4"]
  # The error points here, in the expression that uses the value, and says
  # where the value was set.
  traffic    = var.traffic
  rule_settings = {
    check_session = {
      duration = var.session
      enforce  = true
    }
  }
}

resource "cloudflare_zero_trust_list" "wiki" {
  name  = "Wiki"
  type  = "IP"
  items = [local.wiki_ip]
}

resource "cloudflare_zero_trust_organization" "acme" {
  warp_auth_session_duration = var.warp
}

resource "cloudflare_zero_trust_gateway_policy" "git" {
  name       = "Git"
  enabled    = true
  precedence = 2
  action     = var.action
  filters    = ["http"]
}

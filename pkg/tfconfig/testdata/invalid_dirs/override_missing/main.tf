# want: override.tf:3:1: this override block changes resource cloudflare_zero_trust_list.wiki, which no other .tf file declares
# want: override.tf:7:1: this override block changes variable "sesion", which no other .tf file declares
# want: override.tf:12:3: this overrides local.nme, which no other .tf file defines
variable "session" {
  default = "1h"
}

locals {
  name = "Wiki"
}

resource "cloudflare_zero_trust_list" "wiki_IPs" {
  name  = local.name
  type  = "IP"
  items = ["10.0.0.10"]
}

resource "cloudflare_zero_trust_gateway_policy" "wiki" {
  name       = "Wiki"
  enabled    = true
  precedence = 1
  action     = "allow"
  filters    = ["l4"]
  traffic    = "net.dst.ip in ${"$"}${cloudflare_zero_trust_list.wiki_IPs.id}"
  rule_settings = {
    check_session = { enforce = true, duration = var.session }
  }
}

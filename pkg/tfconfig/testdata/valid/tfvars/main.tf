variable "wiki_ip" {
  type    = string
  default = "10.0.0.10"
}

variable "session" {
  type    = string
  default = "1h30m0s"
}

variable "precedence" {
  type    = number
  default = 100
}

locals {
  wiki_name = "Wiki ${var.wiki_ip}"
  traffic   = "net.dst.ip in ${"$"}${cloudflare_zero_trust_list.wiki.id}"
}

resource "cloudflare_zero_trust_list" "wiki" {
  name  = local.wiki_name
  type  = "IP"
  items = [var.wiki_ip, "10.0.1.0/24"]
}

resource "cloudflare_zero_trust_gateway_policy" "wiki" {
  name       = "Wiki"
  enabled    = true
  precedence = var.precedence
  action     = "allow"
  filters    = ["l4"]
  traffic    = local.traffic
  rule_settings = {
    check_session = {
      enforce  = true
      duration = var.session
    }
  }
}

resource "cloudflare_zero_trust_gateway_policy" "later" {
  name    = "No precedence"
  enabled = true
  action  = "block"
  filters = ["l4"]
}

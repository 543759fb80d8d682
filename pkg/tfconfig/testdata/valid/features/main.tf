# Valid Terraform the simulator must load without a diagnostic other than
# info lines: meta-arguments it never evaluates, optional attributes with
# defaults in a variable type, Terraform functions, and an override file.

provider "cloudflare" {
  alias = "zt"
}

variable "wiki" {
  type = object({
    ip      = string
    name    = optional(string, "Company wiki")
    session = optional(string, "45m")
    tags    = optional(list(string), [])
  })
  default = { ip = "10.0.0.10" }
}

variable "settings" {
  type = map(string)
  default = {
    action = "ALLOW"
  }
}

locals {
  ips     = concat([var.wiki.ip], split(",", " 10.0.1.0/24 ,10.0.2.0/24"))
  trimmed = [for ip in local.ips : trimspace(ip)]
  domains = toset(["wiki.acme.internal", "git.acme.internal", "wiki.acme.internal"])
  meta = merge({ owner = "it" }, { team = upper("eng") })
}

resource "cloudflare_zero_trust_list" "wiki" {
  provider    = cloudflare.zt
  name        = format("%s (%d addresses)", var.wiki.name, length(local.trimmed))
  description = jsonencode(local.meta)
  type        = "IP"
  items       = [for ip in local.trimmed : { value = ip, description = lookup(local.meta, "owner", "nobody") }]
  depends_on  = [module.network, cloudflare_zero_trust_list.hosts]

  lifecycle {
    prevent_destroy = true
    ignore_changes  = [items]
  }
}

resource "cloudflare_zero_trust_list" "hosts" {
  name  = join(" ", ["Hosts:", tostring(length(local.domains))])
  type  = "DOMAIN"
  items = tolist(local.domains)
}

resource "cloudflare_zero_trust_gateway_policy" "wiki" {
  provider   = cloudflare.zt
  name       = "Wiki"
  enabled    = tobool("true")
  precedence = tonumber("10")
  action     = lower(var.settings["action"])
  filters    = ["l4"]
  traffic    = "net.dst.ip in ${"$"}${cloudflare_zero_trust_list.wiki.id}"
  identity   = contains(keys(local.meta), "team") ? "identity.email matches \".*@example.com\"" : ""
  rule_settings = {
    check_session = {
      enforce  = true
      duration = coalesce("", var.wiki.session)
    }
  }
}

resource "cloudflare_zero_trust_gateway_policy" "git" {
  name       = "Git"
  enabled    = false
  precedence = 20
  action     = "block"
  filters    = ["dns"]
  traffic    = replace("dns.fqdn == \"GIT\"", "/[A-Z]+/", "git.acme.internal")
}

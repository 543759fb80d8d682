# want: 10:17: var.acount_id is not declared (did you mean "account_id"?)
# want: 11:17: data sources are not read by the simulator
# want: 12:17: local.missing is not defined
# want: 20:3: count is not supported by the simulator
variable "account_id" {
  default = "0123"
}

resource "cloudflare_zero_trust_list" "refs" {
  account_id  = var.acount_id
  name        = data.cloudflare_zero_trust_list.other.name
  description = local.missing
  type        = "DOMAIN"
}

resource "cloudflare_zero_trust_gateway_policy" "counted" {
  name       = "Counted"
  enabled    = true
  precedence = 1
  count      = 2
  action     = "allow"
  filters    = ["dns"]
}

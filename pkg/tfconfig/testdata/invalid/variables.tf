# want: 5:1: variable "no_value" has no value; give it a default, or set no_value = ... in terraform.tfvars
# want: 10:13: the value of var.typed does not fit its type number
# want: 15:3: local.a depends on itself through other locals
# want: 16:3: local.b depends on itself through other locals
variable "no_value" {
  type = string
}

variable "typed" {
  default = "not a number"
  type    = number
}

locals {
  a = local.b
  b = local.a
}

resource "cloudflare_zero_trust_list" "uses_them" {
  name        = var.no_value
  description = "${local.a} ${var.typed}"
  type        = "IP"
}

# want: terraform.tfvars:2:14: the value of var.precedence does not fit its type number
# want warning: terraform.tfvars:3:1: account_idd is set here but no variable "account_idd" is declared (did you mean "account_id"?)
# want: extra.auto.tfvars:1:14: Invalid expression
variable "account_id" {
  type = string
}

variable "precedence" {
  type    = number
  default = 1
}

resource "cloudflare_zero_trust_list" "l" {
  account_id = var.account_id
  name       = "List"
  type       = "IP"
}

# Each block here overrides something main.tf does not declare.

resource "cloudflare_zero_trust_list" "wiki" {
  type = "DOMAIN"
}

variable "sesion" {
  default = "2h"
}

locals {
  nme = "Wiki IPs"
}

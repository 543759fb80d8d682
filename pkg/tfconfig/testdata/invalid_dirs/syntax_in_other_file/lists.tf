variable "wiki_ip" {}
resource "cloudflare_zero_trust_list" "wiki" {
  name  = "Wiki"
  type  = = "IP"
  items = [var.wiki_ip]
}

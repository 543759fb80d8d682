# want: 7:17: function base64encode is not supported by the simulator; docs/TERRAFORM.md ("Functions") lists those it evaluates
# want: 8:17: function lenght is not supported by the simulator (did you mean "length"?)
# want: 9:17: provider::cloudflare::normalize: provider-defined functions are not supported by the simulator
resource "cloudflare_zero_trust_list" "hosts" {
  type        = "DOMAIN"
  items       = ["wiki.acme.internal"]
  name        = base64encode("hosts")
  description = lenght("hosts")
  account_id  = provider::cloudflare::normalize("0123")
}

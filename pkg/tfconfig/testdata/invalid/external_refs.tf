# want warning: 15:39: list $01302951-49f9-47c9-a400-0297e60b6a10 is not declared in testdata/invalid (a list made in the dashboard or passed in from another module): the simulator loads it as an empty list
# want warning: 23:31: list $a0b1c2d3-e4f5-4a6b-8c7d-9e0f1a2b3c4d is not declared
# want warning: 28:22: no cloudflare_zero_trust_access_policy in testdata/invalid has the ID "f174e90a-fafe-4643-bbbc-4a0ed4fc8415" (a policy made in the dashboard or in another module)
# want: 28:87: no cloudflare_zero_trust_access_policy has the ID "my-policy"
# References to what the directory does not declare, as real configurations
# make them (lists made in the dashboard, policies of another module): they
# load with a warning. A made-up ID that is not a Cloudflare ID stays an
# error.
resource "cloudflare_zero_trust_gateway_policy" "ext" {
  name       = "External list"
  enabled    = true
  precedence = 1
  action     = "block"
  filters    = ["dns"]
  traffic    = "any(dns.domains[*] in $01302951-49f9-47c9-a400-0297e60b6a10) or dns.fqdn in $01302951-49f9-47c9-a400-0297e60b6a10"
}
resource "cloudflare_zero_trust_gateway_policy" "ip" {
  name       = "External IP list"
  enabled    = true
  precedence = 2
  action     = "allow"
  filters    = ["l4"]
  traffic    = "net.dst.ip in $a0b1c2d3-e4f5-4a6b-8c7d-9e0f1a2b3c4d"
}
resource "cloudflare_zero_trust_access_application" "app" {
  name     = "App"
  domain   = "app.acme.internal"
  policies = [{ id = "f174e90a-fafe-4643-bbbc-4a0ed4fc8415", precedence = 1 }, { id = "my-policy", precedence = 2 }]
}

# want: 7:22: "10.0.0.300" is not an IP address or CIDR
# want: 8:5: "wiki.acme.internal" is not an IP address or CIDR
# want: 15:11: list type "HOSTNAME" is not a Cloudflare list type
resource "cloudflare_zero_trust_list" "ips" {
  name = "IPs"
  type = "IP"
  items = [{ value = "10.0.0.300", description = "a typo" },
    "wiki.acme.internal",
    "10.0.0.0/24",
  ]
}

resource "cloudflare_zero_trust_list" "hosts" {
  name  = "Hosts"
  type  = "HOSTNAME"
  items = ["wiki.acme.internal"]
}

# want nothing
# source: cloudflare/terraform-provider-cloudflare,
#   internal/services/zero_trust_access_application/testdata/accessapplicationconfigrdp.tf,
#   commit 9a566699e17465f14ebf8973f3ce70463cdf4ad8
# construct: a browser-rendered RDP application reached by a public
#   destination, with target_criteria naming an infrastructure target and an
#   inline policy; the virtual network and the target are resource types
#   the simulator does not load, referenced from another resource.
# provider: accepts; the simulator skips the two resource types (info
#   lines), serves the application at its public hostname and evaluates the
#   inline policy.
resource "cloudflare_zero_trust_tunnel_cloudflared_virtual_network" "lab" {
  account_id         = "5f2a0c6d9b7e4c1a8d3f6b0e2a9c7d41"
  name               = "lab"
  comment            = "lab network"
  is_default_network = "false"
}

resource "cloudflare_zero_trust_access_infrastructure_target" "jump" {
  account_id = "5f2a0c6d9b7e4c1a8d3f6b0e2a9c7d41"
  hostname   = "jump-01"
  ip = {
    ipv4 = {
      ip_addr            = "10.20.0.5"
      virtual_network_id = cloudflare_zero_trust_tunnel_cloudflared_virtual_network.lab.id
    }
  }
}

resource "cloudflare_zero_trust_access_application" "jump_rdp" {
  account_id = "5f2a0c6d9b7e4c1a8d3f6b0e2a9c7d41"
  name       = "Jump host (browser RDP)"
  type       = "rdp"
  destinations = [
    {
      type = "public"
      uri  = "jump.acme.example"
    }
  ]
  target_criteria = [
    {
      port     = 3389
      protocol = "RDP"
      target_attributes = {
        "hostname" = ["jump-01"]
      }
    }
  ]
  policies = [
    {
      name     = "Admins"
      decision = "allow"
      include = [
        {
          email = { email = "admin@acme.example" }
        }
      ]
    }
  ]
}

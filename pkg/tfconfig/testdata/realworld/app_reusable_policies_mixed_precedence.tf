# want warning: 24:5: the ip selector is not simulated: the simulator never matches it
# source: cloudflare/terraform-provider-cloudflare,
#   internal/services/zero_trust_access_application/testdata/accessapplicationconfigwithreusablepolicies.tf,
#   commit 2dd16a5b2a0539f08f7ffdef407591523c4d1def
# construct: reusable policies (one allow by e-mail, one non_identity by
#   IP) referenced from an application, one with a precedence and one
#   without, in a file that aligns with tabs and leaves trailing blanks.
# provider: accepts; the simulator loads both references and warns that the
#   ip selector is not simulated.
resource "cloudflare_zero_trust_access_policy" "staff_email" {
  account_id 	= "5f2a0c6d9b7e4c1a8d3f6b0e2a9c7d41"
  name          = "Staff by e-mail"
  decision	= "allow"
  include = [{
    email = { email = "ops@acme.example" }
  }]
}

resource "cloudflare_zero_trust_access_policy" "office_ip" {
  account_id	= "5f2a0c6d9b7e4c1a8d3f6b0e2a9c7d41"
  name          = "Office IP, no identity"
  decision	= "non_identity"
  include = [{
    ip = { ip = "198.51.100.0/24" }
  }]
}

resource "cloudflare_zero_trust_access_application" "status" {
  account_id   = "5f2a0c6d9b7e4c1a8d3f6b0e2a9c7d41"
  name         = "Status page"
  domain       = "status.acme.example"
  type         = "self_hosted"
  policies     = [
    { 
      id = cloudflare_zero_trust_access_policy.staff_email.id
      precedence = 3
    },
    {
      id = cloudflare_zero_trust_access_policy.office_ip.id
    }
  ]
}

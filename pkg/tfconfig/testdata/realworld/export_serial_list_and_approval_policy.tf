# want warning: 27:5: the group selector is not simulated, so the simulator never matches it: it matches members of an Access group
# want warning: 39:5: the group selector is not simulated, so the simulator never matches it: it matches members of an Access group
# source: cloudflare/cf-terraforming,
#   testdata/terraform/v5/cloudflare_zero_trust_list/test.tf and
#   testdata/terraform/v5/cloudflare_zero_trust_access_policy/test.tf,
#   commit 39ee947ef07cadc1aaa900dc9a3ab050db9961d6
# construct: cf-terraforming exports of a SERIAL list and of a reusable
#   Access policy that includes and excludes Access groups by ID and asks
#   for approval and a purpose justification.
# provider: accepts; the simulator loads both and warns that the group
#   selector (an Access group, which it does not load) never matches.
resource "cloudflare_zero_trust_list" "laptop_serials" {
  account_id = "3a1f0c9e8d7b6a5f4e3d2c1b0a9f8e7d"
  name = "Issued laptop serial numbers"
  type = "SERIAL"
  description = "Serial numbers of the laptops IT issued"
  items = [{
    description = "Laptop of the help desk"
    value = "C02ZK1ABMD6M"
  }]
}

resource "cloudflare_zero_trust_access_policy" "devs_with_approval" {
  account_id = "3a1f0c9e8d7b6a5f4e3d2c1b0a9f8e7d"
  decision = "allow"
  include = [{
    group = {
      id = "f1e2d3c4-b5a6-4978-8695-a4b3c2d1e0f9"
    }
  }]
  name = "Developers, approved"
  approval_groups = [{
    approvals_needed = 1
    email_addresses = ["lead@acme.example", "cto@acme.example"]
    email_list_uuid = "a0b1c2d3-e4f5-4a6b-8c7d-9e0f1a2b3c4d"
  }]
  approval_required = true
  exclude = [{
    group = {
      id = "0f1e2d3c-4b5a-4697-8a8b-9c0d1e2f3a4b"
    }
  }]
  isolation_required = false
  purpose_justification_prompt = "Why do you need production access?"
  purpose_justification_required = true
  session_duration = "24h"
}

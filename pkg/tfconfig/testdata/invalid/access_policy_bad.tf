# want: 4:1: cloudflare_zero_trust_access_policy.bad has no include
# want: 6:14: decision "permit" is not an Access decision
# want: 12:14: include is empty, so the policy matches no one
resource "cloudflare_zero_trust_access_policy" "bad" {
  name     = "Bad"
  decision = "permit"
}

resource "cloudflare_zero_trust_access_policy" "empty" {
  name     = "Empty"
  decision = "allow"
  include  = []
}

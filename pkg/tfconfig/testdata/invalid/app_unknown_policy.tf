# want: 7:12: no cloudflare_zero_trust_access_policy has the ID "not-a-policy-id"
# want: 8:12: no cloudflare_zero_trust_access_policy named "employes" is declared (did you mean "employees"?)
resource "cloudflare_zero_trust_access_application" "wiki" {
  name   = "Wiki"
  domain = "wiki.acme.internal"
  policies = [
    { id = "not-a-policy-id" },
    { id = cloudflare_zero_trust_access_policy.employes.id },
  ]
}

resource "cloudflare_zero_trust_access_policy" "employees" {
  name     = "Employees"
  decision = "allow"
  include  = [{ everyone = {} }]
}

# want: 12:26: session_duration: "24z" is not a duration ("z" is not a unit
# The provider's acceptance test of an invalid session duration: "24z"
# has no unit Go's time.ParseDuration (and the provider's validator)
# knows. source: cloudflare/terraform-provider-cloudflare,
# internal/services/zero_trust_access_application/testdata/accessapplicationwithinvalidsessionduration.tf,
# commit e93fceac0480e621063bad0b8c5c75b3e408df04; the provider refuses it.
    resource "cloudflare_zero_trust_access_application" "bad_session" {
      name             = "Bad session"
      zone_id          = "0d9c8b7a6f5e4d3c2b1a0f9e8d7c6b5a"
      domain           = "bad.acme.example"
      type             = "self_hosted"
      session_duration = "24z"
  }

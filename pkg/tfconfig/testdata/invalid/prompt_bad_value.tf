# want: 8:20: config.prompt "consent" is not an Entra ID prompt
resource "cloudflare_zero_trust_access_identity_provider" "entra" {
  name = "Entra ID"
  type = "azureAD"
  config = {
    client_id    = "client"
    directory_id = "tenant"
    prompt       = "consent"
  }
}

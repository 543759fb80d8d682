# want: 11:5: config.prompt is only supported for azureAD identity providers
resource "cloudflare_zero_trust_access_identity_provider" "generic" {
  name = "Generic OIDC"
  type = "oidc"
  config = {
    client_id     = "client"
    client_secret = "secret-value"
    auth_url      = "https://idp.example.com/authorize"
    token_url     = "https://idp.example.com/token"
    certs_url     = "https://idp.example.com/jwks"
    prompt        = "login"
  }
}

# want warning: 1:1: the built-in IdP has no users
# want: 11:16: base_url "http://127.0.0.1:9000/oidc" must be an http(s) origin with no path
# want: 16:12: external "partner" is given twice
# want: 19:20: Missing required argument: The argument "base_url" is required
# idp.external points IdPs the built-in one does not play at another
# origin: base_url is an origin without a path, and each IdP once.
team = "acme"

idp {
  external "corp" {
    base_url = "http://127.0.0.1:9000/oidc"
  }
  external "partner" {
    base_url = "http://127.0.0.1:9001"
  }
  external "partner" {
    base_url = "http://127.0.0.1:9002"
  }
  external "nourl" {
  }
}

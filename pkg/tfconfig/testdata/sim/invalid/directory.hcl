# want: 17:9: group Engineering is defined twice
# want: 18:22: group ops has an empty id
# want: 19:27: group sales: email "sales" is not an e-mail address
# want warning: 20:3: group empty has neither id nor email
# want: 24:23: saml_attributes.level of user a@acme.example must be a string or a list of strings, not number
# want: 25:23: oidc_claims of user a@acme.example must be an object
# want: 30:13: network.vnet_id "net-1" is not a virtual network ID
# want: 33:30: content_categories of news.example: -3 is not a category ID
# want: 35:3: host quiet.example has no categories
# want: 36:8: news.example has categories here and at
# want: 37:8: host "bad host" is not a DNS name
# want: 40:6: list "not-an-id" is not a list ID
team = "acme"

idp {
  group "engineering" { id = "61503835-b6fe-4630-af88-de551dd59a2f" }
  group "Engineering" { id = "x" }
  group "ops" { id = "" }
  group "sales" { email = "sales" }
  group "empty" {}
  user "a@acme.example" {
    password        = "pw-a"
    groups          = ["engineering"]
    saml_attributes = { department = "Sales", level = 3 }
    oidc_claims     = "department=eng"
  }
}

network {
  vnet_id = "net-1"
  record "news.example" {
    addresses          = ["192.0.2.7"]
    content_categories = [7, -3]
  }
  host "quiet.example" {}
  host "news.example" { security_categories = [80] }
  host "bad host" { content_categories = [1] }
}

list "not-an-id" { items = ["10.0.0.1"] }
list "01302951-49f9-47c9-a400-0297e60b6a10" {
  items = ["10.0.0.1"]
}

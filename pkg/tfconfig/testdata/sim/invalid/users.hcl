# want: 12:8: user Alice@Example.com is defined twice
# want: 16:3: user bob@example.com has no password
# want: 19:8: user "carol" is not an email address
# want: 23:5: Unsupported argument: An argument named "pasword"
team = "acme"

idp {
  plays = "entra_id"
  user "alice@example.com" {
    password = "alice-password"
  }
  user "Alice@Example.com" {
    password = "another-password"
  }

  user "bob@example.com" {
    groups = ["finance"]
  }
  user "carol" {
    password = "carol-password"
  }
  user "dave@example.com" {
    pasword = "dave-password"
    password = "dave-password"
  }
}

# What Terraform does not describe: the team, the simulator's listeners, the
# built-in IdP's users and the virtual network behind the tunnel.
# Schema: docs/TERRAFORM.md, "The simulator file".

team = "acme"

listen {
  api         = "127.0.0.1:8780" # control and admin API
  team_domain = "127.0.0.1:8781" # http://acme.localhost:8781
  idp         = "127.0.0.1:8782" # http://idp.localhost:8782
  wireguard   = "127.0.0.1:2408" # UDP
}

idp {
  # The built-in IdP stands in for this Terraform identity provider, so it
  # behaves as Entra ID with prompt = "login".
  plays = "entra_id"

  # Entra ID gives each group an object ID (identity.groups.id, which the
  # git policy matches) and may give it an e-mail (identity.groups.email).
  group "engineering" {
    id    = "5b2c7e1a-4d3f-4a8e-9c6b-2f1e0d9a8c7b"
    email = "engineering@example.com"
  }

  # Matches ".*@example.com" (the wiki policy) and the engineering group
  # (the git policy).
  user "alice@example.com" {
    name     = "Alice Example"
    password = "alice-demo-password"
    groups   = ["engineering"]
  }

  # Matches ".*@example.com" but not the engineering group.
  user "bob@example.com" {
    name     = "Bob Example"
    password = "bob-demo-password"
    groups   = ["finance"]
  }

  # Matches no policy: signs in, but may not register a device (the
  # device enrollment permissions admit employees only).
  user "mallory@contractor.test" {
    name     = "Mallory Contractor"
    password = "mallory-demo-password"
    groups   = []
  }
}

network {
  resolver     = "100.96.0.1"
  address_pool = "100.96.0.0/12"

  record "wiki.acme.internal" {
    addresses = ["10.0.0.10"]
  }

  record "git.acme.internal" {
    addresses = ["10.0.0.20"]
  }

  upstream "10.0.0.10:80" {
    target = "127.0.0.1:9080"
  }

  upstream "10.0.0.20:80" {
    target = "127.0.0.1:9081"
  }
}

locals {
  meta = { owner = "security", team = "ENG" }
}

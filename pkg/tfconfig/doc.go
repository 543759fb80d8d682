// Package tfconfig loads the edge simulator's configuration: real
// Cloudflare Terraform (provider v5 syntax) for what Cloudflare configures,
// and ztagent's simulator file for what Terraform does not describe.
//
// Load reads every *.tf file of a directory, with variable values from
// terraform.tfvars, *.auto.tfvars (and their .json forms) and variable
// defaults, and locals. It decodes the Zero Trust resources the simulator
// plays (gateway policies, lists, identity providers, Access applications
// and policies, the organization, the device default profile) into typed
// structs; other blocks are skipped with one info line per kind. There is
// no Cloudflare API behind the simulator, so each resource gets a stable
// synthetic ID (SyntheticID), and references to "<type>.<name>.id" (the
// seed's "${"$"}${cloudflare_zero_trust_list.x.id}" idiom included)
// resolve to it.
//
// Loading never stops at the first problem: every error, warning and info
// line is a Diagnostic positioned at file:line:col. Problems with an
// attribute's presence point at its name (or object key); problems with its
// value point at the value; rule-language errors in traffic and identity
// expressions point at the offending character inside the string.
//
// LoadSim reads the simulator file (team, listeners, the built-in IdP's
// users, the virtual network), and Link ties it to the Terraform
// configuration.
package tfconfig

// Package tfconfig loads the edge simulator's configuration: real
// Cloudflare Terraform (provider v5 syntax) for what Cloudflare configures,
// and ztagent's simulator file for what Terraform does not describe.
//
// Load reads every *.tf file of a directory, merging override files as
// Terraform does, with variable values from terraform.tfvars,
// *.auto.tfvars (and their .json forms) and variable defaults, locals and
// the Terraform functions of functions.go. It decodes the Zero Trust
// resources the simulator plays (gateway policies, lists, identity
// providers, Access applications and policies, the organization, the
// device default profile) into typed structs; other blocks are skipped
// with one info line per kind, and provider v4 resource types and syntax
// are errors that name the v5 form. There is no Cloudflare API behind the
// simulator, so each resource gets a stable synthetic ID (SyntheticID), and
// references to "<type>.<name>.id" (the seed's
// "${"$"}${cloudflare_zero_trust_list.x.id}" idiom included) resolve to
// it.
//
// Loading does not stop at the first problem, except that a .tf file that
// cannot be read or parsed stops decoding: every error, warning and info
// line is a Diagnostic positioned at file:line:col (a directory as a whole
// has no line). Problems with an attribute's presence point at its name (or
// object key); problems with its value point at the value, and say where
// the value was set when it came from a variable; rule-language errors in
// traffic and identity expressions point at the offending character inside
// the string. One mistake gives one message: rules that depend on a value
// apply only once the value was read.
//
// LoadSim reads the simulator file (team, listeners, the built-in IdP's
// users, the virtual network), and Link ties it to the Terraform
// configuration once both loaded without errors.
package tfconfig

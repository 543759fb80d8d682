// Package ruleid finds the project's rule IDs (S6, SEC4, REL2, "DESIGN
// §7"; docs/RULES.md defines them) in text a user reads. They belong in
// code comments and test names, never in output: a person cannot look up
// "(S14)" from a terminal. S256, PKCE's method name, is not one.
package ruleid

import (
	"regexp"
	"testing"
)

var pattern = regexp.MustCompile(`\b(S[0-9]{1,2}|SEC[0-9]+|REL[0-9]+)\b|DESIGN §|§[0-9]`)

// Find returns the first rule ID in text, or "" when there is none.
func Find(text string) string { return pattern.FindString(text) }

// Check fails t when text, described as what, names a rule ID.
func Check(t testing.TB, what, text string) {
	t.Helper()
	if m := Find(text); m != "" {
		t.Errorf("%s shows the rule ID %q:\n%s", what, m, text)
	}
}

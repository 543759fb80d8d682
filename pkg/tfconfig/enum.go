package tfconfig

import "strings"

// oneOf reads v as the provider v5 schema's OneOfCaseInsensitive
// validators do: a value of allowed in any case is valid. It returns the
// canonical spelling, reporting with an info line a value written in
// another case (the simulator, like Cloudflare's API, then uses the
// canonical one), and false for a value that is not in allowed at all,
// which the caller reports.
func (f *field) oneOf(v string, allowed []string, what string) (string, bool) {
	for _, a := range allowed {
		if v == a {
			return a, true
		}
	}
	for _, a := range allowed {
		if strings.EqualFold(v, a) {
			f.l.d.infof(f.rng, "%s %q is read as %q: the provider accepts it in any case", what, v, a)
			return a, true
		}
	}
	return v, false
}

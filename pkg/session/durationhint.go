package session

import (
	"fmt"
	"strconv"
	"strings"
)

// unitAliases are the words people write for Go's duration units.
var unitAliases = map[string]string{
	"sec": "s", "secs": "s", "second": "s", "seconds": "s",
	"min": "m", "mins": "m", "minute": "m", "minutes": "m",
	"hr": "h", "hrs": "h", "hour": "h", "hours": "h",
}

// hoursPer are the units Go has no letter for, in hours.
var hoursPer = map[string]float64{
	"d": 24, "day": 24, "days": 24,
	"w": 7 * 24, "wk": 7 * 24, "week": 7 * 24, "weeks": 7 * 24,
}

// goUnits are time.ParseDuration's units.
var goUnits = map[string]bool{"ns": true, "us": true, "µs": true, "μs": true, "ms": true, "s": true, "m": true, "h": true}

// DurationHint explains, from what s actually contains, why
// time.ParseDuration refused it and what to write instead: "5 minutes"
// gets `("minutes" is not a unit): write 5m`, and only an input that used
// days hears that there is no "d". ok is false when s is spelt right, so
// that what is wrong is its size, which only the caller can put in words.
func DurationHint(s string) (hint string, ok bool) {
	terms, ok := durationTerms(s)
	if !ok {
		return `(write a number and a unit, such as 90m, 2h or 1h30m)`, true
	}
	var why string
	var fixed strings.Builder
	if strings.HasPrefix(strings.TrimSpace(s), "-") {
		fixed.WriteByte('-')
	}
	for _, t := range terms {
		unit := strings.ToLower(t.unit)
		switch {
		case t.unit == "":
			if why == "" {
				why = fmt.Sprintf("(%q has no unit): write %sm, %sh or %ss", t.num, t.num, t.num, t.num)
			}
			fixed.WriteString(t.num + "m")
		case goUnits[t.unit]:
			fixed.WriteString(t.num + t.unit)
		case unitAliases[unit] != "":
			if why == "" {
				why = fmt.Sprintf("(%q is not a unit)", t.unit)
			}
			fixed.WriteString(t.num + unitAliases[unit])
		case hoursPer[unit] != 0:
			if why == "" {
				what := "days"
				if hoursPer[unit] != 24 {
					what = "weeks"
				}
				why = fmt.Sprintf(`(there are no %s: %q is not a unit, only h, m and s are)`, what, t.unit)
			}
			n, _ := strconv.ParseFloat(t.num, 64)
			fixed.WriteString(strconv.FormatFloat(n*hoursPer[unit], 'f', -1, 64) + "h")
		default:
			if why == "" {
				why = fmt.Sprintf(`(%q is not a unit; units are h, m and s): write e.g. 90m or 2h`, t.unit)
			}
			fixed.WriteString(t.num + "m")
		}
	}
	if strings.Contains(why, "): write ") {
		return why, true
	}
	if why == "" {
		if strings.ContainsAny(s, " \t") {
			why = "(no spaces between a number and its unit)"
		} else {
			// Every unit is Go's and there are no spaces: the number
			// is too large for a duration (about 292 years).
			return "", false
		}
	}
	return why + ": write " + fixed.String(), true
}

// term is a number and the unit written after it.
type term struct{ num, unit string }

// durationTerms splits s, such as "1 hour 30 minutes", into its numbers
// and units, ignoring spaces and a leading sign; ok is false when s has
// anything else.
func durationTerms(s string) (terms []term, ok bool) {
	s = strings.TrimSpace(s)
	s = strings.TrimLeft(s, "+-")
	for s = strings.TrimSpace(s); s != ""; s = strings.TrimSpace(s) {
		i := strings.IndexFunc(s, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
		if i < 0 {
			i = len(s)
		}
		if i == 0 {
			return nil, false
		}
		num := s[:i]
		s = strings.TrimSpace(s[i:])
		j := strings.IndexFunc(s, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == 'µ' || r == 'μ')
		})
		if j < 0 {
			j = len(s)
		}
		terms = append(terms, term{num: num, unit: s[:j]})
		s = s[j:]
		s = strings.TrimPrefix(s, ",")
	}
	return terms, len(terms) > 0
}

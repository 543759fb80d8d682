// Package didyoumean picks the name someone most likely meant when they
// wrote one that does not exist: the configuration loader and the policy
// language both suggest it in their errors.
package didyoumean

import "strings"

// Closest returns the name of names closest to name, or "" when none is
// close or name is itself one of them: at most one edit in three
// characters, or one name the start of the other. Case differences count
// for nothing, so that "AzureAD" finds "azureAD"; ties go to the name that
// sorts first. names is not modified.
func Closest(name string, names []string) string {
	lname := strings.ToLower(name)
	best, bestDist := "", -1
	for _, n := range names {
		ln := strings.ToLower(n)
		d := editDistance(lname, ln)
		prefix := len(lname) >= 3 && len(ln) >= 3 && (strings.HasPrefix(ln, lname) || strings.HasPrefix(lname, ln))
		if d > max(1, len(name)/3) && !prefix {
			continue
		}
		if bestDist < 0 || d < bestDist || (d == bestDist && n < best) {
			best, bestDist = n, d
		}
	}
	if best == name {
		return ""
	}
	return best
}

// editDistance returns the Levenshtein distance of a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

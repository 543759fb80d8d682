// Package browseurl is the check every URL passes before it is opened in a
// browser or published to front-ends (SEC4). It is a leaf: it imports only
// the standard library, so the session domain (pkg/session) and the browser
// launcher (platform/browser) can both use it.
package browseurl

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ErrUnsafe is wrapped by every Validate rejection.
var ErrUnsafe = errors.New("unsafe URL")

// maxURLLen bounds what is handed to a browser launcher.
const maxURLLen = 8 << 10

// Validate checks a URL before it is opened in a browser or published to
// front-ends (SEC4). It must be absolute http or https, with no userinfo, no
// control, format or space characters, no backslash, only ASCII in its host
// (a browser's IDNA mapping could turn a look-alike into another domain), not
// begin with '-' (a launcher would take it for an option), and match one of
// allowed: an origin ("https://acme.cloudflareaccess.com", scheme and
// host[:port] must both match, so https cannot be downgraded) or a bare
// host[:port] (either scheme). Hosts compare ASCII case-insensitively. It
// returns the parsed URL.
func Validate(raw string, allowed ...string) (*url.URL, error) {
	reject := func(why string) (*url.URL, error) {
		return nil, fmt.Errorf("%w: %s: %q", ErrUnsafe, why, truncate(raw))
	}
	switch {
	case raw == "":
		return reject("empty")
	case len(raw) > maxURLLen:
		return reject("longer than 8 KiB")
	case !utf8.ValidString(raw):
		return reject("not valid UTF-8")
	case strings.HasPrefix(raw, "-"):
		return reject("begins with '-'")
	case strings.ContainsRune(raw, '\\'):
		return reject("contains a backslash")
	}
	for _, r := range raw {
		if unicode.IsControl(r) || unicode.IsSpace(r) || unicode.Is(unicode.Cf, r) {
			return reject("contains a control, format or space character")
		}
	}
	u, err := url.Parse(raw)
	if err != nil {
		return reject("does not parse")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return reject("scheme is not http or https")
	}
	if u.Opaque != "" || u.Host == "" || !strings.HasPrefix(raw[len(u.Scheme):], "://") {
		return reject("not an absolute http(s) URL with a host")
	}
	if u.User != nil || strings.Contains(u.Host, "@") {
		return reject("carries user information")
	}
	for i := 0; i < len(u.Host); i++ {
		if u.Host[i] >= utf8.RuneSelf {
			return reject("host is not plain ASCII")
		}
	}
	for _, a := range allowed {
		if originAllows(a, u) {
			return u, nil
		}
	}
	return reject(fmt.Sprintf("host %q is neither the team domain nor the IdP (allowed: %s)", u.Host, strings.Join(allowed, ", ")))
}

// originAllows reports whether an allowed origin or host admits u.
func originAllows(allowed string, u *url.URL) bool {
	scheme, host, hasScheme := strings.Cut(allowed, "://")
	if !hasScheme {
		scheme, host = "", allowed
	}
	host = strings.TrimSuffix(host, "/")
	if host == "" || (scheme != "" && scheme != u.Scheme) {
		return false
	}
	return asciiEqualFold(host, u.Host)
}

// asciiEqualFold compares ASCII case-insensitively; unlike strings.EqualFold
// it never folds a non-ASCII rune (the Kelvin sign) onto an ASCII letter.
func asciiEqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

func truncate(s string) string {
	const max = 200
	if len(s) <= max {
		return s
	}
	return s[:max] + "…"
}

package session

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"
)

// RefreshIdentityPath is where a team domain re-authenticates the user,
// resets the session and reloads groups (S12).
const RefreshIdentityPath = "/cdn-cgi/access/refresh-identity"

// RefreshIdentityURL returns the team domain's refresh-identity URL, for an
// origin ("http://acme.localhost:8781") or a bare host (taken as https).
func RefreshIdentityURL(teamDomain string) (string, error) {
	u, err := parseTeamDomain(teamDomain)
	if err != nil {
		return "", err
	}
	u.Path = RefreshIdentityPath
	return u.String(), nil
}

// ErrUnsafeURL is wrapped by every ValidateBrowseURL rejection.
var ErrUnsafeURL = errors.New("unsafe URL")

// maxURLLen bounds what is handed to a browser launcher.
const maxURLLen = 8 << 10

// ValidateBrowseURL checks a URL before it is opened in a browser or
// published to front-ends (SEC4): it must be absolute http or https, with a
// host equal (host and port, case-insensitively) to one of allowedHosts, no
// userinfo, no control or space characters anywhere, no backslash, and must
// not begin with '-' (a launcher would take it for an option). It returns
// the parsed URL.
func ValidateBrowseURL(raw string, allowedHosts ...string) (*url.URL, error) {
	reject := func(why string) (*url.URL, error) {
		return nil, fmt.Errorf("%w: %s: %q", ErrUnsafeURL, why, truncate(raw))
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
		if unicode.IsControl(r) || unicode.IsSpace(r) || r == '\u2028' || r == '\u2029' || unicode.Is(unicode.Cf, r) {
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
	host := strings.ToLower(u.Host)
	for _, allowed := range allowedHosts {
		if allowed != "" && host == strings.ToLower(allowed) {
			return u, nil
		}
	}
	return reject(fmt.Sprintf("host %q is neither the team domain nor the IdP (allowed: %s)", u.Host, strings.Join(allowedHosts, ", ")))
}

func truncate(s string) string {
	const max = 200
	if len(s) <= max {
		return s
	}
	return s[:max] + "…"
}

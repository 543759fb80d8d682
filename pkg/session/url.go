package session

import (
	"net/url"

	"github.com/ztagent/ztagent/internal/browseurl"
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
var ErrUnsafeURL = browseurl.ErrUnsafe

// ValidateBrowseURL checks a URL of the session (the team domain's, the
// IdP's) before it is opened in a browser or published to front-ends (SEC4);
// allowed are the origins or hosts it may point at. It is browseurl.Validate,
// which documents the rules, and returns the parsed URL.
func ValidateBrowseURL(raw string, allowed ...string) (*url.URL, error) {
	return browseurl.Validate(raw, allowed...)
}

package access

import (
	"net/http"
	"net/url"
	"strings"

	"go.uber.org/zap"
)

// serveRefreshIdentity re-authenticates the user with the IdP (S12): the
// authorize request carries the configured prompt (S11), and OnLogin resets
// the session and reloads the groups (S2). An optional redirect_url on the
// team domain is where the browser goes afterwards.
func (t *TeamDomain) serveRefreshIdentity(w http.ResponseWriter, r *http.Request) {
	q, ok := t.query(w, r)
	if !ok {
		return
	}
	next := ""
	if raw := q.Get("redirect_url"); raw != "" {
		if next = t.sameOrigin(raw); next == "" {
			t.log.Info("access: refresh-identity refused", zap.String("reason", "redirect_url on another origin"))
			t.errorPage(w, http.StatusBadRequest, "Bad request",
				"The redirect_url must be a page of this team domain ("+t.origin+"). Open "+t.RefreshIdentityURL()+" without it to refresh your session.")
			return
		}
	}
	// The device client's prompt names the IdP the device enrolled with
	// (ParamIdP), so that the person re-authenticates with it.
	idp, ok := t.chooseIdP(w, r, q, TriggerRefreshIdentity, "")
	if !ok {
		return
	}
	t.startLogin(w, r, &pendingLogin{trigger: TriggerRefreshIdentity, next: next}, idp)
}

// sameOrigin returns raw as a path (with query) when it names a page of the
// team domain, or "" when it leads anywhere else.
func (t *TeamDomain) sameOrigin(raw string) string {
	if strings.ContainsAny(raw, "\\\x00\r\n\t") {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil || u.User != nil || u.Opaque != "" {
		return ""
	}
	if u.Scheme != "" || u.Host != "" {
		if u.Scheme+"://"+strings.ToLower(u.Host) != strings.ToLower(t.origin) {
			return ""
		}
	}
	// "//evil" would be a network-path reference: refuse anything that
	// does not begin with exactly one slash.
	if !strings.HasPrefix(u.Path, "/") || strings.HasPrefix(u.Path, "//") {
		return ""
	}
	out := &url.URL{Path: u.Path, RawPath: u.RawPath, RawQuery: u.RawQuery}
	return out.String()
}

func (t *TeamDomain) finishRefresh(w http.ResponseWriter, r *http.Request, pl *pendingLogin, login Login) {
	if pl.device != nil {
		t.finishDeviceReauth(w, pl.device, login, t.clock.Now())
		return
	}
	if pl.next != "" {
		w.Header().Set("Cache-Control", "no-store")
		http.Redirect(w, r, t.origin+pl.next, http.StatusSeeOther)
		return
	}
	t.refreshedPage(w, login.Identity)
}

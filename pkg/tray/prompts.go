package tray

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/ztagent/ztagent/pkg/ipc/ipcproto"
)

// Kind is a kind of desktop notification; a newer one of a kind replaces
// the one shown.
type Kind string

// The notifications the tray shows.
const (
	// KindReauth asks the user to sign in again: a session expired.
	KindReauth Kind = "reauth"
	// KindWarning says a session is about to expire.
	KindWarning Kind = "warning"
	// KindRevoked says an administrator revoked the device.
	KindRevoked Kind = "revoked"
	// KindConnectionLost says the edge stopped answering.
	KindConnectionLost Kind = "connection_lost"
	// KindReauthFailed says a re-authentication did not complete.
	KindReauthFailed Kind = "reauth_failed"
)

// Notice is one desktop notification to show. It never carries a
// secret: URL is only for the action, never put in the text.
type Notice struct {
	Kind Kind
	// Key identifies what the notice is about (one expiry, one
	// warning); a key already shown is not shown again.
	Key           string
	Summary, Body string
	// Action labels the notification's one button, and URL is what it
	// opens (the refresh-identity URL), when set.
	Action string
	URL    string
	// Urgent notices stay until the user answers them.
	Urgent bool
}

// Decision is what one event calls for: notices to show and kinds whose
// notification is no longer true (closed).
type Decision struct {
	Show  []Notice
	Close []Kind
}

// Prompter decides which notifications agentd's events call for, each
// once: the same expiry seen again after agentd restarts (its snapshot
// says reauth_required again, or it publishes the prompt again) is not
// shown twice. Not safe for concurrent use.
type Prompter struct {
	shown map[string]bool
	// lost is set between a connection-lost notice and reconnecting.
	lost bool
}

// NewPrompter returns a Prompter that has shown nothing.
func NewPrompter() *Prompter { return &Prompter{shown: map[string]bool{}} }

// Observe returns what ev calls for. st and sess are agentd's status and
// session map after ev (sess may be nil).
func (p *Prompter) Observe(ev ipcproto.Event, st ipcproto.Status, sess *ipcproto.Session) Decision {
	var d Decision
	switch ev.Type {
	case ipcproto.EventSnapshot:
		// A tray that starts (or reconnects) while the session is expired
		// asks once; one that already asked for this expiry does not.
		if st.State == ipcproto.StateReauthRequired && st.ReauthURL != "" {
			d.add(p, reauthNotice(st, sess, st.ReauthURL))
		}
		if st.State == ipcproto.StateRevoked {
			d.add(p, revokedNotice(st.Message))
		}
	case ipcproto.EventBrowseToURL:
		var b ipcproto.BrowseToURL
		if json.Unmarshal(ev.Data, &b) == nil && b.Reason == "session_expired" && b.URL != "" {
			d.add(p, reauthNotice(st, sess, b.URL))
		}
	case ipcproto.EventExpiryWarning:
		var w ipcproto.ExpiryWarning
		if json.Unmarshal(ev.Data, &w) == nil {
			d.add(p, warningNotice(w, st))
		}
	case ipcproto.EventDeviceRevoked:
		var r ipcproto.DeviceRevoked
		_ = json.Unmarshal(ev.Data, &r)
		d.add(p, revokedNotice(r.Message))
	case ipcproto.EventSessionRefreshed:
		d.Close = append(d.Close, KindReauth, KindWarning, KindReauthFailed)
	case ipcproto.EventError:
		var e ipcproto.ErrorEvent
		if json.Unmarshal(ev.Data, &e) == nil && e.Code == "reauth_failed" {
			d.Show = append(d.Show, Notice{Kind: KindReauthFailed, Key: "reauth_failed|" + ev.Time.String(),
				Summary: "Re-authentication did not complete", Body: e.Message})
		}
	case ipcproto.EventStateChanged:
		var c ipcproto.StateChanged
		if json.Unmarshal(ev.Data, &c) != nil {
			break
		}
		switch {
		case c.From == ipcproto.StateConnected && c.To == ipcproto.StateConnecting && !p.lost:
			p.lost = true
			body := "ztagent is trying to reach the edge again."
			if c.Message != "" {
				body = c.Message
			}
			d.Show = append(d.Show, Notice{Kind: KindConnectionLost, Key: "lost|" + ev.Time.String(),
				Summary: "Connection to your organization lost", Body: body})
		case c.To == ipcproto.StateConnected:
			if p.lost {
				p.lost = false
				d.Close = append(d.Close, KindConnectionLost)
			}
			d.Close = append(d.Close, KindReauth)
		case c.To == ipcproto.StateUnregistered || c.To == ipcproto.StateDisconnected:
			d.Close = append(d.Close, KindReauth, KindWarning, KindConnectionLost)
			p.lost = false
		}
		if c.From == ipcproto.StateRevoked && c.To != ipcproto.StateRevoked {
			// A device registered again may be revoked again.
			delete(p.shown, "revoked")
		}
	}
	return d
}

// add appends n unless its key was shown already.
func (d *Decision) add(p *Prompter, n Notice) {
	if p.shown[n.Key] {
		return
	}
	p.shown[n.Key] = true
	d.Show = append(d.Show, n)
}

// reauthNotice returns the prompt for the session that began at the
// status's auth_time: one sign-in answers every policy that expired with
// it, so the key is the session, not the policy.
func reauthNotice(st ipcproto.Status, sess *ipcproto.Session, url string) Notice {
	var authTime time.Time
	if st.Session != nil {
		authTime = st.Session.AuthTime
	}
	var expired []string
	if sess != nil {
		for _, pol := range sess.Gateway {
			if pol.Expired && pol.Applies() && !slices.Contains(expired, pol.Name) {
				expired = append(expired, pol.Name)
			}
		}
	}
	if len(expired) == 0 && st.Session != nil && st.Session.NextExpiry != nil {
		expired = append(expired, st.Session.NextExpiry.PolicyName)
	}
	body := "Your session expired. Sign in again to keep using your organization's resources."
	if len(expired) > 0 {
		body = fmt.Sprintf("Your session for %s expired. Sign in again to keep using it.", policyNames(expired))
	}
	return Notice{Kind: KindReauth, Key: "reauth|" + authTime.UTC().Format(time.RFC3339Nano),
		Summary: "Re-authenticate your session", Body: body, Action: "Re-authenticate", URL: url, Urgent: true}
}

// warningNotice says a session ends soon, on the edge's clock.
func warningNotice(w ipcproto.ExpiryWarning, st ipcproto.Status) Notice {
	body := fmt.Sprintf("Your session for %s ends at %s.", w.PolicyName, w.ExpiresAt.Local().Format("15:04"))
	if st.Session != nil && !st.Session.ServerTime.IsZero() && w.ExpiresAt.After(st.Session.ServerTime) {
		body = fmt.Sprintf("Your session for %s ends in %s. Re-authenticate now to avoid an interruption.",
			w.PolicyName, Remaining(w.ExpiresAt.Sub(st.Session.ServerTime)))
	}
	return Notice{Kind: KindWarning, Key: "warn|" + w.PolicyName + "|" + w.ExpiresAt.UTC().Format(time.RFC3339Nano),
		Summary: "Your session expires soon", Body: body, Action: "Re-authenticate"}
}

// revokedNotice says the device was revoked; one per registration.
func revokedNotice(msg string) Notice {
	if msg == "" {
		msg = "An administrator removed this device from your organization. Register it again to reconnect."
	}
	return Notice{Kind: KindRevoked, Key: "revoked", Summary: "This device was revoked", Body: msg, Urgent: true}
}

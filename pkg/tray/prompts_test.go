package tray

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/ztagent/ztagent/pkg/ipc/ipcproto"
)

func event(typ string, data any) ipcproto.Event {
	b, _ := json.Marshal(data)
	return ipcproto.Event{Type: typ, Time: t0, Data: b}
}

func expiredSession(names ...string) *ipcproto.Session {
	s := &ipcproto.Session{AuthTime: t0, ServerTime: t0.Add(2 * time.Hour)}
	for _, n := range names {
		s.Gateway = append(s.Gateway, ipcproto.PolicyExpiry{Name: n, ExpiresAt: t0.Add(time.Hour), Expired: true})
	}
	s.Gateway = append(s.Gateway, ipcproto.PolicyExpiry{Name: "Later", ExpiresAt: t0.Add(9 * time.Hour)})
	return s
}

const refreshURL = "https://acme.example/cdn-cgi/access/refresh-identity?redirect_url=x"

// Two policies expiring together are one prompt, and agentd's restart
// (its snapshot says reauth_required again, it publishes the prompt
// again) asks nothing more; a new session's expiry asks again.
func TestPrompterAsksOncePerExpiry(t *testing.T) {
	p := NewPrompter()
	st := registered(ipcproto.StateReauthRequired)
	st.ReauthURL = refreshURL
	sess := expiredSession("Company wiki", "Git over HTTP")

	d := p.Observe(event(ipcproto.EventBrowseToURL, ipcproto.BrowseToURL{URL: refreshURL, Reason: "session_expired"}), st, sess)
	if len(d.Show) != 1 {
		t.Fatalf("the first prompt: %+v", d)
	}
	n := d.Show[0]
	if n.Kind != KindReauth || n.URL != refreshURL || n.Action != "Re-authenticate" || !n.Urgent ||
		!strings.Contains(n.Body, "Company wiki and Git over HTTP") {
		t.Errorf("the prompt %+v", n)
	}
	if strings.Contains(n.Body+n.Summary, "http") {
		t.Errorf("the prompt's text carries the URL: %+v", n)
	}
	for _, ev := range []ipcproto.Event{
		event(ipcproto.EventBrowseToURL, ipcproto.BrowseToURL{URL: refreshURL, Reason: "session_expired"}),
		event(ipcproto.EventSnapshot, st),
		event(ipcproto.EventBrowseToURL, ipcproto.BrowseToURL{URL: refreshURL, Reason: "session_expired"}),
	} {
		if d := p.Observe(ev, st, sess); len(d.Show) != 0 {
			t.Errorf("%s asked again: %+v", ev.Type, d.Show)
		}
	}
	// A manual re-authentication's URL is agentctl's to open.
	if d := p.Observe(event(ipcproto.EventBrowseToURL, ipcproto.BrowseToURL{URL: refreshURL, Reason: "reauth"}), st, sess); len(d.Show) != 0 {
		t.Errorf("a manual reauth prompted: %+v", d)
	}

	d = p.Observe(event(ipcproto.EventSessionRefreshed, ipcproto.SessionRefreshed{AuthTime: t0.Add(3 * time.Hour)}), st, sess)
	if len(d.Close) == 0 || d.Close[0] != KindReauth {
		t.Errorf("a refreshed session does not withdraw the prompt: %+v", d)
	}
	st.Session.AuthTime = t0.Add(3 * time.Hour)
	if d := p.Observe(event(ipcproto.EventBrowseToURL, ipcproto.BrowseToURL{URL: refreshURL, Reason: "session_expired"}), st, sess); len(d.Show) != 1 {
		t.Errorf("the next session's expiry: %+v", d)
	}
}

// A tray that starts while the session is already expired asks once.
func TestPrompterAsksFromTheSnapshot(t *testing.T) {
	p := NewPrompter()
	st := registered(ipcproto.StateReauthRequired)
	st.ReauthURL = refreshURL
	d := p.Observe(event(ipcproto.EventSnapshot, st), st, expiredSession("Company wiki"))
	if len(d.Show) != 1 || d.Show[0].URL != refreshURL || !strings.Contains(d.Show[0].Body, "Company wiki expired") {
		t.Fatalf("%+v", d)
	}
	if d := p.Observe(event(ipcproto.EventBrowseToURL, ipcproto.BrowseToURL{URL: refreshURL, Reason: "session_expired"}), st, nil); len(d.Show) != 0 {
		t.Errorf("the same expiry's prompt asked again: %+v", d)
	}
}

func TestPrompterWarnsRevokesAndLosesTheConnection(t *testing.T) {
	p := NewPrompter()
	st := registered(ipcproto.StateConnected)
	st.Session.ServerTime = t0
	warn := event(ipcproto.EventExpiryWarning, ipcproto.ExpiryWarning{PolicyName: "Company wiki", ExpiresAt: t0.Add(5 * time.Minute)})
	d := p.Observe(warn, st, nil)
	if len(d.Show) != 1 || d.Show[0].Kind != KindWarning || !strings.Contains(d.Show[0].Body, "Company wiki ends in 5 min") {
		t.Fatalf("warning: %+v", d)
	}
	if d := p.Observe(warn, st, nil); len(d.Show) != 0 {
		t.Errorf("the same warning twice: %+v", d)
	}

	lost := event(ipcproto.EventStateChanged, ipcproto.StateChanged{From: ipcproto.StateConnected, To: ipcproto.StateConnecting, Message: "the edge does not answer"})
	if d := p.Observe(lost, st, nil); len(d.Show) != 1 || d.Show[0].Kind != KindConnectionLost || d.Show[0].Body != "the edge does not answer" {
		t.Errorf("connection lost: %+v", d)
	}
	if d := p.Observe(lost, st, nil); len(d.Show) != 0 {
		t.Errorf("lost twice in one outage: %+v", d)
	}
	back := event(ipcproto.EventStateChanged, ipcproto.StateChanged{From: ipcproto.StateConnecting, To: ipcproto.StateConnected})
	if d := p.Observe(back, st, nil); len(d.Close) == 0 || d.Close[0] != KindConnectionLost {
		t.Errorf("reconnected: %+v", d)
	}

	rev := event(ipcproto.EventDeviceRevoked, ipcproto.DeviceRevoked{Message: "An administrator revoked this device."})
	if d := p.Observe(rev, st, nil); len(d.Show) != 1 || d.Show[0].Kind != KindRevoked || d.Show[0].Body != "An administrator revoked this device." {
		t.Errorf("revoked: %+v", d)
	}
	revoked := ipcproto.Status{State: ipcproto.StateRevoked}
	if d := p.Observe(event(ipcproto.EventSnapshot, revoked), revoked, nil); len(d.Show) != 0 {
		t.Errorf("revoked again after a restart: %+v", d)
	}
	p.Observe(event(ipcproto.EventStateChanged, ipcproto.StateChanged{From: ipcproto.StateRevoked, To: ipcproto.StateConnected}), st, nil)
	if d := p.Observe(rev, st, nil); len(d.Show) != 1 {
		t.Errorf("a device registered again and revoked again: %+v", d)
	}

	failed := event(ipcproto.EventError, ipcproto.ErrorEvent{Code: "reauth_failed", Message: "the code expired"})
	if d := p.Observe(failed, st, nil); len(d.Show) != 1 || d.Show[0].Kind != KindReauthFailed {
		t.Errorf("reauth_failed: %+v", d)
	}
	if d := p.Observe(event(ipcproto.EventError, ipcproto.ErrorEvent{Code: "other"}), st, nil); len(d.Show) != 0 {
		t.Errorf("another error: %+v", d)
	}
}

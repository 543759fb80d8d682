package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ztagent/ztagent/internal/termsafe"
	"github.com/ztagent/ztagent/pkg/ipc/browseprompt"
	"github.com/ztagent/ztagent/pkg/ipc/ipcproto"
)

// watchCmd is the reference tray: it follows agentd's events, across
// agentd's restarts, and, with --open-browser, opens each browse_to_url
// once.
func (a *app) watchCmd() *cobra.Command {
	var open bool
	cmd := &cobra.Command{
		Use:   "watch [--open-browser]",
		Short: "Follow agentd's events; with --open-browser, open each re-authentication page as a tray app would",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.watch(cmd.Context(), open)
		},
	}
	cmd.Flags().BoolVar(&open, "open-browser", false, "open each browse_to_url event in the browser")
	return cmd
}

func (a *app) watch(ctx context.Context, open bool) error {
	// The first subscription must work, so that a mistyped --socket or a
	// stopped agentd is an error at once; later ones are retried.
	first, err := a.ipc().Events(ctx)
	if err != nil {
		return err
	}
	src := &browseprompt.Reconnecting{
		Dial: func(ctx context.Context) (browseprompt.Stream, error) {
			if first != nil {
				st := first
				first = nil
				return st, nil
			}
			return a.ipc().Events(ctx)
		},
		OnDown: func(err error) {
			fmt.Fprintf(a.stderr, "agentctl: lost agentd's event stream (%s); waiting for agentd to come back\n", termsafe.Line(err.Error()))
		},
		OnUp: func() { fmt.Fprintln(a.stderr, "agentctl: agentd is back; following its events again") },
	}
	defer src.Close()
	o := browseprompt.Options{
		Source: src,
		OnEvent: func(ev ipcproto.Event) error {
			if a.json {
				// NDJSON: one event per line, for scripts.
				return json.NewEncoder(a.stdout).Encode(ev)
			}
			_, err := fmt.Fprintf(a.stdout, "%s  %s\n", ev.Time.Local().Format(time.TimeOnly), termsafe.Line(describe(ev)))
			return err
		},
		// Checked against the team domain agentd names now: the
		// registration may have changed since the last prompt.
		BeforeOpen: func(ctx context.Context) {
			if st, err := a.ipc().Status(ctx); err == nil {
				a.allowTeam(st.TeamDomain)
			}
		},
		OnOpenError: func(url string, err error) {
			fmt.Fprintf(a.stderr, "agentctl: could not open %s: %s\n", termsafe.Line(url), termsafe.Line(err.Error()))
		},
	}
	if open {
		o.Opener = urlOpener{a}
	}
	return browseprompt.Follow(ctx, o)
}

// urlOpener opens through the app's one opener.
type urlOpener struct{ a *app }

func (u urlOpener) Open(ctx context.Context, rawURL string) error { return u.a.openURL(ctx, rawURL) }

// describe renders an event for people; the caller escapes it, as every
// field is agentd's.
func describe(ev ipcproto.Event) string {
	switch ev.Type {
	case ipcproto.EventSnapshot:
		var s ipcproto.Status
		_ = json.Unmarshal(ev.Data, &s)
		return "state " + string(s.State) + suffix(s.Message)
	case ipcproto.EventStateChanged:
		var s ipcproto.StateChanged
		_ = json.Unmarshal(ev.Data, &s)
		return fmt.Sprintf("state %s → %s%s", s.From, s.To, suffix(s.Message))
	case ipcproto.EventBrowseToURL:
		var b ipcproto.BrowseToURL
		_ = json.Unmarshal(ev.Data, &b)
		return fmt.Sprintf("open in a browser (%s): %s", b.Reason, b.URL)
	case ipcproto.EventSessionExpired:
		var s ipcproto.SessionExpired
		_ = json.Unmarshal(ev.Data, &s)
		return fmt.Sprintf("session expired for policy %q (%s): run 'agentctl reauth'", s.PolicyName, s.Filter)
	case ipcproto.EventSessionRefreshed:
		var s ipcproto.SessionRefreshed
		_ = json.Unmarshal(ev.Data, &s)
		return fmt.Sprintf("session refreshed (signed in %s, groups %v)", s.AuthTime.Local().Format(time.TimeOnly), s.Groups)
	case ipcproto.EventExpiryWarning:
		var w ipcproto.ExpiryWarning
		_ = json.Unmarshal(ev.Data, &w)
		return fmt.Sprintf("session for %q expires at %s", w.PolicyName, w.ExpiresAt.Local().Format(time.TimeOnly))
	case ipcproto.EventDeviceRevoked:
		var r ipcproto.DeviceRevoked
		_ = json.Unmarshal(ev.Data, &r)
		return "device " + r.DeviceID + " revoked" + suffix(r.Message)
	case ipcproto.EventTunnelUp, ipcproto.EventTunnelDown:
		var t ipcproto.Tunnel
		_ = json.Unmarshal(ev.Data, &t)
		what := "tunnel up"
		if ev.Type == ipcproto.EventTunnelDown {
			what = "tunnel down"
		}
		where := t.Mode
		if t.ProxyAddr != "" {
			where += " on " + t.ProxyAddr
		}
		if t.Interface != "" {
			where += " on " + t.Interface
		}
		return fmt.Sprintf("%s (%s, edge %s, address %s)", what, where, t.Endpoint, strings.Join(t.Addresses, ","))
	case ipcproto.EventError:
		var e ipcproto.ErrorEvent
		_ = json.Unmarshal(ev.Data, &e)
		return "error: " + e.Message
	default:
		return ev.Type + " " + string(ev.Data)
	}
}

func suffix(msg string) string {
	if msg == "" {
		return ""
	}
	return ": " + msg
}

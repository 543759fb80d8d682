package main

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/ztagent/ztagent/internal/termsafe"
	"github.com/ztagent/ztagent/pkg/ipc/ipcproto"
)

// span writes d for people: to the second under a minute, else to the
// minute, without the zero units Go's Duration.String keeps ("1h2m", not
// "1h2m0s"; "2h", not "2h0m0s").
func span(d time.Duration) string {
	if d < 0 {
		d = -d
	}
	if d < time.Minute {
		return d.Round(time.Second).String()
	}
	d = d.Round(time.Minute)
	h, m := d/time.Hour, d%time.Hour/time.Minute
	switch {
	case h == 0:
		return fmt.Sprintf("%dm", m)
	case m == 0:
		return fmt.Sprintf("%dh", h)
	}
	return fmt.Sprintf("%dh%dm", h, m)
}

// expiredAgo says how long ago a deadline d ago passed.
func expiredAgo(d time.Duration) string {
	if d < time.Second {
		return "expired just now"
	}
	return "expired " + span(d) + " ago"
}

// edgeTime writes an instant of the edge's clock in UTC: the device's
// zone says nothing about the edge, and the edge's clock may be set apart
// from the real one (the simulator's). The date is shown only when the
// instant is not on the same UTC day as now.
func edgeTime(t, now time.Time) string {
	t, now = t.UTC(), now.UTC()
	if t.YearDay() == now.YearDay() && t.Year() == now.Year() {
		return t.Format("15:04 MST")
	}
	return t.Format("Jan 2 15:04 MST")
}

// sessionLine is status's Session line: the age, then the next expiry,
// both by the edge's clock, which decides (the device's clock never does).
func sessionLine(s ipcproto.SessionClock) string {
	var line string
	switch {
	case s.AuthTime.IsZero() || s.ServerTime.IsZero():
		line = "sign-in time not known yet (agentd has not heard from the edge)"
	case s.AuthTime.After(s.ServerTime):
		line = "signed in just now by the edge's clock"
	default:
		line = "signed in " + span(s.ServerTime.Sub(s.AuthTime)) + " ago by the edge's clock"
	}
	ne := s.NextExpiry
	switch {
	case ne == nil:
		return line + "; no session limit"
	case ne.Expired || !ne.ExpiresAt.After(s.ServerTime):
		return fmt.Sprintf("%s; %s %s: run 'agentctl reauth'", line, termsafe.Line(ne.PolicyName), expiredAgo(s.ServerTime.Sub(ne.ExpiresAt)))
	default:
		return fmt.Sprintf("%s; next expiry: %s in %s (at %s)", line, termsafe.Line(ne.PolicyName), span(ne.ExpiresAt.Sub(s.ServerTime)), edgeTime(ne.ExpiresAt, s.ServerTime))
	}
}

func (a *app) sessionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "session",
		Short: "Show when each policy's client session expires",
		Long: `session shows, for each Gateway policy that limits the client session, when
the session expires by the edge's clock. Policies whose identity conditions do
not match you (another group, another domain) are listed apart: they never
ask you to re-authenticate.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := a.ipc().Session(cmd.Context())
			if err != nil {
				return err
			}
			if a.json {
				return a.printJSON(s)
			}
			a.printSession(s)
			return nil
		},
	}
}

func (a *app) printSession(s ipcproto.Session) {
	if s.AuthTime.IsZero() {
		fmt.Fprintf(a.stdout, "No one has signed in on this device: it enrolled with a service token, so it has no client session (edge clock %s).\n", s.ServerTime.UTC().Format(time.RFC1123))
	} else {
		fmt.Fprintf(a.stdout, "Signed in %s ago (edge clock %s).\n", span(s.ServerTime.Sub(s.AuthTime)), s.ServerTime.UTC().Format(time.RFC1123))
	}
	var mine, others []ipcproto.PolicyExpiry
	for _, p := range s.Gateway {
		if p.Applies() {
			mine = append(mine, p)
		} else {
			others = append(others, p)
		}
	}
	if len(mine) == 0 {
		fmt.Fprintln(a.stdout, "No Gateway policy limits your session.")
	} else {
		tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "POLICY\tFILTER\tDURATION\tEXPIRES (edge clock)")
		for _, p := range mine {
			if p.NoIdPSession {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", termsafe.Line(p.Name), termsafe.Line(p.Filter), termsafe.Line(p.Duration),
					"blocks this device for good: it never signed in (no_idp_session)")
				continue
			}
			exp := edgeTime(p.ExpiresAt, s.ServerTime)
			if p.Expired || !p.ExpiresAt.After(s.ServerTime) {
				exp += " (" + expiredAgo(s.ServerTime.Sub(p.ExpiresAt)) + ": run 'agentctl reauth')"
			} else {
				exp += " (in " + span(p.ExpiresAt.Sub(s.ServerTime)) + ")"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", termsafe.Line(p.Name), termsafe.Line(p.Filter), termsafe.Line(p.Duration), exp)
		}
		_ = tw.Flush()
	}
	if len(others) > 0 {
		fmt.Fprintln(a.stdout, "\nThese policies do not apply to you (their identity conditions do not match you) and never limit your session:")
		tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
		for _, p := range others {
			fmt.Fprintf(tw, "  %s\t%s\t%s\n", termsafe.Line(p.Name), termsafe.Line(p.Filter), termsafe.Line(p.Duration))
		}
		_ = tw.Flush()
	}
	if ac := s.Access; ac != nil {
		fmt.Fprintf(a.stdout, "Access applications accept this device until %s (%s after sign-in).\n", edgeTime(ac.ExpiresAt, s.ServerTime), termsafe.Line(ac.Duration))
	}
}

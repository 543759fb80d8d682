package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/ztagent/ztagent/internal/termsafe"
	"github.com/ztagent/ztagent/pkg/ipc/ipcproto"
)

func (a *app) printJSON(v any) error {
	enc := json.NewEncoder(a.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func ago(t, now time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t).Round(time.Second)
	if d < 0 {
		return "in " + (-d).String()
	}
	return d.String() + " ago"
}

func (a *app) printStatus(st ipcproto.Status) {
	now := time.Now()
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	// Every field is agentd's; termsafe.Line keeps each on its line.
	state := termsafe.Line(string(st.State))
	if st.Message != "" {
		state += " — " + termsafe.Line(st.Message)
	}
	fmt.Fprintf(tw, "State:\t%s\n", state)
	if r := st.Registration; r != nil {
		idp := "IdP " + termsafe.Line(r.IdP)
		if r.IdP == "" {
			idp = "no IdP"
		}
		fmt.Fprintf(tw, "User:\t%s (team %s, %s)\n", termsafe.Line(r.User), termsafe.Line(r.Team), idp)
		via := ""
		switch r.EnrolledVia {
		case "device_code":
			via = " with a device code"
		case "browser":
			via = " in a browser"
		case "service_token":
			via = fmt.Sprintf(" unattended with the service token %q (no user signs in on it)", termsafe.Line(r.ServiceToken))
		}
		fmt.Fprintf(tw, "Device:\t%s, registered %s%s\n", termsafe.Line(r.DeviceID), r.RegisteredAt.Local().Format(time.RFC1123), via)
	}
	if t := st.Tunnel; t != nil {
		where := termsafe.Line(t.Mode)
		if t.ProxyAddr != "" {
			where += " on " + termsafe.Line(t.ProxyAddr)
		}
		if t.Interface != "" {
			where += " on " + termsafe.Line(t.Interface)
		}
		up := "down"
		if t.Up {
			up = "up for " + span(now.Sub(t.Since))
		}
		fmt.Fprintf(tw, "Tunnel:\t%s, %s, edge %s, address %s, last handshake %s\n", where, up, termsafe.Line(t.Endpoint),
			termsafe.Line(strings.Join(t.Addresses, ",")), ago(t.LastHandshake, now))
	}
	if s := st.Session; s != nil {
		if r := st.Registration; r != nil && r.EnrolledVia == "service_token" {
			fmt.Fprintf(tw, "Session:\tnone: no one signs in on a device enrolled with a service token; policies that check the session block it (no_idp_session)\n")
		} else {
			fmt.Fprintf(tw, "Session:\t%s\n", sessionLine(*s))
		}
	}
	if st.ReauthURL != "" {
		fmt.Fprintf(tw, "Re-authenticate:\t%s\n", termsafe.Line(st.ReauthURL))
	}
	_ = tw.Flush()
}

func (a *app) statusCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Show the agent's state, registration, tunnel and session",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := a.ipc().Status(cmd.Context())
			if err != nil {
				return err
			}
			if a.json {
				return a.printJSON(st)
			}
			a.printStatus(st)
			return nil
		},
	}
}

// statusCommand makes connect, disconnect and logout: one IPC call that
// answers the status after the change.
func (a *app) statusCommand(use, short string, call func(*cobra.Command) (ipcproto.Status, error)) *cobra.Command {
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := call(cmd)
			if err != nil {
				return err
			}
			if a.json {
				return a.printJSON(st)
			}
			a.printStatus(st)
			return nil
		},
	}
}

func (a *app) connectCmd() *cobra.Command {
	return a.statusCommand("connect", "Bring the tunnel up", func(cmd *cobra.Command) (ipcproto.Status, error) {
		return a.ipc().Connect(cmd.Context())
	})
}

func (a *app) disconnectCmd() *cobra.Command {
	return a.statusCommand("disconnect", "Take the tunnel down (the registration stays)", func(cmd *cobra.Command) (ipcproto.Status, error) {
		return a.ipc().Disconnect(cmd.Context())
	})
}

func (a *app) logoutCmd() *cobra.Command {
	return a.statusCommand("logout", "Leave the organization and delete this device's registration (if your organization allows it)", func(cmd *cobra.Command) (ipcproto.Status, error) {
		return a.ipc().Leave(cmd.Context())
	})
}

func (a *app) settingsCmd() *cobra.Command {
	// get is also what bare "agentctl settings" does: asking to see the
	// settings should not answer with help.
	get := func(cmd *cobra.Command, args []string) error {
		s, err := a.ipc().Settings(cmd.Context())
		if err != nil {
			return err
		}
		if len(args) == 1 {
			v, err := settingValue(s, args[0])
			if err != nil {
				return err
			}
			fmt.Fprintln(a.stdout, termsafe.Line(v))
			return nil
		}
		if a.json {
			return a.printJSON(s)
		}
		a.printSettings(s)
		return nil
	}
	cmd := &cobra.Command{
		Use:   "settings",
		Short: "Show or change the agent's settings (mode, proxy-addr)",
		Long: `settings shows the agent's settings (as "settings get" does); "settings get
KEY" shows one, "settings set KEY VALUE" changes one.`,
		Args: cobra.NoArgs,
		RunE: get,
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "get [KEY]",
		Short: "Show the settings, or one of them",
		Args:  cobra.MaximumNArgs(1),
		RunE:  get,
	})
	cmd.AddCommand(&cobra.Command{
		Use:   "set KEY VALUE",
		Short: "Change a setting: mode (proxy|tun) or proxy-addr (127.0.0.1:40000)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			var set ipcproto.Settings
			switch args[0] {
			case "mode":
				if args[1] != "proxy" && args[1] != "tun" {
					return usageError{fmt.Errorf("mode %q: use proxy or tun", args[1])}
				}
				set.Mode = args[1]
			case "proxy-addr", "proxy_addr":
				set.ProxyAddr = args[1]
			default:
				return usageError{fmt.Errorf("unknown setting %q: use mode or proxy-addr", args[0])}
			}
			s, err := a.ipc().SetSettings(cmd.Context(), set)
			if err != nil {
				return err
			}
			if a.json {
				return a.printJSON(s)
			}
			a.printSettings(s)
			return nil
		},
	})
	return cmd
}

func (a *app) printSettings(s ipcproto.Settings) {
	fmt.Fprintf(a.stdout, "mode        %s\nproxy-addr  %s\n", termsafe.Line(s.Mode), termsafe.Line(s.ProxyAddr))
}

func settingValue(s ipcproto.Settings, key string) (string, error) {
	switch key {
	case "mode":
		return s.Mode, nil
	case "proxy-addr", "proxy_addr":
		return s.ProxyAddr, nil
	}
	return "", usageError{fmt.Errorf("unknown setting %q: use mode or proxy-addr", key)}
}

func (a *app) versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print agentctl's version and, when reachable, agentd's",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			daemon := "not reachable"
			if _, err := a.ipc().Status(cmd.Context()); err == nil {
				v := a.ipc().Versions()
				daemon = termsafe.Line(v.Daemon) + " (IPC " + termsafe.Line(v.API) + ")"
			}
			if a.json {
				return a.printJSON(map[string]string{"agentctl": version, "ipc": ipcproto.Version, "agentd": daemon})
			}
			fmt.Fprintf(a.stdout, "agentctl %s (IPC %s)\nagentd   %s\n", version, ipcproto.Version, daemon)
			return nil
		},
	}
}

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/ztagent/ztagent/internal/termsafe"
	"github.com/ztagent/ztagent/pkg/ipc/ipcproto"
)

// loginFlags are register's and reauth's.
type loginFlags struct {
	noBrowser bool
	wait      time.Duration
}

func (f *loginFlags) register(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&f.noBrowser, "no-browser", false, "print the URL only; do not open a browser")
	cmd.Flags().DurationVar(&f.wait, "wait", 10*time.Minute, "how long to wait for the login to complete (0 does not wait)")
}

func (a *app) registerCmd() *cobra.Command {
	var f loginFlags
	var team string
	var deviceCode bool
	cmd := &cobra.Command{
		Use:   "register [--team NAME] [--device-code]",
		Short: "Register this device with your organization (opens the login page)",
		Long: `register asks agentd to enroll this device: it prints the team domain's login
URL on a line of its own, opens it in your browser (unless --no-browser), and
waits until the login completes and the tunnel is up, or --wait runs out.
One user per device: if someone else registered it, they run 'agentctl logout'
first (or an administrator revokes the device).

With --device-code (for a machine without a browser, or a person at another
machine), it prints a short code and a URL instead: open the URL in any
browser, anywhere, enter the code, sign in and confirm; agentd polls the edge
and registers the device once you have.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if a.chooseDeviceCode(cmd, &deviceCode) {
				f.noBrowser = true
			}
			return a.login(cmd.Context(), f, "register", func(ctx context.Context) (ipcproto.AuthURL, error) {
				return a.ipc().Register(ctx, ipcproto.RegisterRequest{Team: team, DeviceCode: deviceCode})
			}, func(st ipcproto.Status) bool {
				return st.State == ipcproto.StateConnected
			})
		},
	}
	cmd.Flags().StringVar(&team, "team", "", "your organization's team name (default: the one agentd is configured with)")
	cmd.Flags().BoolVar(&deviceCode, "device-code", false, "sign in from a browser on any machine with a short code (RFC 8628 device flow); implies --no-browser")
	f.register(cmd)
	cmd.PreRun = func(*cobra.Command, []string) {
		if deviceCode {
			f.noBrowser = true
		}
	}
	return cmd
}

func (a *app) reauthCmd() *cobra.Command {
	var f loginFlags
	var deviceCode bool
	cmd := &cobra.Command{
		Use:   "reauth [--device-code]",
		Short: "Re-authenticate with your identity provider to reset your client session",
		Long: `reauth opens the team domain's re-authentication page (unless --no-browser) and
waits until the edge reports the new sign-in.

With --device-code (no browser here, or you are at another machine), it prints a
short code and a URL instead: open the URL in any browser, enter the code and
sign in as the device's user; agentd polls the edge meanwhile.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if a.chooseDeviceCode(cmd, &deviceCode) {
				f.noBrowser = true
			}
			var before time.Time
			if st, err := a.ipc().Status(cmd.Context()); err == nil && st.Session != nil {
				before = st.Session.AuthTime
			}
			return a.login(cmd.Context(), f, "reauth", func(ctx context.Context) (ipcproto.AuthURL, error) {
				return a.ipc().Reauth(ctx, ipcproto.ReauthRequest{DeviceCode: deviceCode})
			}, func(st ipcproto.Status) bool {
				return st.Session != nil && st.Session.AuthTime.After(before) && st.State != ipcproto.StateReauthRequired
			})
		},
	}
	cmd.Flags().BoolVar(&deviceCode, "device-code", false, "sign in from a browser on any machine with a short code (RFC 8628 device flow); implies --no-browser")
	f.register(cmd)
	cmd.PreRun = func(*cobra.Command, []string) {
		if deviceCode {
			f.noBrowser = true
		}
	}
	return cmd
}

// chooseDeviceCode turns the device flow on when --device-code was not
// given and the person cannot use the loopback flow from here: agentctl
// runs over SSH with no display, so the browser they have is on another
// machine, where http://127.0.0.1:<port>/callback is not this machine's.
// It reports whether it chose it, and says so.
func (a *app) chooseDeviceCode(cmd *cobra.Command, deviceCode *bool) bool {
	if cmd.Flags().Changed("device-code") || cmd.Flags().Changed("no-browser") || *deviceCode {
		return false
	}
	remote := os.Getenv("SSH_CONNECTION") != "" || os.Getenv("SSH_TTY") != ""
	display := os.Getenv("DISPLAY") != "" || os.Getenv("WAYLAND_DISPLAY") != ""
	if !remote || display {
		return false
	}
	*deviceCode = true
	fmt.Fprintln(a.stderr, "agentctl: this is an SSH session without a display, so a browser elsewhere cannot reach this machine's sign-in callback: using a device code (pass --device-code=false, or --no-browser, for the browser flow)")
	return true
}

// login starts an enrollment or a re-authentication, prints and opens its
// URL, then follows the event stream until done reports true.
func (a *app) login(ctx context.Context, f loginFlags, what string, start func(context.Context) (ipcproto.AuthURL, error), done func(ipcproto.Status) bool) error {
	// Subscribe first, so that a login completed quickly is not missed.
	var events eventSource
	if f.wait > 0 {
		st, err := a.ipc().Events(ctx)
		if err != nil {
			return err
		}
		defer st.Close()
		events = st
	}
	au, err := start(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return a.interrupted(ctx, what, ipcproto.Status{})
		}
		return err
	}
	if au.Enrolled {
		if a.json {
			return a.printJSON(au)
		}
		fmt.Fprintln(a.stdout, "Registered with the service token of the MDM file (no sign-in needed).")
		return nil
	}
	if a.json {
		if err := a.printJSON(au); err != nil {
			return err
		}
	} else if au.UserCode != "" {
		fmt.Fprintf(a.stdout, "On any device, open\n%s\nand enter the code %s\n(or open %s, which fills it in)\n",
			termsafe.Line(au.VerificationURI), termsafe.Line(au.UserCode), termsafe.Line(au.AuthURL))
	} else {
		fmt.Fprintf(a.stdout, "Open this URL in a browser to sign in:\n%s\n", termsafe.Line(au.AuthURL))
	}
	if !f.noBrowser {
		a.allowTeam(au.TeamDomain)
		if err := a.openURL(ctx, au.AuthURL); err != nil {
			fmt.Fprintf(a.stderr, "agentctl: could not open a browser (%s); open the URL above yourself\n", termsafe.Line(err.Error()))
		}
	}
	if f.wait <= 0 {
		return nil
	}
	return a.waitFor(ctx, events, f.wait, what, done)
}

type eventSource interface {
	Next() (ipcproto.Event, error)
	Close() error
}

// waitFor follows the stream, showing a live status line on a terminal,
// until done, a terminal failure, or the deadline.
func (a *app) waitFor(parent context.Context, events eventSource, wait time.Duration, what string, done func(ipcproto.Status) bool) error {
	ctx, cancel := context.WithTimeout(parent, wait)
	defer cancel()
	go func() {
		<-ctx.Done()
		_ = events.Close() // unblocks Next
	}()
	live := isTerminal(a.rawStderr) && !a.json
	start := time.Now()
	var st ipcproto.Status
	for {
		ev, err := events.Next()
		if err != nil {
			if live {
				fmt.Fprintln(a.stderr)
			}
			if parent.Err() != nil {
				return a.interrupted(parent, what, st)
			}
			if ctx.Err() != nil {
				return fmt.Errorf("%s did not complete within %v (agentd is %s); finish the login in the browser, then check with 'agentctl status'", what, wait, termsafe.Line(string(st.State)))
			}
			if errors.Is(err, io.EOF) {
				return errors.New("agentd closed the event stream; check 'agentctl status'")
			}
			return err
		}
		switch ev.Type {
		case ipcproto.EventSnapshot:
			_ = json.Unmarshal(ev.Data, &st)
		case ipcproto.EventStateChanged:
			var sc ipcproto.StateChanged
			_ = json.Unmarshal(ev.Data, &sc)
			st.State = sc.To
			if sc.Message != "" {
				st.Message = sc.Message
			}
		case ipcproto.EventSessionRefreshed:
			var sr ipcproto.SessionRefreshed
			_ = json.Unmarshal(ev.Data, &sr)
			if st.Session == nil {
				st.Session = &ipcproto.SessionClock{}
			}
			st.Session.AuthTime = sr.AuthTime
		case ipcproto.EventError:
			var ee ipcproto.ErrorEvent
			_ = json.Unmarshal(ev.Data, &ee)
			if live {
				fmt.Fprintln(a.stderr)
			}
			return fmt.Errorf("%s failed: %s", what, ee.Message)
		}
		if ev.Type != ipcproto.EventSnapshot {
			// Ask for the whole status: events carry only their part.
			if full, err := a.ipc().Status(ctx); err == nil {
				st = full
			}
		}
		if live {
			// rawStderr: the escape sequence is agentctl's own; the state
			// is agentd's and escaped.
			fmt.Fprintf(a.rawStderr, "\r\033[Kwaiting for the login to complete… %s, %s", termsafe.Line(string(st.State)), time.Since(start).Round(time.Second))
		}
		// Only a move into a failed state ends the wait: the state agentd
		// was in when the wait began (revoked, say, before registering
		// again) says nothing about this registration.
		if ev.Type == ipcproto.EventStateChanged && (st.State == ipcproto.StateRevoked || st.State == ipcproto.StateKeyringUnavailable ||
			(st.State == ipcproto.StateDisconnected && st.Registration != nil)) {
			if live {
				fmt.Fprintln(a.stderr)
			}
			return fmt.Errorf("%s stopped: agentd is %s: %s", what, st.State, st.Message)
		}
		if ev.Type != ipcproto.EventSnapshot && done(st) {
			if live {
				fmt.Fprintln(a.stderr)
			}
			if !a.json {
				fmt.Fprintf(a.stdout, "Done: %s.\n", termsafe.Line(string(st.State)))
			}
			return nil
		}
	}
}

// interrupted is the error of a login wait the user interrupted (Ctrl-C):
// agentctl stops waiting, but agentd keeps the login open, so it says what
// agentd is doing now and that the login can still be finished.
func (a *app) interrupted(parent context.Context, what string, last ipcproto.Status) error {
	// The parent is done; a short, fresh deadline asks agentd for the
	// state it is in now rather than the last one an event showed.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(parent), 2*time.Second)
	defer cancel()
	st := last
	if full, err := a.ipc().Status(ctx); err == nil {
		st = full
	}
	state := termsafe.Line(string(st.State))
	if state == "" {
		state = "in an unknown state (agentd did not answer)"
	}
	switch {
	case what == "register" && st.State == ipcproto.StateConnected:
		return fmt.Errorf("register interrupted, but the registration had completed: agentd is connected")
	case what == "register":
		return fmt.Errorf("register interrupted: agentctl stopped waiting; agentd is %s and keeps the enrollment open for a while, so finishing the login in the browser still registers this device; check with 'agentctl status'", state)
	default:
		return fmt.Errorf("%s interrupted: agentctl stopped waiting; agentd is %s, and finishing the login in the browser still completes it; check with 'agentctl status'", what, state)
	}
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

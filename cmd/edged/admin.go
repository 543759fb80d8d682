package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/ztagent/ztagent/internal/secret"
	"github.com/ztagent/ztagent/pkg/apierror"
	"github.com/ztagent/ztagent/pkg/control"
	"github.com/ztagent/ztagent/pkg/edge/admin"
)

// The environment variables the admin commands read when their flag is not
// given, so that one export (make run prints it) points every command at
// the same edged.
const (
	envStateDir = "ZTAGENT_EDGED_STATE_DIR"
	envAPI      = "ZTAGENT_EDGED_API"
)

// defaultAPI is the control and admin API of DESIGN §3.
const defaultAPI = "http://127.0.0.1:8780"

// adminFlags locate a running edged's admin API and its token.
type adminFlags struct {
	api, stateDir, tokenFile string
	json                     bool
}

func (f *adminFlags) register(cmd *cobra.Command) {
	fl := cmd.PersistentFlags()
	// The defaults are empty and resolved when the command runs, so that
	// the environment sits between the flag and the built-in default.
	fl.StringVar(&f.api, "api", "", "the edge's control and admin API (default $"+envAPI+", else "+defaultAPI+")")
	fl.StringVar(&f.stateDir, "state-dir", "", "edged's state directory, where admin.token is (default $"+envStateDir+", else "+defaultStateDir()+")")
	fl.StringVar(&f.tokenFile, "admin-token-file", "", "file holding the admin token (default <state-dir>/admin.token)")
	fl.BoolVar(&f.json, "json", false, "print JSON")
}

// firstSet returns the first non-empty value: the flag, then the
// environment variable env, then def.
func firstSet(flag, env, def string) string {
	if flag != "" {
		return flag
	}
	if v := os.Getenv(env); v != "" {
		return v
	}
	return def
}

func (f *adminFlags) client() (*admin.Client, error) {
	file := f.tokenFile
	if file == "" {
		file = filepath.Join(firstSet(f.stateDir, envStateDir, defaultStateDir()), "admin.token")
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read the admin token: %w (pass --state-dir or --admin-token-file as given to edged run, or set %s)", err, envStateDir)
	}
	api := firstSet(f.api, envAPI, defaultAPI)
	if !strings.Contains(api, "://") {
		api = "http://" + api
	}
	return &admin.Client{BaseURL: api, Token: secret.New(strings.TrimSpace(string(b)))}, nil
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func newDevicesCmd() *cobra.Command {
	var f adminFlags
	cmd := &cobra.Command{Use: "devices", Short: "List or revoke the devices registered at a running edged"}
	f.register(cmd)
	cmd.AddCommand(&cobra.Command{
		Use:   "list",
		Short: "List every device, in any state",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			devs, err := c.Devices(ctxOf(cmd))
			if err != nil {
				return err
			}
			if f.json {
				return printJSON(cmd.OutOrStdout(), devs)
			}
			if len(devs) == 0 {
				fmt.Fprintln(cmd.OutOrStdout(), "no devices are registered")
				return nil
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tUSER\tSTATE\tNAME\tADDRESSES\tAUTH TIME (AGE)")
			for _, d := range devs {
				age := d.ServerTime.Sub(d.AuthTime).Round(time.Second)
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s (%v)\n", d.ID, d.User.Email, d.State, d.Name,
					strings.Join(d.Addresses, ","), d.AuthTime.Format(time.RFC3339), age)
			}
			return tw.Flush()
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke a device: the edge signals it and stops its traffic",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			d, err := c.Revoke(ctxOf(cmd), args[0])
			if err != nil {
				return err
			}
			if f.json {
				return printJSON(cmd.OutOrStdout(), d)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "revoked device %s of %s\n", d.ID, d.User.Email)
			return nil
		},
	})
	return cmd
}

func newClockCmd() *cobra.Command {
	var f adminFlags
	cmd := &cobra.Command{Use: "clock", Short: "Show or advance a running edged's simulated time"}
	f.register(cmd)
	show := func(cmd *cobra.Command, now time.Time, offset string) {
		fmt.Fprintf(cmd.OutOrStdout(), "simulated time %s (%s ahead of the real clock)\n", now.Format(time.RFC3339), offset)
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "show",
		Short: "Print the simulated time",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			st, err := c.Clock(ctxOf(cmd))
			if err != nil {
				return err
			}
			if f.json {
				return printJSON(cmd.OutOrStdout(), st)
			}
			show(cmd, st.Now, st.Offset)
			return nil
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use:   "advance DURATION",
		Short: "Move the simulated time forward, e.g. 'edged clock advance 2h' (at most 100 years in total)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			// Checked here too, so that a mistyped value is a usage error
			// that never reaches the edge; the edge checks the total.
			d, err := admin.ParseAdvance(args[0])
			if err != nil {
				return usageError{err}
			}
			c, err := f.client()
			if err != nil {
				return err
			}
			st, err := c.AdvanceClock(ctxOf(cmd), d)
			if err != nil {
				return err
			}
			if f.json {
				return printJSON(cmd.OutOrStdout(), st)
			}
			show(cmd, st.Now, st.Offset)
			return nil
		},
	})
	return cmd
}

func newReloadCmd() *cobra.Command {
	var f adminFlags
	cmd := &cobra.Command{
		Use:   "reload",
		Short: "Ask a running edged to load its configuration again",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			res, err := c.Reload(ctxOf(cmd))
			if apierror.HasCode(err, control.CodeInvalidConfig) && len(res.Errors) > 0 {
				for _, e := range res.Errors {
					fmt.Fprintln(cmd.ErrOrStderr(), e)
				}
				fmt.Fprintln(cmd.ErrOrStderr(), "edged: reload refused; the old configuration stays in force")
				return errInvalid
			}
			if err != nil {
				return err
			}
			for _, w := range res.Warnings {
				fmt.Fprintln(cmd.ErrOrStderr(), w)
			}
			fmt.Fprintln(cmd.OutOrStdout(), "configuration reloaded")
			return nil
		},
	}
	f.register(cmd)
	return cmd
}

func ctxOf(cmd *cobra.Command) context.Context {
	if ctx := cmd.Context(); ctx != nil {
		return ctx
	}
	return context.Background()
}

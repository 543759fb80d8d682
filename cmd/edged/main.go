// Command edged is ztagent's edge simulator: it loads real Cloudflare
// Terraform and a simulator file and serves the control and admin API, the
// team domain, the built-in IdP and WireGuard (edged run). Its other
// commands validate a configuration and drive a running edged through the
// admin API: devices list|revoke, clock show|advance, reload.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
)

// Exit codes, as for agentctl: 1 a failure (an invalid configuration, an
// edge that cannot start or be reached), 2 a usage error.
const (
	exitInvalid = 1
	exitFailure = 1
	exitUsage   = 2
)

// errInvalid reports that the configuration has errors, which were
// already printed.
var errInvalid = errors.New("invalid configuration")

// usageError is a mistake in how a command was called, found by the
// command itself (an empty flag value).
type usageError struct{ error }

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	root := &cobra.Command{
		Use:           "edged",
		Short:         "The ztagent edge simulator",
		Long:          "edged simulates the Cloudflare edge for ztagent: Gateway policies with client sessions, Access, the team domain and an IdP, loaded from real Cloudflare Terraform and a simulator file.",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(newValidateCmd(), newRunCmd(), newDevicesCmd(), newClockCmd(), newReloadCmd())
	// Cobra checks flags and arguments before RunE: an error from RunE is
	// a failure of the command, not of its usage.
	ran := false
	var markRun func(*cobra.Command)
	markRun = func(c *cobra.Command) {
		if run := c.RunE; run != nil {
			c.RunE = func(cmd *cobra.Command, args []string) error {
				ran = true
				return run(cmd, args)
			}
		}
		for _, sub := range c.Commands() {
			markRun(sub)
		}
	}
	markRun(root)
	root.SetArgs(args)
	err := root.Execute()
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errInvalid):
		return exitInvalid
	case ran && !errors.As(err, new(usageError)):
		fmt.Fprintf(stderr, "edged: %v\n", err)
		return exitFailure
	default:
		fmt.Fprintf(stderr, "edged: %v\nRun 'edged --help' for usage.\n", err)
		return exitUsage
	}
}

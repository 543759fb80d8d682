// Command edged is ztagent's edge simulator: it loads real Cloudflare
// Terraform and a simulator file, and (in a later release) serves the
// control API, the team domain, the IdP and WireGuard. Today it validates
// configurations: edged validate --terraform DIR --sim FILE.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
)

// Exit codes, as for agentctl: 1 a failure (an invalid configuration), 2 a
// usage error.
const (
	exitInvalid = 1
	exitUsage   = 2
)

// errInvalid reports that the configuration has errors, which were
// already printed.
var errInvalid = errors.New("invalid configuration")

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
	root.AddCommand(newValidateCmd())
	root.SetArgs(args)
	err := root.Execute()
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errInvalid):
		return exitInvalid
	default:
		fmt.Fprintf(stderr, "edged: %v\nRun 'edged --help' for usage.\n", err)
		return exitUsage
	}
}

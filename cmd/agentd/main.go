// Command agentd is the ztagent agent: it holds the device's registration
// in the OS keyring, runs the WireGuard tunnel, follows the edge's control
// stream and answers agentctl and tray apps on its unix socket.
//
// agentd run runs it in the foreground; install, uninstall, start, stop,
// restart and status control the system service (systemd unit
// ztagent.service).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
)

// version is set by the build (-ldflags "-X main.version=…").
var version = "dev"

func main() { os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr)) }

type usageError struct{ error }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := &cobra.Command{
		Use:           "agentd",
		Short:         "The ztagent agent daemon",
		Long:          "agentd is the ztagent agent: device registration, the WireGuard tunnel and client sessions. agentctl talks to it.",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(newRunCmd(stdout, stderr))
	root.AddCommand(serviceCmds(stdout)...)
	ran := false
	var mark func(*cobra.Command)
	mark = func(c *cobra.Command) {
		if f := c.RunE; f != nil {
			c.RunE = func(cmd *cobra.Command, a []string) error { ran = true; return f(cmd, a) }
		}
		for _, sub := range c.Commands() {
			mark(sub)
		}
	}
	mark(root)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	var code exitCode
	switch {
	case err == nil:
		return 0
	case errors.As(err, &code):
		if code.err != nil {
			fmt.Fprintf(stderr, "agentd: %v\n", code.err)
		}
		return code.code
	case ran && !errors.As(err, new(usageError)):
		fmt.Fprintf(stderr, "agentd: %v\n", err)
		return 1
	default:
		fmt.Fprintf(stderr, "agentd: %v\nRun 'agentd --help' for usage.\n", err)
		return 2
	}
}

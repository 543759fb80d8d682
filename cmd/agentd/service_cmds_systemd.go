//go:build !darwin && !windows

package main

import (
	"context"
	"io"

	"github.com/spf13/cobra"
	"go.uber.org/zap"
)

// serviceCmds are install, uninstall, start, stop, restart and status of
// the systemd unit.
func serviceCmds(stdout io.Writer) []*cobra.Command {
	return serviceCmdsOn(theServiceHost, stdout)
}

// withServiceManager has nothing to do here: systemd stops agentd with
// SIGTERM.
func withServiceManager(ctx context.Context, _ *zap.Logger) (context.Context, func()) {
	return ctx, func() {}
}

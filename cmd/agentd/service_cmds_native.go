//go:build darwin || windows

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"time"

	"github.com/kardianos/service"
	"github.com/spf13/cobra"
	"go.uber.org/zap"
)

// nativeService returns agentd's service on this system's service
// manager (launchd, the Windows service control manager).
func nativeService(runArgs []string, prog service.Interface) (service.Service, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find the agentd binary for the service: %w", err)
	}
	cfg, err := nativeServiceConfig(runtime.GOOS, exe, runArgs)
	if err != nil {
		return nil, err
	}
	if prog == nil {
		prog = idleProgram{}
	}
	return service.New(prog, cfg)
}

// idleProgram is the program of a service that is only being managed.
type idleProgram struct{}

func (idleProgram) Start(service.Service) error { return nil }
func (idleProgram) Stop(service.Service) error  { return nil }

// serviceCmds are install, uninstall, start, stop, restart and status on
// launchd or the Windows service control manager.
func serviceCmds(stdout io.Writer) []*cobra.Command {
	var runArgs []string
	control := func(action, short string) *cobra.Command {
		return &cobra.Command{
			Use: action, Short: short, Args: cobra.NoArgs,
			RunE: func(*cobra.Command, []string) error {
				s, err := nativeService(runArgs, nil)
				if err != nil {
					return err
				}
				if err := service.Control(s, action); err != nil {
					return fmt.Errorf("%s %s: %w (it needs an administrator)", action, serviceName, err)
				}
				fmt.Fprintf(stdout, "%s: %s done\n", serviceName, action)
				return nil
			},
		}
	}
	install := control("install", "Install the system service (launchd daemon or Windows service), restarted after a failure")
	install.Flags().StringArrayVar(&runArgs, "run-arg", nil, "an argument for 'agentd run' in the service (repeat)")
	status := &cobra.Command{
		Use: "status", Short: "Say whether the system service is installed and running", Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			s, err := nativeService(nil, nil)
			if err != nil {
				return err
			}
			st, err := s.Status()
			switch {
			case errors.Is(err, service.ErrNotInstalled):
				fmt.Fprintf(stdout, "%s: not installed\n", serviceName)
				return exitCode{code: statusNotInstalled}
			case err != nil:
				return exitCode{code: statusUnknown, err: err}
			case st == service.StatusRunning:
				fmt.Fprintf(stdout, "%s: running\n", serviceName)
				return nil
			}
			fmt.Fprintf(stdout, "%s: stopped\n", serviceName)
			return exitCode{code: statusNotRunning}
		},
	}
	return []*cobra.Command{
		install,
		control("uninstall", "Remove the system service"),
		control("start", "Start the system service"),
		control("stop", "Stop the system service"),
		control("restart", "Restart the system service"),
		status,
	}
}

// managedProgram is agentd run under a service manager that stops it
// with a request rather than a signal: Stop ends the daemon's context and
// waits for it to finish.
type managedProgram struct {
	cancel context.CancelFunc
	done   chan struct{}
}

func (p *managedProgram) Start(service.Service) error { return nil }

func (p *managedProgram) Stop(service.Service) error {
	p.cancel()
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
	}
	return nil
}

// withServiceManager hands agentd to the Windows service control
// manager when it started it: the returned context ends on the manager's
// stop request, and finished tells the manager the daemon has ended.
// Started from a console (or by launchd, which sends SIGTERM), it changes
// nothing.
func withServiceManager(ctx context.Context, log *zap.Logger) (context.Context, func()) {
	if runtime.GOOS != "windows" || service.Interactive() {
		return ctx, func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	prog := &managedProgram{cancel: cancel, done: make(chan struct{})}
	s, err := nativeService(nil, prog)
	if err != nil {
		log.Error("cannot answer the service manager", zap.Error(err))
		return ctx, cancel
	}
	go func() {
		// Returns after Stop; the process ends with the daemon anyway.
		if err := s.Run(); err != nil {
			log.Error("the service manager's session ended", zap.Error(err))
		}
	}()
	return ctx, func() { close(prog.done); cancel() }
}

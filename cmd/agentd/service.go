package main

import (
	"fmt"
	"io"

	"github.com/kardianos/service"
	"github.com/spf13/cobra"
)

// serviceName is the unit's name: ztagent.service.
const serviceName = "ztagent"

// unit is our own systemd unit: restarted on failure, runtime and state
// directories made by systemd with the right owner and modes, and the
// daemon kept away from what it does not need. CAP_NET_ADMIN stays for tun
// mode; the keyring is reached over D-Bus.
const unit = `[Unit]
Description={{Description}}
Documentation=https://github.com/ztagent/ztagent
After=network-online.target
Wants=network-online.target
ConditionFileIsExecutable={{Path | cmdEscape}}

[Service]
Type=simple
ExecStart={{Path | cmdEscape}}{{range Arguments}} {{. | cmd}}{{end}}
Restart=on-failure
RestartSec=2
TimeoutStopSec=10
RuntimeDirectory=ztagent
RuntimeDirectoryMode=0755
StateDirectory=ztagent
StateDirectoryMode=0700
UMask=0077
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=read-only
PrivateTmp=yes
ProtectKernelModules=yes
ProtectKernelTunables=yes
ProtectControlGroups=yes
RestrictSUIDSGID=yes
LockPersonality=yes
CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_BIND_SERVICE
AmbientCapabilities=CAP_NET_ADMIN
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK

[Install]
WantedBy=multi-user.target
`

// serviceProgram adapts the daemon to kardianos/service, for platforms
// whose service manager runs the binary itself (Windows); on Linux systemd
// runs `agentd run` and this is only used to install and control it.
type serviceProgram struct{}

func (serviceProgram) Start(service.Service) error { return nil }
func (serviceProgram) Stop(service.Service) error  { return nil }

func newService(args []string) (service.Service, error) {
	return service.New(serviceProgram{}, &service.Config{
		Name:        serviceName,
		DisplayName: "ztagent agent",
		Description: "ztagent endpoint agent: device registration, WireGuard tunnel and client sessions",
		Arguments:   append([]string{"run"}, args...),
		Option:      service.KeyValue{"SystemdScript": unit},
	})
}

// serviceCmds are install, uninstall, start, stop, restart and status.
func serviceCmds(stdout io.Writer) []*cobra.Command {
	var runArgs []string
	mk := func(action, short string) *cobra.Command {
		cmd := &cobra.Command{
			Use:   action,
			Short: short,
			Args:  cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				s, err := newService(runArgs)
				if err != nil {
					return err
				}
				if action == "status" {
					st, err := s.Status()
					if err != nil {
						return fmt.Errorf("ask the service manager: %w", err)
					}
					fmt.Fprintln(stdout, map[service.Status]string{
						service.StatusRunning: "running", service.StatusStopped: "stopped", service.StatusUnknown: "unknown",
					}[st])
					return nil
				}
				if err := service.Control(s, action); err != nil {
					return fmt.Errorf("%s the %s service (as root?): %w", action, serviceName, err)
				}
				fmt.Fprintf(stdout, "%s: %s done\n", serviceName, action)
				return nil
			},
		}
		if action == "install" {
			cmd.Flags().StringArrayVar(&runArgs, "run-arg", nil, "an argument for 'agentd run' in the unit (repeat), e.g. --run-arg=--edge-api=https://edge.example")
		}
		return cmd
	}
	return []*cobra.Command{
		mk("install", "Install the system service (systemd unit ztagent.service)"),
		mk("uninstall", "Remove the system service"),
		mk("start", "Start the system service"),
		mk("stop", "Stop the system service"),
		mk("restart", "Restart the system service"),
		mk("status", "Show whether the system service runs"),
	}
}

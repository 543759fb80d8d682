package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/ztagent/ztagent/internal/logging"
	"github.com/ztagent/ztagent/pkg/edge/simulator"
)

// runFlags are the flags of edged run.
type runFlags struct {
	tfDir, simFile, stateDir, adminTokenFile string
	api, teamDomain, idp, wireguard          string
	logFormat, logLevel                      string
	demoUpstreams                            bool
}

// defaultStateDir is where edged keeps its state when --state-dir is not
// given: $XDG_STATE_HOME/ztagent/edged, else ~/.local/state/ztagent/edged.
func defaultStateDir() string {
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "ztagent", "edged")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".local", "state", "ztagent", "edged")
	}
	return filepath.Join(".run", "edged")
}

func newRunCmd() *cobra.Command {
	var f runFlags
	cmd := &cobra.Command{
		Use:   "run --terraform DIR --sim FILE [--state-dir DIR]",
		Short: "Run the edge simulator: control and admin API, team domain, IdP and WireGuard",
		Long: `run loads the configuration like 'edged validate' and refuses to start,
listing every error, when it has any. Then it serves the control and admin
API, the team domain, the built-in IdP and WireGuard until interrupted.
SIGHUP (or 'edged reload') loads the configuration again; a configuration
with errors is refused and the old one stays in force.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runEdge(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.tfDir, "terraform", "", "directory of Cloudflare Terraform (.tf) files")
	fl.StringVar(&f.simFile, "sim", "", "simulator file (HCL)")
	// The same variable the admin commands read, so that one export
	// (make run prints it) points both at the same edge.
	fl.StringVar(&f.stateDir, "state-dir", firstSet("", envStateDir, defaultStateDir()),
		"directory for the device database, the admin token and the WireGuard key (default $"+envStateDir+" when set)")
	fl.StringVar(&f.adminTokenFile, "admin-token-file", "", "file holding the admin API token (default <state-dir>/admin.token, created on first start)")
	fl.StringVar(&f.api, "api", "", "control and admin API listen address (overrides the simulator file)")
	fl.StringVar(&f.teamDomain, "team-domain", "", "team domain listen address (overrides the simulator file)")
	fl.StringVar(&f.idp, "idp", "", "IdP listen address (overrides the simulator file)")
	fl.StringVar(&f.wireguard, "wireguard", "", "WireGuard UDP listen address (overrides the simulator file)")
	fl.BoolVar(&f.demoUpstreams, "serve-demo-upstreams", false, "serve a small page on every free loopback upstream target of the virtual network (make run uses it)")
	fl.StringVar(&f.logFormat, "log-format", "console", "log format: console or json")
	fl.StringVar(&f.logLevel, "log-level", "info", "lowest log level: debug, info, warn or error")
	_ = cmd.MarkFlagRequired("terraform")
	_ = cmd.MarkFlagRequired("sim")
	return cmd
}

func (f runFlags) listeners() (simulator.Listeners, error) {
	var l simulator.Listeners
	for _, o := range []struct {
		flag, value string
		dst         *netip.AddrPort
	}{{"--api", f.api, &l.API}, {"--team-domain", f.teamDomain, &l.TeamDomain}, {"--idp", f.idp, &l.IdP}, {"--wireguard", f.wireguard, &l.WireGuard}} {
		if o.value == "" {
			continue
		}
		ap, err := netip.ParseAddrPort(o.value)
		if err != nil {
			return l, fmt.Errorf("%s %q is not an IP:port address such as 127.0.0.1:8780", o.flag, o.value)
		}
		*o.dst = ap
	}
	return l, nil
}

func newLogger(format, level string, stderr io.Writer) (*zap.Logger, error) {
	opts := logging.Options{Output: stderr}
	switch format {
	case "console":
		opts.Format = logging.Console
	case "json":
		opts.Format = logging.JSON
	default:
		return nil, fmt.Errorf("--log-format %q: use console or json", format)
	}
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		return nil, fmt.Errorf("--log-level %q: use debug, info, warn or error", level)
	}
	opts.Level = lvl
	return logging.New(opts), nil
}

func runEdge(ctx context.Context, stdout, stderr io.Writer, f runFlags) error {
	listen, err := f.listeners()
	if err != nil {
		return err
	}
	log, err := newLogger(f.logFormat, f.logLevel, stderr)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	// SIGHUP is caught from the start, so that one sent while starting
	// does not kill the process; it reloads once the edge runs.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	sim, err := simulator.Start(ctx, simulator.Options{
		TerraformDir:   f.tfDir,
		SimFile:        f.simFile,
		StateDir:       f.stateDir,
		AdminTokenFile: f.adminTokenFile,
		Listen:         listen,
		Logger:         log,
		HTTP:           httpLimits(log),
	})
	var cfgErr *simulator.ConfigError
	if errors.As(err, &cfgErr) {
		for _, d := range cfgErr.Diagnostics.Errors() {
			fmt.Fprintln(stderr, d)
		}
		fmt.Fprintf(stderr, "edged: not started: the configuration has %d error(s); fix them (edged validate shows the same list)\n", len(cfgErr.Diagnostics.Errors()))
		return errInvalid
	}
	if err != nil {
		return fmt.Errorf("start: %w", err)
	}
	if f.demoUpstreams {
		demo, err := startDemoUpstreams(f.simFile, log.Named("demo"))
		if err != nil {
			_ = sim.Close()
			return err
		}
		defer demo.Close()
	}
	_, tokenFile := sim.AdminToken()
	fmt.Fprintf(stdout, `edged: the edge simulator of team %q is running
  control and admin API  %s   (admin token in %s)
  team domain            %s
  IdP                    %s
  WireGuard              %s (UDP)
  state                  %s
Ctrl-C stops it; SIGHUP or 'edged reload' loads the configuration again.
`, sim.Team(), sim.APIURL(), tokenFile, sim.TeamDomainURL(), sim.IdPURL(), sim.WireGuardAddr(), f.stateDir)
	if names, file := sim.ServiceTokens(); len(names) > 0 {
		fmt.Fprintf(stdout, "  service tokens         %s: client IDs and secrets in %s\n", strings.Join(names, ", "), file)
	}

	for {
		select {
		case <-ctx.Done():
			// A second Ctrl-C during a stuck shutdown kills the process.
			stop()
			log.Info("stopping")
			return sim.Close()
		case <-hup:
			res := sim.Reload(ctx)
			if !res.Reloaded {
				for _, e := range res.Errors {
					fmt.Fprintln(stderr, e)
				}
			}
		}
	}
}

// fdReserve is the file descriptors kept out of the HTTP listeners' share:
// the database, WireGuard's sockets, the log, the demo upstreams.
const fdReserve = 128

// httpLimits raises the open-file limit and sizes the listeners' bound to
// fit in it, so that connections run out at the bound, with the edge
// still answering, and not at the limit, where every listener fails
// (issue 12 item 14).
func httpLimits(log *zap.Logger) simulator.HTTPLimits {
	lim := simulator.DefaultHTTPLimits()
	n, err := raiseFileLimit()
	if err != nil {
		log.Warn("could not raise the open-file limit to the hard limit", zap.Uint64("limit", n), zap.Error(err))
	}
	lim.MaxConns = connsPerListener(n, lim.MaxConns)
	log.Debug("HTTP listener bounds", zap.Uint64("open_file_limit", n), zap.Int("max_conns_per_listener", lim.MaxConns))
	return lim
}

// connsPerListener returns def, lowered so that three HTTP listeners and
// fdReserve fit in an open-file limit of n (0: unknown), but at least a
// few connections each even under a tiny limit.
func connsPerListener(n uint64, def int) int {
	if n == 0 {
		return def
	}
	return int(min(int64(def), max(8, (int64(min(n, 1<<20))-fdReserve)/3)))
}

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/ztagent/ztagent/internal/logging"
	"github.com/ztagent/ztagent/internal/paths"
	"github.com/ztagent/ztagent/pkg/agent"
	"github.com/ztagent/ztagent/pkg/ipc"
	"github.com/ztagent/ztagent/pkg/ipc/browseprompt"
	"github.com/ztagent/ztagent/pkg/ipc/ipcproto"
	"github.com/ztagent/ztagent/pkg/tunnel"
	"github.com/ztagent/ztagent/platform/browser"
	"github.com/ztagent/ztagent/platform/keyring"
)

// shutdownBudget is REL5's bound on a clean stop.
const shutdownBudget = 5 * time.Second

// runConfig is agentd run's settings, from flags and the config file.
type runConfig struct {
	configFile  string
	stateDir    string
	socket      string
	keyring     string
	mode        string
	proxyAddr   string
	edgeAPI     string
	team        string
	logFormat   string
	logLevel    string
	openBrowser string
	mdmFile     string
	// changed reports whether a flag was given on the command line or in
	// the config file (then the MDM file does not override it).
	changed func(name string) bool
}

func newRunCmd(stdout, stderr io.Writer) *cobra.Command {
	c := runConfig{}
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run the agent in the foreground (logs to stderr)",
		Long: `run starts the agent: it opens the keyring and the state directory, listens
on the unix socket for agentctl, restores the registration and brings the
tunnel up. SIGINT or SIGTERM stop it cleanly within 5 seconds.

Defaults depend on who runs it: as root, the socket is ` + paths.SystemSocket + ` and
the state ` + paths.SystemStateDir + `; as another user, $XDG_RUNTIME_DIR/ztagent/agentd.sock
and $XDG_STATE_HOME/ztagent (docs/AGENTD.md lists the fallbacks).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if c.configFile != "" {
				if err := c.loadFile(cmd); err != nil {
					return err
				}
			}
			c.changed = func(name string) bool { return cmd.Flags().Changed(name) }
			return runDaemon(cmd.Context(), stdout, stderr, c)
		},
	}
	f := cmd.Flags()
	f.StringVar(&c.configFile, "config", "", "a JSON file with any of the flags' values by their names (\"edge-api\", \"team\", …); flags win")
	f.StringVar(&c.stateDir, "state-dir", paths.DaemonStateDir(), "directory for agent.json and, with the file keyring, the registration")
	f.StringVar(&c.socket, "socket", paths.DaemonSocket(), "the unix socket agentctl talks to")
	f.StringVar(&c.keyring, "keyring", "auto", "where the registration is kept: auto, system (Secret Service), file (0600 in the state directory)")
	f.StringVar(&c.mode, "mode", "proxy", "proxy (local SOCKS5/HTTP proxy, no root) or tun (a TUN interface, root)")
	f.StringVar(&c.proxyAddr, "proxy-addr", tunnel.DefaultProxyAddr, "the local proxy's address in proxy mode")
	f.StringVar(&c.edgeAPI, "edge-api", "http://127.0.0.1:8780", "the edge's control API")
	f.StringVar(&c.team, "team", "", "the team name register uses when none is given")
	f.StringVar(&c.logFormat, "log-format", "console", "console or json")
	f.StringVar(&c.logLevel, "log-level", "info", "debug, info, warn or error")
	f.StringVar(&c.mdmFile, "mdm", defaultMDMFile(), "Cloudflare's managed-deployment file (mdm.xml): organization, a service token for unattended enrollment, service_mode, proxy_port, switch_locked, …; read again on SIGHUP (docs/AGENTD.md)")
	f.StringVar(&c.openBrowser, "open-browser", "auto", "open re-authentication pages: auto (only in a user's desktop session), always (any non-root run), never; never as root")
	return cmd
}

// loadFile reads the config file; a flag given on the command line wins
// over the file.
func (c *runConfig) loadFile(cmd *cobra.Command) error {
	b, err := os.ReadFile(c.configFile)
	if err != nil {
		return fmt.Errorf("read --config: %w", err)
	}
	var m map[string]string
	if err := json.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("%s: not a JSON object of strings: %w", c.configFile, err)
	}
	for k, v := range m {
		fl := cmd.Flags().Lookup(k)
		if fl == nil || k == "config" {
			return fmt.Errorf("%s: unknown setting %q; use the names of agentd run's flags", c.configFile, k)
		}
		if fl.Changed {
			continue
		}
		if err := fl.Value.Set(v); err != nil {
			return fmt.Errorf("%s: %s: %w", c.configFile, k, err)
		}
	}
	return nil
}

func (c runConfig) logger(stderr io.Writer) (*zap.Logger, error) {
	opts := logging.Options{Output: stderr}
	switch c.logFormat {
	case "console":
		opts.Format = logging.Console
	case "json":
		opts.Format = logging.JSON
	default:
		return nil, usageError{fmt.Errorf("--log-format %q: use console or json", c.logFormat)}
	}
	lvl, err := zapcore.ParseLevel(c.logLevel)
	if err != nil {
		return nil, usageError{fmt.Errorf("--log-level %q: use debug, info, warn or error", c.logLevel)}
	}
	opts.Level = lvl
	return logging.New(opts), nil
}

func runDaemon(ctx context.Context, stdout, stderr io.Writer, c runConfig) error {
	log, err := c.logger(stderr)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	mdmFile := &mdmReader{path: c.mdmFile, log: log.Named("mdm")}
	settings, mdmErr := mdmFile.read()
	if mdmErr != nil {
		fmt.Fprintf(stderr, "agentd: %v; starting without the MDM file's settings\n", mdmErr)
	}
	if c.changed == nil {
		c.changed = func(string) bool { return false }
	}
	c.applyMDM(settings, c.changed, log)
	mode, err := tunnel.ParseMode(c.mode)
	if err != nil {
		return usageError{err}
	}
	if _, err := url.Parse(c.edgeAPI); err != nil || c.edgeAPI == "" {
		return usageError{fmt.Errorf("--edge-api %q is not a URL such as http://127.0.0.1:8780", c.edgeAPI)}
	}
	if err := os.MkdirAll(c.stateDir, 0o700); err != nil {
		return fmt.Errorf("create the state directory: %w", err)
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	// Under the Windows service manager its stop request ends ctx, as a
	// SIGTERM does elsewhere.
	ctx, finished := withServiceManager(ctx, log)
	defer finished()
	// Before anything says agentd is up: a SIGHUP that arrives then must
	// reread the MDM file, not end the process.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	kr, err := keyring.Open(ctx, keyring.Options{
		Backend: c.keyring,
		Service: "ztagent",
		FileDir: filepath.Join(c.stateDir, "keyring"),
		Logger:  log.Named("keyring"),
	})
	if err != nil {
		return fmt.Errorf("open the keyring (--keyring %s): %w", c.keyring, err)
	}
	defer kr.Close()

	a, err := agent.New(agent.Options{
		StateDir:      c.stateDir,
		Keyring:       kr,
		EdgeAPI:       c.edgeAPI,
		Team:          c.team,
		Mode:          mode,
		ProxyAddr:     c.proxyAddr,
		TunnelOptions: tunnel.Options{Logger: log.Named("tunnel")},
		Logger:        log.Named("agent"),
		MDM:           settings,
	})
	if err != nil {
		return err
	}
	srv, err := ipc.NewServer(ipc.ServerOptions{
		SocketPath:    c.socket,
		Backend:       a,
		DaemonVersion: version,
		Logger:        log.Named("ipc"),
		IsConsoleUser: ipc.IsConsoleUser,
	})
	if err != nil {
		_ = a.Close()
		return fmt.Errorf("listen on %s: %w", c.socket, err)
	}

	errs := make(chan error, 2)
	go func() { errs <- srv.Serve() }()
	go func() { errs <- a.Run(ctx) }()
	opened := make(chan struct{})
	if c.shouldOpenBrowser() {
		go func() {
			defer close(opened)
			openBrowseURLs(ctx, a, log)
		}()
	} else {
		close(opened)
	}
	fmt.Fprintf(stdout, "agentd %s: listening on %s (state %s, keyring %s, %s mode); Ctrl-C stops it\n",
		version, c.socket, c.stateDir, kr.Backend(), mode)

	var runErr error
wait:
	for {
		select {
		case <-ctx.Done():
			break wait
		case runErr = <-errs:
			break wait
		case <-hup:
			// Tunnel settings (service_mode, proxy_port) apply at the next
			// start; the service token, organization and switch now.
			s, err := mdmFile.read()
			if err != nil {
				fmt.Fprintf(stderr, "agentd: %v\n", err)
				continue
			}
			a.SetMDM(s)
		}
	}
	stop()
	log.Info("stopping")
	done := make(chan error, 1)
	go func() {
		err := errors.Join(srv.Close(), a.Close())
		<-opened
		done <- err
	}()
	select {
	case err := <-done:
		return errors.Join(runErr, err)
	case <-time.After(shutdownBudget):
		return fmt.Errorf("did not stop within %v; exiting anyway", shutdownBudget)
	}
}

// shouldOpenBrowser reports whether the daemon opens re-authentication
// pages itself: only when it runs inside a user's desktop session (not as
// root, with a display), unless told otherwise. A system service only
// publishes the URLs; front-ends open them.
func (c runConfig) shouldOpenBrowser() bool {
	// Never as root, whatever the flag says: a browser run by root is a
	// browser with root's powers.
	if os.Geteuid() == 0 || c.openBrowser == "never" {
		return false
	}
	if c.openBrowser == "always" {
		return true
	}
	return os.Getenv("DISPLAY") != "" || os.Getenv("WAYLAND_DISPLAY") != ""
}

// daemonItself is how agentd's own event subscriber is known to the agent:
// as root, it sees every event, including the operator's prompts.
var daemonItself = ipc.Caller{UID: 0}

// openBrowseURLs opens each expiry prompt the agent publishes (the agent's
// broker publishes one per expiry, S16) with the process's one opener. The
// agent validated the URLs against the team domain (SEC4); the opener
// checks them again against the registration, not against their own
// origin. Only expiry prompts: agentctl register and reauth open their own
// URL (and honour --no-browser).
func openBrowseURLs(ctx context.Context, a *agent.Agent, log *zap.Logger) {
	src := browseprompt.NewSubscription(func() (<-chan ipcproto.Event, func()) {
		_, events, cancel := a.Subscribe(daemonItself)
		return events, cancel
	})
	defer src.Close()
	_ = browseprompt.Follow(ctx, browseprompt.Options{
		Source:  src,
		Opener:  &browser.System{AllowedFunc: a.AllowedOrigins},
		Reasons: []string{ipcproto.EventSessionExpired},
		OnOpenError: func(url string, err error) {
			log.Warn("could not open the browser; open the URL yourself", zap.String("url", url), zap.Error(err))
		},
	})
}

// Command agenttray is ztagent's tray app: an icon in the desktop's panel
// that shows agentd's state and the user's client sessions, a menu of the
// actions the user may take, and a desktop notification when a session
// expires, whose button opens the re-authentication page. It speaks only
// agentd's documented IPC (docs/IPC.md), runs in the user's desktop
// session and never as root.
//
// Usage:
//
//	agenttray [--socket PATH]      run the tray (one per user session)
//	agenttray install              start it at every login (XDG autostart)
//	agenttray uninstall            stop starting it at login
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/ztagent/ztagent/internal/logging"
	"github.com/ztagent/ztagent/internal/paths"
	"github.com/ztagent/ztagent/pkg/ipc"
	"github.com/ztagent/ztagent/pkg/tray"
	"github.com/ztagent/ztagent/platform/browser"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// options are agenttray's flags.
type options struct {
	socket string
	debug  bool
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("agenttray", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.StringVar(&o.socket, "socket", paths.DefaultSocket(), "agentd's IPC socket")
	fs.BoolVar(&o.debug, "debug", false, "log at debug level")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: agenttray [--socket PATH] [--debug]\n       agenttray install|uninstall")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	switch cmd := fs.Arg(0); cmd {
	case "":
	case "install", "uninstall":
		if fs.NArg() > 1 {
			fmt.Fprintf(stderr, "agenttray %s takes no arguments\n", cmd)
			return 2
		}
		exe, err := os.Executable()
		if err == nil {
			err = autostart(cmd == "install", exe, o.socket, stdout)
		}
		if err != nil {
			fmt.Fprintf(stderr, "agenttray %s: %v\n", cmd, err)
			return 1
		}
		return 0
	default:
		fmt.Fprintf(stderr, "agenttray: unknown command %q: it takes install, uninstall or no command\n", cmd)
		return 2
	}
	if os.Geteuid() == 0 {
		fmt.Fprintln(stderr, "agenttray: refusing to run as root: start it in your own desktop session (agentd is the part that runs as root)")
		return 1
	}
	// The lock first: a second tray says so without touching the desktop.
	release, err := singleInstance()
	if err != nil {
		fmt.Fprintf(stderr, "agenttray: %v\n", err)
		return 1
	}
	defer release()
	if err := checkDesktop(); err != nil {
		fmt.Fprintf(stderr, "agenttray: %v\n", err)
		return 1
	}

	level := zapcore.InfoLevel
	if o.debug {
		level = zapcore.DebugLevel
	}
	log := logging.New(logging.Options{Level: level, Output: stderr})
	defer func() { _ = log.Sync() }()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	client := ipc.NewClient(o.socket)
	defer client.Close()
	client.OnVersionMismatch(func(v ipc.Versions) {
		log.Warn("agentd speaks another IPC version; upgrade the older one",
			zap.String("agentd_api", v.API), zap.String("agentd", v.Daemon), zap.String("agenttray_api", "1"))
	})
	opener := &browser.System{AllowedFunc: func() []string { return teamDomain(client) }}
	return runTray(ctx, log, func(p tray.Panel, n tray.Notifier) *tray.App {
		return tray.NewApp(tray.Options{
			Daemon: tray.DaemonClient{Client: client}, Panel: p, Notifier: n, Opener: opener, Log: log,
		})
	})
}

// teamDomain asks agentd which team domain a URL it published may point
// at, at each opening: the registration may have changed since.
func teamDomain(c *ipc.Client) []string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := c.Status(ctx)
	if err != nil || st.TeamDomain == "" {
		return nil
	}
	return []string{st.TeamDomain}
}

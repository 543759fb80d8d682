// Command agentctl is the command line of the ztagent agent: it talks to
// agentd over its unix socket (pkg/ipc) and never holds a secret itself.
//
// Exit codes: 0 ok, 1 failure, 2 usage, 3 permission denied, 4 daemon not
// reachable.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/ztagent/ztagent/internal/paths"
	"github.com/ztagent/ztagent/internal/termsafe"
	"github.com/ztagent/ztagent/pkg/ipc"
	"github.com/ztagent/ztagent/platform/browser"
)

// Exit codes (DESIGN §3).
const (
	exitOK          = 0
	exitFailure     = 1
	exitUsage       = 2
	exitPermission  = 3
	exitUnreachable = 4
)

// version is set by the build (-ldflags "-X main.version=…").
var version = "dev"

// app is what every command shares: the flags and the output.
//
// stdout and stderr escape control characters in whatever is written to
// them (termsafe), since much of it comes from agentd and, through it, from
// the edge, an IdP or a browser's callback; fields a line shows are also
// passed through termsafe.Line, so that they cannot start lines of their
// own. Only agentctl's own live status line writes to the terminal as is,
// through rawStderr.
type app struct {
	socket    string
	json      bool
	stdout    io.Writer
	stderr    io.Writer
	rawStderr io.Writer
	client    *ipc.Client
	// open, when a test sets it, replaces opening a URL altogether.
	open func(ctx context.Context, rawURL string) error
	// launch, when a test sets it, replaces only the desktop launcher:
	// the URL still passes the production checks first.
	launch func(url string) error

	// browserMu guards browser and team. browser is the process's one
	// opener, created on first use; team is the team domain agentd last
	// named, the only origin a URL may be opened on.
	browserMu sync.Mutex
	browser   *browser.System
	team      string
}

// allowTeam records the team domain agentd named (an empty one, from an
// older agentd, changes nothing).
func (a *app) allowTeam(domain string) {
	if domain == "" {
		return
	}
	a.browserMu.Lock()
	a.team = domain
	a.browserMu.Unlock()
}

func (a *app) allowedOrigins() []string {
	a.browserMu.Lock()
	defer a.browserMu.Unlock()
	if a.team == "" {
		return nil
	}
	return []string{a.team}
}

// openURL opens a URL agentd returned or published, after checking it
// against the team domain agentd named (SEC4).
func (a *app) openURL(ctx context.Context, rawURL string) error {
	if a.open != nil {
		return a.open(ctx, rawURL)
	}
	a.browserMu.Lock()
	if a.browser == nil {
		a.browser = &browser.System{AllowedFunc: a.allowedOrigins, Launch: a.launch}
	}
	b := a.browser
	a.browserMu.Unlock()
	return b.Open(ctx, rawURL)
}

func (a *app) ipc() *ipc.Client {
	if a.client == nil {
		a.client = ipc.NewClient(a.socket)
		a.client.OnVersionMismatch(func(v ipc.Versions) {
			fmt.Fprintf(a.stderr, "agentctl: warning: agentd speaks IPC version %s (daemon %s), this agentctl speaks %s; upgrade the older one\n",
				termsafe.Line(v.API), termsafe.Line(v.Daemon), "1")
		})
	}
	return a.client
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// usageError is a mistake in how a command was called that the command
// itself found.
type usageError struct{ error }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return runApp(ctx, &app{stdout: stdout, stderr: stderr}, args)
}

func runApp(ctx context.Context, a *app, args []string) int {
	a.rawStderr = a.stderr
	a.stdout, a.stderr = termsafe.NewWriter(a.stdout), termsafe.NewWriter(a.stderr)
	root := a.rootCmd()
	ran := false
	var mark func(*cobra.Command)
	mark = func(c *cobra.Command) {
		if f := c.RunE; f != nil {
			c.RunE = func(cmd *cobra.Command, args []string) error { ran = true; return f(cmd, args) }
		}
		for _, sub := range c.Commands() {
			mark(sub)
		}
	}
	mark(root)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if a.client != nil {
		_ = a.client.Close()
	}
	return exitCode(err, ran, a.stderr)
}

// rootCmd builds the command tree, writing to a's (already wrapped) output.
func (a *app) rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "agentctl",
		Short: "Control the ztagent agent (agentd)",
		Long: `agentctl controls agentd, the ztagent agent: register this device with your
organization, connect, see your client session, and re-authenticate.

Exit codes: 0 ok, 1 failure, 2 usage, 3 permission denied, 4 agentd not reachable.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	root.PersistentFlags().StringVar(&a.socket, "socket", paths.DefaultSocket(), "agentd's socket (or set ZTAGENT_SOCKET)")
	root.PersistentFlags().BoolVar(&a.json, "json", false, "print JSON")
	root.AddCommand(
		a.statusCmd(), a.registerCmd(), a.connectCmd(), a.disconnectCmd(), a.reauthCmd(),
		a.sessionCmd(), a.logoutCmd(), a.watchCmd(), a.settingsCmd(), a.whyCmd(), a.versionCmd(),
	)
	return root
}

func exitCode(err error, ran bool, stderr io.Writer) int {
	if err == nil {
		return exitOK
	}
	if errors.Is(err, errReported) {
		return exitFailure
	}
	// Errors carry agentd's messages and hints: one line each.
	fmt.Fprintf(stderr, "agentctl: %s\n", termsafe.Line(err.Error()))
	switch {
	case errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EPERM):
		fmt.Fprintln(stderr, "You may not open agentd's socket: run the command as the user who runs agentd, or with sudo.")
		return exitPermission
	case errors.Is(err, ipc.ErrDaemonUnreachable):
		fmt.Fprintln(stderr, "Is agentd running? Start it with 'agentd run' (or 'sudo agentd start' for the service), or pass --socket.")
		return exitUnreachable
	case errors.Is(err, ipc.ErrPermissionDenied):
		return exitPermission
	case !ran || errors.As(err, new(usageError)):
		fmt.Fprintln(stderr, "Run 'agentctl --help' for usage.")
		return exitUsage
	default:
		return exitFailure
	}
}

// errReported is returned by a command that already printed its failure.
var errReported = errors.New("reported")

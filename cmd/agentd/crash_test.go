package main

import (
	"context"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"golang.org/x/crypto/bcrypt"

	"github.com/ztagent/ztagent/internal/testenv/proc"
	"github.com/ztagent/ztagent/internal/testenv/scriptbrowser"
	"github.com/ztagent/ztagent/pkg/edge/simulator"
	"github.com/ztagent/ztagent/pkg/ipc"
	"github.com/ztagent/ztagent/pkg/ipc/ipcproto"
)

// crashRuns is how many times agentd is killed with SIGKILL (issue 7: at
// least 100). -short runs a handful.
func crashRuns() int {
	if testing.Short() {
		return 10
	}
	return 100
}

// callTimeout bounds an IPC call or a sign-in that is expected to work;
// it is only reached when one does not, however busy the machine.
const callTimeout = time.Minute

// TestSIGKILLLeavesConsistentState kills agentd at random moments while it
// registers (keyring write, state file write, tunnel start) and while it
// records new sign-ins (auth_time updates through session_refreshed), then
// restarts it: every time the state must be whole — registered with a
// registration that works, or not registered at all, never damaged — and
// the IPC must answer.
func TestSIGKILLLeavesConsistentState(t *testing.T) {
	bin := buildAgentd(t)
	root := t.TempDir()
	loop := netip.MustParseAddrPort("127.0.0.1:0")
	sim, err := simulator.Start(context.Background(), simulator.Options{
		TerraformDir: "../../examples/acme", SimFile: "../../examples/acme/simulator.hcl",
		StateDir: filepath.Join(root, "edge"), BcryptCost: bcrypt.MinCost, Logger: zap.NewNop(),
		Listen: simulator.Listeners{API: loop, TeamDomain: loop, IdP: loop, WireGuard: loop},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	sockDir, err := os.MkdirTemp("", "crash")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(sockDir)
	os.Chmod(sockDir, 0o755)
	sock := filepath.Join(sockDir, "agentd.sock")
	state := filepath.Join(root, "agent")
	alice := &scriptbrowser.Credentials{Email: "alice@example.com", Password: "alice-demo-password"}

	start := func() *proc.Proc {
		t.Helper()
		p := proc.Start(t, proc.Options{Bin: bin, Quiet: true, Args: []string{"run", "--state-dir", state, "--socket", sock, "--keyring", "file",
			"--edge-api", sim.APIURL(), "--team", "acme", "--proxy-addr", "127.0.0.1:0", "--open-browser", "never", "--log-level", "error"}})
		// Whatever path the test takes, no agentd outlives it (Start's
		// cleanup).
		if _, _, err := p.WaitLine(proc.Stdout, 0, callTimeout, func(s string) bool { return strings.Contains(s, "listening on") }); err != nil {
			t.Fatalf("agentd did not start: %v\n%s", err, p.Report(40))
		}
		return p
	}
	// kill is the crash: SIGKILL, no SIGTERM first.
	kill := func(p *proc.Proc) { p.Kill() }
	status := func() ipcproto.Status {
		t.Helper()
		c := ipc.NewClient(sock)
		defer c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		defer cancel()
		st, err := c.Status(ctx)
		if err != nil {
			t.Fatalf("status after a restart: %v", err)
		}
		return st
	}
	// settled waits until the agent has read the keyring after a start
	// (until then it is connecting without a registration).
	settled := func() ipcproto.Status {
		t.Helper()
		st := status()
		for deadline := time.Now().Add(callTimeout); st.State == ipcproto.StateConnecting && st.Registration == nil; {
			if time.Now().After(deadline) {
				t.Fatalf("agentd did not read its keyring within %v of a start: %s %s", callTimeout, st.State, st.Message)
			}
			time.Sleep(10 * time.Millisecond) // polling the daemon's state, which has no event for "loaded"
			st = status()
		}
		return st
	}
	// check restarts agentd and asserts the state is whole.
	check := func(i int, when string) ipcproto.Status {
		t.Helper()
		cmd := start()
		defer kill(cmd)
		st := settled()
		switch st.State {
		case ipcproto.StateUnregistered, ipcproto.StateConnecting, ipcproto.StateConnected, ipcproto.StateRegistering, ipcproto.StateReauthRequired:
		default:
			t.Fatalf("run %d, killed %s: after restart the state is %s: %s", i, when, st.State, st.Message)
		}
		if (st.Registration != nil) != (st.State != ipcproto.StateUnregistered && st.State != ipcproto.StateRegistering) {
			t.Fatalf("run %d, killed %s: state %s with registration %+v", i, when, st.State, st.Registration)
		}
		return st
	}

	b, err := scriptbrowser.New(scriptbrowser.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	// Kill points fall in [0, window): twice the time a registration took
	// to be stored in a first run that is not killed, and grown whenever a
	// run is seen to finish later, so that on a busy machine as on an idle
	// one some runs are cut short and others reach the end.
	var window time.Duration
	// randomKill kills cmd at a random point of a run that began at began
	// and whose client work ends with done.
	randomKill := func(cmd *proc.Proc, began time.Time, done <-chan struct{}) {
		killAt := time.NewTimer(rand.N(window)) // a random kill point, not synchronisation
		defer killAt.Stop()
		select {
		case <-killAt.C:
		case <-done:
			if d := time.Since(began); 2*d > window {
				window = 2 * d
				t.Logf("a run took %v; kill points now within %v", d, window)
			}
			<-killAt.C
		}
		kill(cmd)
	}
	{
		cmd := start()
		settled() // the keyring has been read: Register is not refused for it
		c := ipc.NewClient(sock)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		began := time.Now()
		au, err := c.Register(ctx, ipcproto.RegisterRequest{})
		if err != nil {
			t.Fatalf("calibration register: %v", err)
		}
		if _, err := b.Visit(ctx, au.AuthURL, scriptbrowser.VisitOptions{Login: alice}); err != nil {
			t.Fatalf("calibration sign-in: %v", err)
		}
		for st := status(); st.Registration == nil; st = status() {
			if ctx.Err() != nil {
				t.Fatalf("calibration: never registered: %s", st.Message)
			}
			time.Sleep(5 * time.Millisecond) // polling the daemon's state
		}
		window = 2 * time.Since(began)
		t.Logf("a registration took %v; kill points within %v", window/2, window)
		if _, err := c.Leave(ctx); err != nil {
			t.Fatalf("calibration leave: %v", err)
		}
		cancel()
		c.Close()
		kill(cmd)
	}
	registered := 0
	for i := range crashRuns() {
		cmd := start()
		c := ipc.NewClient(sock)
		// The kill ends the run; the deadline is only reached if a call
		// hangs.
		ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		began := time.Now()
		st, err := c.Status(ctx)
		if err == nil && st.Registration == nil {
			// Registration: kill somewhere between the request and the end
			// of the callback's work.
			au, err := c.Register(ctx, ipcproto.RegisterRequest{})
			if err == nil {
				done := make(chan struct{})
				go func() {
					defer close(done)
					_, _ = b.Visit(ctx, au.AuthURL, scriptbrowser.VisitOptions{Login: alice})
				}()
				randomKill(cmd, began, done)
				<-done
			} else {
				kill(cmd)
			}
		} else {
			// Registered: sign in again (session_refreshed → auth_time
			// written to the keyring) and kill at a random point.
			done := make(chan struct{})
			go func() {
				defer close(done)
				_, _ = b.Visit(ctx, sim.TeamDomainURL()+"/cdn-cgi/access/refresh-identity", scriptbrowser.VisitOptions{Login: alice})
			}()
			randomKill(cmd, began, done)
			<-done
		}
		cancel()
		c.Close()
		if st := check(i, "mid-flight"); st.Registration != nil {
			registered++
			// Now and then leave, so that registration is crashed again.
			if i%10 == 9 {
				cmd := start()
				settled()
				c := ipc.NewClient(sock)
				ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
				if _, err := c.Leave(ctx); err != nil {
					t.Fatalf("leave: %v", err)
				}
				cancel()
				c.Close()
				kill(cmd)
			}
		}
	}
	if registered == 0 {
		t.Fatal("no run ever completed a registration: the kill points never reached the end")
	}
}

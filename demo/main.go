// Command demo is `make demo`: a scripted story of client sessions with
// the real binaries, which ends by saying how long it took (building the
// binaries, then the story). It starts edged and agentd,
// then narrates each step with a timestamp and what the user would see:
// enrollment in the browser, the wiki through the local proxy, the session
// expiring (simulated time), the one re-authentication prompt, the login
// with prompt=login, access back; it ends with the story's audit log. The
// browser is headless Chromium when the machine has it, else the scripted
// browser of the tests (an HTTP client with cookies that fills in the IdP's
// form and presses the confirmation).
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/ztagent/ztagent/internal/secret"
	"github.com/ztagent/ztagent/pkg/edge/admin"
	"github.com/ztagent/ztagent/pkg/ipc"
	"github.com/ztagent/ztagent/pkg/ipc/ipcproto"
)

var start = time.Now()

// say narrates one step.
func say(format string, args ...any) {
	fmt.Printf("[%6.2fs] %s\n", time.Since(start).Seconds(), fmt.Sprintf(format, args...))
}

// shows prints what the user sees, indented.
func shows(text string) {
	for _, line := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
		fmt.Printf("           │ %s\n", line)
	}
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		os.Exit(1)
	}
}

func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

type proc struct {
	cmd  *exec.Cmd
	name string
}

func startProc(name, logFile string, ready string, bin string, args ...string) (*proc, error) {
	cmd := exec.Command(bin, args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	logf, err := os.Create(logFile)
	if err != nil {
		return nil, err
	}
	cmd.Stderr = logf
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	found := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		ok := false
		for sc.Scan() {
			fmt.Fprintln(logf, sc.Text())
			if !ok && strings.Contains(sc.Text(), ready) {
				ok = true
				found <- true
			}
		}
		if !ok {
			found <- false
		}
	}()
	select {
	case ok := <-found:
		if !ok {
			return nil, fmt.Errorf("%s exited; see %s", name, logFile)
		}
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		return nil, fmt.Errorf("%s did not start within 30 s; see %s", name, logFile)
	}
	return &proc{cmd: cmd, name: name}, nil
}

func (p *proc) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
	}
}

func run() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir, err := os.MkdirTemp("", "ztagent-demo")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	_ = os.Chmod(dir, 0o755)
	bin := filepath.Join(dir, "bin")
	say("Building edged and agentd.")
	for _, c := range []string{"edged", "agentd"} {
		if out, err := exec.Command("go", "build", "-o", filepath.Join(bin, c), "./cmd/"+c).CombinedOutput(); err != nil {
			return fmt.Errorf("go build %s: %v\n%s", c, err, out)
		}
	}
	// The build's time depends on Go's cache more than on the story:
	// the end reports the two apart.
	built := time.Now()
	var ports [5]string
	for i := range ports {
		if ports[i], err = freePort(); err != nil {
			return err
		}
	}
	api, team, idpAddr, proxy, wiki := ports[0], ports[1], ports[2], ports[3], ports[4]
	sim, err := os.ReadFile("examples/acme/simulator.hcl")
	if err != nil {
		return fmt.Errorf("run make demo from the repository's root: %w", err)
	}
	simFile := filepath.Join(dir, "simulator.hcl")
	if err := os.WriteFile(simFile, []byte(strings.ReplaceAll(string(sim), "127.0.0.1:9080", wiki)), 0o600); err != nil {
		return err
	}
	edgeState := filepath.Join(dir, "edged")
	say("Starting the edge simulator (edged) with examples/acme: Gateway policies from real Cloudflare Terraform.")
	edged, err := startProc("edged", filepath.Join(dir, "edged.log"), "is running", filepath.Join(bin, "edged"), "run",
		"--terraform", "examples/acme", "--sim", simFile, "--state-dir", edgeState, "--serve-demo-upstreams",
		"--api", api, "--team-domain", team, "--idp", idpAddr, "--wireguard", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer edged.stop()
	sock := filepath.Join(dir, "agentd.sock")
	say("Starting the agent (agentd) in proxy mode: no root, a local proxy on %s.", proxy)
	agentd, err := startProc("agentd", filepath.Join(dir, "agentd.log"), "listening on", filepath.Join(bin, "agentd"), "run",
		"--state-dir", filepath.Join(dir, "agent"), "--socket", sock, "--keyring", "file", "--edge-api", "http://"+api,
		"--team", "acme", "--proxy-addr", proxy, "--open-browser", "never")
	if err != nil {
		return err
	}
	defer agentd.stop()

	c := ipc.NewClient(sock)
	defer c.Close()
	events, err := c.Events(ctx)
	if err != nil {
		return err
	}
	defer events.Close()
	browser, err := newUserBrowser()
	if err != nil {
		return err
	}
	defer browser.close()
	say("alice's browser is %s.", browser.name())

	say("alice runs `agentctl register`. The agent prints the team domain's login URL:")
	au, err := c.Register(ctx, ipcproto.RegisterRequest{})
	if err != nil {
		return err
	}
	shows(au.AuthURL)
	say("In the browser: the IdP's login form (Entra ID with prompt=login), then the team domain asks to confirm the registration.")
	forms, page, err := browser.signIn(ctx, au.AuthURL)
	if err != nil {
		return err
	}
	shows(fmt.Sprintf("login forms shown: %d, confirmed; last page: %q", forms, page))
	if err := waitState(ctx, events, ipcproto.StateConnected); err != nil {
		return err
	}
	st, _ := c.Status(ctx)
	say("`agentctl status`: %s as %s; tunnel up, address %s.", st.State, st.Registration.User, strings.Join(st.Tunnel.Addresses, ","))

	get := func(u string) string {
		pu, _ := url.Parse("http://" + proxy)
		hc := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(pu)}, Timeout: 10 * time.Second}
		resp, err := hc.Get(u)
		if err != nil {
			return "connection refused: " + err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		if resp.StatusCode != 200 {
			return fmt.Sprintf("HTTP %d: %s", resp.StatusCode, title(string(b)))
		}
		return strings.TrimSpace(string(b))
	}
	say("`curl -x http://%s http://wiki.acme.internal/` — the wiki policy allows @example.com for 1h30m after the last IdP login:", proxy)
	shows(get("http://wiki.acme.internal/"))
	sess, err := c.Session(ctx)
	if err == nil {
		say("`agentctl session` — each policy's client session:")
		for _, p := range sess.Gateway {
			shows(fmt.Sprintf("%-28s %-4s %-8s expires %s", p.Name, p.Filter, p.Duration, p.ExpiresAt.Format(time.TimeOnly)))
		}
	}

	tok, err := os.ReadFile(filepath.Join(edgeState, "admin.token"))
	if err != nil {
		return err
	}
	adm := &admin.Client{BaseURL: "http://" + api, Token: secret.New(strings.TrimSpace(string(tok)))}
	say("Two hours pass (`edged clock advance 2h`: simulated time, the device clock never decides).")
	if _, err := adm.AdvanceClock(ctx, 2*time.Hour); err != nil {
		return err
	}
	say("alice opens the wiki again: a new connection, so the edge checks her session and blocks it.")
	shows(get("http://wiki.acme.internal/"))
	ev, err := waitEvent(ctx, events, ipcproto.EventBrowseToURL)
	if err != nil {
		return err
	}
	var b ipcproto.BrowseToURL
	_ = json.Unmarshal(ev.Data, &b)
	say("The edge signalled the device; the agent publishes one re-authentication prompt (a tray opens it):")
	shows(b.URL)
	say("Opening the wiki twice more publishes no second prompt: one per expiry.")
	get("http://wiki.acme.internal/")
	get("http://wiki.acme.internal/")
	say("In the browser: refresh-identity. The IdP still has alice's session, but prompt=login makes it ask for the password.")
	forms, page, err = browser.signIn(ctx, b.URL)
	if err != nil {
		return err
	}
	shows(fmt.Sprintf("login forms shown: %d; page: %q", forms, page))
	if _, err := waitEvent(ctx, events, ipcproto.EventSessionRefreshed); err != nil {
		return err
	}
	say("session_refreshed: the session age is back to zero, whatever triggered the login; the wiki answers again:")
	shows(get("http://wiki.acme.internal/"))

	say("The audit log of the story (`GET /admin/v1/audit`):")
	audit, err := adm.Audit(ctx, 0, 1000)
	if err != nil {
		return err
	}
	for _, r := range audit.Records {
		var d map[string]any
		_ = json.Unmarshal(r.Detail, &d)
		keys := []string{}
		for _, k := range []string{"prompt", "session_reused", "result", "reason", "action", "policy_name", "trigger", "advance"} {
			if v, ok := d[k]; ok && v != "" {
				keys = append(keys, fmt.Sprintf("%s=%v", k, v))
			}
		}
		shows(fmt.Sprintf("%3d %s %-26s %-20s %s", r.Seq, r.Time.Format(time.TimeOnly), r.Kind, r.Actor, strings.Join(keys, " ")))
	}
	story := time.Since(built)
	say("Done: the story took %v (the build before it %v, %v in all).", story.Round(100*time.Millisecond),
		built.Sub(start).Round(100*time.Millisecond), time.Since(start).Round(100*time.Millisecond))
	return nil
}

func title(body string) string {
	i := strings.Index(body, "<title>")
	j := strings.Index(body, "</title>")
	if i < 0 || j < i {
		if len(body) > 80 {
			return body[:80]
		}
		return body
	}
	return body[i+7 : j]
}

func waitEvent(ctx context.Context, events *ipc.EventStream, typ string) (ipcproto.Event, error) {
	for {
		if ctx.Err() != nil {
			return ipcproto.Event{}, ctx.Err()
		}
		ev, err := events.Next()
		if err != nil {
			return ipcproto.Event{}, fmt.Errorf("waiting for %s: %w", typ, err)
		}
		if ev.Type == typ {
			return ev, nil
		}
	}
}

func waitState(ctx context.Context, events *ipc.EventStream, want ipcproto.State) error {
	for {
		ev, err := waitEvent(ctx, events, ipcproto.EventStateChanged)
		if err != nil {
			return err
		}
		var sc ipcproto.StateChanged
		if json.Unmarshal(ev.Data, &sc) == nil && sc.To == want {
			return nil
		}
		if sc.To == ipcproto.StateRevoked || sc.To == ipcproto.StateKeyringUnavailable {
			return errors.New("the agent went " + string(sc.To))
		}
	}
}

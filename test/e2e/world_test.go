//go:build linux

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ztagent/ztagent/internal/testenv/freeport"
	"github.com/ztagent/ztagent/internal/testenv/secretservice"
	"github.com/ztagent/ztagent/pkg/ipc/ipcproto"
)

// Bounds for the steps of a scenario. They are generous: CI runs every
// tier at once on two cores, with race-detector binaries.
const (
	startTimeout = 30 * time.Second
	stepTimeout  = 60 * time.Second
	cmdTimeout   = 60 * time.Second
)

// The example's users (examples/acme/simulator.hcl).
const (
	aliceEmail    = "alice@example.com"
	alicePassword = "alice-demo-password"
	bobEmail      = "bob@example.com"
	bobPassword   = "bob-demo-password"
)

// Markers the test's upstreams put in their pages, so that a response is
// known to come from them and not from the Gateway or Access.
const (
	wikiMarker = "acme-wiki-upstream"
	gitMarker  = "acme-git-upstream"
)

// world is one scenario's running system: the private Secret Service,
// edged, agentd, the upstreams behind the tunnel, the xdg-open shim and
// the test's copy of examples/acme.
type world struct {
	t   *testing.T
	bin bins
	bus *secretservice.Bus

	tfDir, simFile string
	edgeState      string
	agentState     string
	socket         string
	proxyAddr      string

	// edgeListen are edged's listeners ("host:port"), fixed after the
	// first start so that a restart serves the same addresses.
	edgeListen struct{ api, teamDomain, idp, wireguard string }
	apiURL     string
	teamURL    string
	idpURL     string

	edge, agent *proc
	// procs are every process started, for the failure report.
	procs  []*proc
	opener *opener
	// reauthProc is the agentctl reauth between reauth and finishReauth.
	reauthProc *proc
	// agentArgs are added to agentd run's arguments.
	agentArgs []string
	// agentWrap, when set, is a command agentd runs under (its program
	// and arguments, agentd's own following).
	agentWrap []string
}

// newWorld starts everything but the browser: a Secret Service, the
// upstreams, edged on free loopback ports and agentd on that bus.
func newWorld(t *testing.T) *world {
	t.Helper()
	return newWorldWith(t, nil)
}

// newWorldWith is newWorld that lets prepare change the world (its copy of
// examples/acme, edged's listeners) before edged starts.
func newWorldWith(t *testing.T, prepare func(w *world)) *world {
	t.Helper()
	requireDeps(t)
	w := &world{t: t, bin: binaries(t)}
	// Registered first, so that it runs last: the report shows the whole
	// output, including shutdown.
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(w.report())
		}
	})
	w.bus = secretservice.Start(t, secretservice.Options{})

	wiki := upstream(t, wikiMarker)
	git := upstream(t, gitMarker)

	dir := t.TempDir()
	w.tfDir = filepath.Join(dir, "acme")
	w.simFile = filepath.Join(w.tfDir, "simulator.hcl")
	w.edgeState = filepath.Join(dir, "edged")
	w.agentState = filepath.Join(dir, "agentd")
	w.socket = filepath.Join(dir, "agentd.sock")
	copyExample(t, w.tfDir, map[string]string{
		`target = "127.0.0.1:9080"`: fmt.Sprintf("target = %q", wiki),
		`target = "127.0.0.1:9081"`: fmt.Sprintf("target = %q", git),
	})
	w.proxyAddr = freeTCPAddr(t)
	w.opener = newOpener(t)

	w.edgeListen.api = "127.0.0.1:0"
	w.edgeListen.teamDomain = "127.0.0.1:0"
	w.edgeListen.idp = "127.0.0.1:0"
	w.edgeListen.wireguard = "127.0.0.1:0"
	if prepare != nil {
		prepare(w)
	}
	w.startEdge()
	w.startAgent()
	return w
}

// report is the tail of every process's output.
func (w *world) report() string {
	var b strings.Builder
	b.WriteString("what the processes said:\n")
	for _, p := range w.procs {
		b.WriteString(p.tail(40))
	}
	return b.String()
}

// fatalf fails the test now, with the processes' log tails (the cleanup
// of newWorld prints them).
func (w *world) fatalf(format string, args ...any) {
	w.t.Helper()
	w.t.Fatalf(format, args...)
}

// upstream serves a page naming marker and the identity Access forwards.
func upstream(t *testing.T, marker string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(rw, "%s host=%s user=%s\n", marker, r.Host, r.Header.Get("Cf-Access-Authenticated-User-Email"))
	}))
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

// copyExample copies examples/acme to dst, applying the replacements to
// simulator.hcl; each must match.
func copyExample(t *testing.T, dst string, replace map[string]string) {
	t.Helper()
	src := filepath.Join("..", "..", "examples", "acme")
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dst, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if e.Name() == "simulator.hcl" {
			for old, repl := range replace {
				if !bytes.Contains(b, []byte(old)) {
					t.Fatalf("examples/acme/simulator.hcl no longer contains %s; update the e2e test", old)
				}
				b = bytes.ReplaceAll(b, []byte(old), []byte(repl))
			}
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// editTerraform replaces old with repl in the test's main.tf.
func (w *world) editTerraform(old, repl string) {
	w.t.Helper()
	p := filepath.Join(w.tfDir, "main.tf")
	b, err := os.ReadFile(p)
	if err != nil {
		w.fatalf("%v", err)
	}
	if !bytes.Contains(b, []byte(old)) {
		w.fatalf("main.tf does not contain %q; update the e2e test", old)
	}
	if err := os.WriteFile(p, bytes.Replace(b, []byte(old), []byte(repl), 1), 0o600); err != nil {
		w.fatalf("%v", err)
	}
}

// freeTCPAddr returns a loopback address nobody listens on right now.
func freeTCPAddr(t *testing.T) string { return freeport.TCP(t).String() }

// startEdge starts edged run and waits for its banner. The first start
// listens on port 0 everywhere and learns the ports from the banner; later
// starts reuse them.
func (w *world) startEdge() {
	w.t.Helper()
	p := startProc(w.t, "edged", osEnv(), w.bin.edged, "run",
		"--terraform", w.tfDir, "--sim", w.simFile, "--state-dir", w.edgeState,
		"--api", w.edgeListen.api, "--team-domain", w.edgeListen.teamDomain,
		"--idp", w.edgeListen.idp, "--wireguard", w.edgeListen.wireguard)
	w.procs = append(w.procs, p)
	w.edge = p
	banner := map[string]string{}
	for _, key := range []string{"control and admin API", "team domain", "IdP", "WireGuard"} {
		line, _, err := p.waitLine(0, startTimeout, func(s string) bool {
			return strings.HasPrefix(strings.TrimSpace(s), key+" ")
		})
		if err != nil {
			w.fatalf("edged did not print its %s in its banner: %v", key, err)
		}
		fields := strings.Fields(strings.TrimPrefix(strings.TrimSpace(line), key))
		if len(fields) == 0 {
			w.fatalf("edged banner line %q has no address", line)
		}
		banner[key] = fields[0]
	}
	p.startup = time.Since(p.launched)
	w.apiURL = banner["control and admin API"]
	w.teamURL = banner["team domain"]
	w.idpURL = banner["IdP"]
	w.edgeListen.api = hostPort(w, w.apiURL)
	w.edgeListen.wireguard = banner["WireGuard"]
	// The browser-facing names (acme.localhost, idp.localhost) listen on
	// loopback at the same port.
	w.edgeListen.teamDomain = "127.0.0.1:" + port(w, w.teamURL)
	w.edgeListen.idp = "127.0.0.1:" + port(w, w.idpURL)
	if !strings.HasPrefix(w.teamURL, "http://acme.localhost:") {
		w.fatalf("team domain is %s, want http://acme.localhost:<port>", w.teamURL)
	}
}

func hostPort(w *world, raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		w.fatalf("edged banner: %q is not a URL", raw)
	}
	return u.Host
}

func port(w *world, raw string) string {
	_, p, err := net.SplitHostPort(hostPort(w, raw))
	if err != nil {
		w.fatalf("edged banner: %q has no port", raw)
	}
	return p
}

// startAgent starts agentd run on the private Secret Service and waits
// until it listens on its socket.
func (w *world) startAgent() {
	w.t.Helper()
	args := []string{"run",
		"--edge-api", w.apiURL, "--team", "acme", "--state-dir", w.agentState,
		"--socket", w.socket, "--proxy-addr", w.proxyAddr, "--keyring", "system",
		"--open-browser", "never"}
	if !slices.Contains(w.agentArgs, "--mdm") {
		// As root agentd reads /var/lib/ztagent/mdm.xml; not this machine's.
		args = append(args, "--mdm", "")
	}
	bin, args := w.bin.agentd, append(args, w.agentArgs...)
	if len(w.agentWrap) > 0 {
		bin, args = w.agentWrap[0], append(append(slices.Clone(w.agentWrap[1:]), w.bin.agentd), args...)
	}
	p := startProc(w.t, "agentd", w.bus.Env, bin, args...)
	w.procs = append(w.procs, p)
	w.agent = p
	line, _, err := p.waitLine(0, startTimeout, func(s string) bool { return strings.Contains(s, "listening on") })
	if err != nil {
		w.fatalf("agentd did not start: %v", err)
	}
	p.startup = time.Since(p.launched)
	if !strings.Contains(line, "keyring system") {
		w.fatalf("agentd does not use the system keyring: %q", line)
	}
}

// stopBoth stops agentd, then edged, with SIGTERM: each must exit with
// status 0 within 5 seconds (REL5). That bound is for a machine doing
// nothing else: the time the process took to start, as measured in this
// run, is added to it, so that a busy machine slows the bound with the
// process and a stop that waits on a timer still fails.
func (w *world) stopBoth() {
	w.t.Helper()
	for _, p := range []*proc{w.agent, w.edge} {
		start := time.Now()
		if grace := stopGrace + p.startup; !p.stop(grace) {
			w.fatalf("%s did not exit within %v of SIGTERM (REL5's %v and the %v it took to start)", p.name, grace, stopGrace, p.startup)
		}
		if p.waitErr != nil {
			w.fatalf("%s exited with %v after SIGTERM, want status 0", p.name, p.waitErr)
		}
		w.t.Logf("%s stopped cleanly in %v", p.name, time.Since(start).Round(time.Millisecond))
	}
}

// ctlEnv is agentctl's environment: the xdg-open shim first on PATH.
func (w *world) ctlEnv() []string {
	return append(osEnv(), "PATH="+w.opener.binDir+string(os.PathListSeparator)+os.Getenv("PATH"))
}

// ctl runs agentctl to completion and returns its standard output.
func (w *world) ctl(args ...string) (string, error) {
	return w.run(w.ctlEnv(), w.bin.agentctl, append([]string{"--socket", w.socket}, args...)...)
}

// mustCtl is ctl that fails the test on an error.
func (w *world) mustCtl(args ...string) string {
	w.t.Helper()
	out, err := w.ctl(args...)
	if err != nil {
		w.fatalf("agentctl %s: %v", strings.Join(args, " "), err)
	}
	return out
}

// ctlBackground starts agentctl and leaves it running.
func (w *world) ctlBackground(name string, args ...string) *proc {
	p := startProc(w.t, name, w.ctlEnv(), w.bin.agentctl, append([]string{"--socket", w.socket}, args...)...)
	w.procs = append(w.procs, p)
	return p
}

// edged runs an edged admin command against the running edge.
func (w *world) edged(args ...string) string {
	w.t.Helper()
	out, err := w.run(osEnv(), w.bin.edged, append(args, "--api", w.apiURL, "--state-dir", w.edgeState)...)
	if err != nil {
		w.fatalf("edged %s: %v", strings.Join(args, " "), err)
	}
	return out
}

// run runs a command with a deadline; the error carries its stderr.
func (w *world) run(env []string, bin string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 2 * time.Second
	err := cmd.Run()
	if err != nil {
		return stdout.String(), fmt.Errorf("%s %s: %v\nstdout: %s\nstderr: %s",
			filepath.Base(bin), strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String(), nil
}

// status is agentctl status --json.
func (w *world) status() ipcproto.Status {
	w.t.Helper()
	out := w.mustCtl("status", "--json")
	var st ipcproto.Status
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		w.fatalf("agentctl status --json: %v\n%s", err, out)
	}
	return st
}

// reply is an answer through the local proxy.
type reply struct {
	code     int
	body     string
	location string
}

func (r reply) String() string {
	return fmt.Sprintf("%d (Location %q) %.400q", r.code, r.location, r.body)
}

// get fetches u through agentd's local HTTP proxy, without following
// redirects and without reusing connections: each request is a new flow
// the edge decides on (S3).
func (w *world) get(u string) reply {
	w.t.Helper()
	r, err := w.tryGet(u)
	if err != nil {
		w.fatalf("%v", err)
	}
	return r
}

// tryGet is get that returns the error instead of failing the test.
func (w *world) tryGet(u string) (reply, error) {
	proxy := &url.URL{Scheme: "http", Host: w.proxyAddr}
	tr := &http.Transport{Proxy: http.ProxyURL(proxy), DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	c := &http.Client{
		Transport:     tr,
		Timeout:       20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := c.Get(u)
	if err != nil {
		return reply{}, fmt.Errorf("GET %s through the local proxy %s: %w", u, w.proxyAddr, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return reply{}, fmt.Errorf("GET %s through the local proxy %s: read the body: %w", u, w.proxyAddr, err)
	}
	return reply{code: resp.StatusCode, body: string(body), location: resp.Header.Get("Location")}, nil
}

// fromWiki reports whether r is the wiki upstream's own page.
func (r reply) fromWiki() bool {
	return r.code == http.StatusOK && strings.Contains(r.body, wikiMarker)
}

// wikiURL and gitURL are the example's hosts behind the tunnel.
const (
	wikiURL = "http://wiki.acme.internal/"
	gitURL  = "http://git.acme.internal/"
)

// secretLookup reads the registration from the Secret Service with
// secret-tool, as anyone could from outside. go-keyring stores items with
// the attributes service and username; agentd uses service "ztagent" and
// the item "registration".
func (w *world) secretLookup() (string, bool) {
	out, err := w.run(w.bus.Env, "secret-tool", "lookup", "service", "ztagent", "username", "registration")
	if err != nil {
		return "", false
	}
	return out, out != ""
}

// secretSearch is secret-tool search --all for agentd's service: the
// attributes of every item it has.
func (w *world) secretSearch() string {
	out, _ := w.run(w.bus.Env, "secret-tool", "search", "--all", "service", "ztagent")
	return out
}

// auditRecord is one record of edged's audit log (GET /admin/v1/audit).
type auditRecord struct {
	Seq    int64  `json:"seq"`
	Kind   string `json:"kind"`
	Actor  string `json:"actor"`
	Detail struct {
		Prompt        string `json:"prompt"`
		SessionReused bool   `json:"session_reused"`
		Result        string `json:"result"`
	} `json:"detail"`
}

// audit returns the audit records of the given kind after seq, and the
// last sequence number seen.
func (w *world) audit(after int64, kind string) ([]auditRecord, int64) {
	w.t.Helper()
	token, err := os.ReadFile(filepath.Join(w.edgeState, "admin.token"))
	if err != nil {
		w.fatalf("read edged's admin token: %v", err)
	}
	req, err := http.NewRequest(http.MethodGet, fmt.Sprintf("%s/admin/v1/audit?after=%d&limit=1000", w.apiURL, after), nil)
	if err != nil {
		w.fatalf("%v", err)
	}
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
	c := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Do(req)
	if err != nil {
		w.fatalf("GET the audit log: %v", err)
	}
	defer resp.Body.Close()
	var page struct {
		Records []auditRecord `json:"records"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil || resp.StatusCode != http.StatusOK {
		w.fatalf("GET the audit log: %s, %v", resp.Status, err)
	}
	var out []auditRecord
	last := after
	for _, r := range page.Records {
		last = max(last, r.Seq)
		if r.Kind == kind {
			out = append(out, r)
		}
	}
	return out, last
}

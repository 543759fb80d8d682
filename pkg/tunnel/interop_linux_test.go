package tunnel

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/ztagent/ztagent/internal/testenv/syncbuf"
	"github.com/ztagent/ztagent/pkg/session"
)

// TestInteropWireGuardGo runs the agent's tunnel (proxy mode) against a
// standard WireGuard peer set up the wg(8) way: Debian's wireguard-go
// configured with `wg set`, its interface moved into a namespace (the UDP
// socket stays here, on loopback), addressed with `ip -n`, and a server in
// the namespace. Traffic goes both ways: the agent reaches the server
// through its SOCKS5 proxy, and the namespace pings the agent's netstack.
func TestInteropWireGuardGo(t *testing.T) {
	needRoot(t, "ip", "wg", "wireguard-go")
	ns := newNetns(t)
	agent, peer := newKeyPair(t), newKeyPair(t)
	iface := uniqueName("ztwg")
	startWireGuardGo(t, iface)

	keyFile := filepath.Join(t.TempDir(), "peer.key")
	if err := os.WriteFile(keyFile, []byte(peer.privB64()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	run(t, "wg", "set", iface, "private-key", keyFile, "peer", agent.pubB64(), "allowed-ips", "10.88.0.2/32")
	run(t, "ip", "link", "set", iface, "netns", ns)
	run(t, "ip", "-n", ns, "addr", "add", "10.88.0.1/24", "dev", iface)
	run(t, "ip", "-n", ns, "link", "set", iface, "mtu", "1420", "up")
	port := waitListenPort(t, iface)

	srv := startInNetns(t, ns, "echo-server", "10.88.0.1:7000")
	srv.expect(t, "ready")

	tun, err := New(context.Background(), Config{
		Tunnel: session.Tunnel{
			Endpoint:      "127.0.0.1:" + strconv.Itoa(port),
			EdgePublicKey: peer.pubB64(),
			Addresses:     []string{"10.88.0.2/32"},
			AllowedIPs:    []string{"10.88.0.0/24"},
			MTU:           1420,
		},
		PrivateKey: agent.wgKey(),
	}, Options{ProxyAddr: "127.0.0.1:0", Logger: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tun.Close() })

	// Agent → namespace, through the SOCKS5 proxy.
	c := socksConnect(t, tun, "10.88.0.1", 7000)
	checkEcho(t, c, "agent to a wg(8) peer")
	checkEcho(t, c, strings.Repeat("z", 200_000))

	// Namespace → agent: an ICMP echo the agent's netstack answers.
	runInNetns(t, ns, "ping", "10.88.0.2")

	// The standard peer saw the handshake and counted traffic both ways.
	out := run(t, "wg", "show", iface, "transfer")
	f := strings.Fields(out)
	if len(f) != 3 || f[0] != agent.pubB64() || f[1] == "0" || f[2] == "0" {
		t.Fatalf("wg show transfer: %q", out)
	}
}

// startWireGuardGo runs wireguard-go in the foreground in this namespace
// and stops it in t.Cleanup (before the namespace, registered earlier, is
// deleted: cleanups run last-in first-out).
func startWireGuardGo(t *testing.T, iface string) {
	t.Helper()
	log := &syncbuf.Buffer{}
	cmd := exec.Command("wireguard-go", "-f", iface)
	cmd.Env = append(os.Environ(), "WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1", "LOG_LEVEL=verbose")
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("wireguard-go log:\n%s", log.String())
		}
	})
	// wg talks to wireguard-go through its UAPI socket; wait for it.
	sock := "/var/run/wireguard/" + iface + ".sock"
	waitFor(t, "wireguard-go's UAPI socket "+sock, func() bool {
		select {
		case err := <-done:
			t.Fatalf("wireguard-go exited: %v\n%s", err, log.String())
		default:
		}
		_, err := os.Stat(sock)
		return err == nil
	})
}

// waitListenPort returns wireguard-go's UDP port, which it opens once the
// interface is up.
func waitListenPort(t *testing.T, iface string) int {
	t.Helper()
	var port int
	waitFor(t, "wireguard-go's listen port", func() bool {
		out, err := exec.Command("wg", "show", iface, "listen-port").Output()
		if err != nil {
			return false
		}
		port, _ = strconv.Atoi(strings.TrimSpace(string(out)))
		return port != 0
	})
	return port
}

// waitFor polls cond, which watches another process, until it holds or
// ioTimeout passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(ioTimeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

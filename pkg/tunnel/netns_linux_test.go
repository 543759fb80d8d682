package tunnel

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"

	"github.com/ztagent/ztagent/internal/testenv/realdeps"
	"github.com/ztagent/ztagent/internal/testenv/syncbuf"
)

// Tests with real network namespaces, TUN devices and wireguard-go run as
// root only. Programs inside a namespace are this test binary again, started
// with `ip netns exec NS` and told what to do through the environment.

// needRoot skips unless the test runs as root with the named tools and
// a TUN device; under make test each missing one fails the test.
func needRoot(t *testing.T, tools ...string) {
	t.Helper()
	realdeps.Root(t, "it creates network namespaces and TUN interfaces")
	for _, tool := range tools {
		realdeps.Tool(t, tool, "run make deps")
	}
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		realdeps.Missing(t, "/dev/net/tun", "load the tun module or run in a container with /dev/net/tun")
	}
}

var nsCounter atomic.Int32

// uniqueName returns a name no other test run on this host uses at once,
// at most 15 bytes so that it also fits an interface.
func uniqueName(prefix string) string {
	return fmt.Sprintf("%s%d%c", prefix, os.Getpid()%100000, 'a'+nsCounter.Add(1)%26)
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// newNetns creates a network namespace with its loopback up and deletes it
// in t.Cleanup.
func newNetns(t *testing.T) string {
	t.Helper()
	ns := uniqueName("ztt")
	run(t, "ip", "netns", "add", ns)
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v\n%s", ns, err, out)
		}
	})
	run(t, "ip", "-n", ns, "link", "set", "lo", "up")
	return ns
}

// nsProc is a helper running inside a namespace.
type nsProc struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string
	log   *syncbuf.Buffer
	done  chan error
}

const helperEnv = "ZTAGENT_TUNNEL_NETNS_HELPER"

// startInNetns starts this binary inside ns as helper args[0] (see
// runNetnsHelper); t.Cleanup stops it.
func startInNetns(t *testing.T, ns string, args ...string) *nsProc {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	enc, _ := json.Marshal(args)
	p := &nsProc{cmd: exec.Command("ip", "netns", "exec", ns, self), lines: make(chan string, 16), log: &syncbuf.Buffer{}, done: make(chan error, 1)}
	p.cmd.Env = append(os.Environ(), helperEnv+"="+string(enc))
	p.cmd.Stderr = p.log
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
		p.done <- p.cmd.Wait()
	}()
	t.Cleanup(func() {
		p.stdin.Close() // the helpers exit when their input closes
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// expect waits for the helper to print want, failing on anything else.
func (p *nsProc) expect(t *testing.T, want string) {
	t.Helper()
	select {
	case line, ok := <-p.lines:
		if !ok || line != want {
			t.Fatalf("helper %v printed %q (open=%v), want %q; stderr:\n%s", p.cmd.Args, line, ok, want, p.log.String())
		}
	case <-time.After(ioTimeout):
		t.Fatalf("helper %v did not print %q; stderr:\n%s", p.cmd.Args, want, p.log.String())
	}
}

// runInNetns runs a helper to completion and fails the test unless it
// prints "ok".
func runInNetns(t *testing.T, ns string, args ...string) {
	t.Helper()
	p := startInNetns(t, ns, args...)
	p.expect(t, "ok")
}

// runNetnsHelper is called by TestMain: when this process is a helper it
// does its job and exits instead of running the tests.
//
//	echo-server ADDR   listen on ADDR, print "ready", echo every connection until stdin closes
//	echo-client ADDR   connect to ADDR, check an echo, print "ok"
//	ping IP            send ICMP echo requests to IP until one is answered, print "ok"
func runNetnsHelper() bool {
	enc := os.Getenv(helperEnv)
	if enc == "" {
		return false
	}
	var args []string
	if err := json.Unmarshal([]byte(enc), &args); err != nil || len(args) != 2 {
		fmt.Fprintf(os.Stderr, "bad helper arguments %q\n", enc)
		os.Exit(2)
	}
	var err error
	switch args[0] {
	case "echo-server":
		err = helperEchoServer(args[1])
	case "echo-client":
		err = helperEchoClient(args[1])
	case "ping":
		err = helperPing(args[1])
	default:
		err = fmt.Errorf("unknown helper %q", args[0])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(0)
	return true
}

func helperEchoServer(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	go func() {
		io.Copy(io.Discard, os.Stdin)
		ln.Close()
	}()
	fmt.Println("ready")
	for {
		c, err := ln.Accept()
		if err != nil {
			return nil
		}
		go func() {
			defer c.Close()
			io.Copy(c, c)
		}()
	}
}

func helperEchoClient(addr string) error {
	c, err := net.DialTimeout("tcp", addr, ioTimeout)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(ioTimeout))
	msg := "from inside the namespace to " + addr
	if _, err := io.WriteString(c, msg); err != nil {
		return err
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		return fmt.Errorf("read echo: %w", err)
	}
	if string(got) != msg {
		return fmt.Errorf("echo %q, want %q", got, msg)
	}
	fmt.Println("ok")
	return nil
}

func helperPing(ip string) error {
	dst := &net.IPAddr{IP: net.ParseIP(ip)}
	c, err := icmp.ListenPacket("ip4:icmp", "0.0.0.0")
	if err != nil {
		return err
	}
	defer c.Close()
	id := os.Getpid() & 0xffff
	deadline := time.Now().Add(ioTimeout)
	buf := make([]byte, 1500)
	for seq := 1; time.Now().Before(deadline); seq++ {
		req, _ := (&icmp.Message{Type: ipv4.ICMPTypeEcho, Body: &icmp.Echo{ID: id, Seq: seq, Data: []byte("ztagent")}}).Marshal(nil)
		if _, err := c.WriteTo(req, dst); err != nil {
			return err
		}
		// Resend each second until answered: the first request may
		// race the peer's handshake.
		c.SetReadDeadline(time.Now().Add(time.Second))
		for {
			n, from, err := c.ReadFrom(buf)
			if err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					break
				}
				return err
			}
			m, err := icmp.ParseMessage(1, buf[:n])
			if err == nil && m.Type == ipv4.ICMPTypeEchoReply && from.String() == ip {
				fmt.Println("ok")
				return nil
			}
		}
	}
	return fmt.Errorf("no ICMP echo reply from %s", ip)
}

package integration

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ztagent/ztagent/internal/secret"
	"github.com/ztagent/ztagent/internal/testenv/proc"
	"github.com/ztagent/ztagent/internal/wgkey"
	"github.com/ztagent/ztagent/pkg/session"
	"github.com/ztagent/ztagent/pkg/tunnel"
)

// agentChildEnv makes the test binary an agent process (see TestMain):
// the benchmarks measure the agent's memory apart from the edge's.
const agentChildEnv = "ZTAGENT_TEST_AGENT_CHILD"

// agentChildConfig is what the parent sends the agent process on its
// standard input, as one JSON line.
type agentChildConfig struct {
	Tunnel     session.Tunnel
	PrivateKey string // base64; a throwaway test key
	// MemoryLimit is tunnel.Options.MemoryLimit.
	MemoryLimit int64
}

// runAgentChild is the agent process: it brings up a proxy-mode tunnel
// from the config on stdin, prints "proxy ADDR", and closes the tunnel and
// exits when stdin reaches EOF. It returns the exit code.
func runAgentChild() int {
	in := bufio.NewReader(os.Stdin)
	line, err := in.ReadBytes('\n')
	if err != nil {
		fmt.Printf("error: read the config: %v\n", err)
		return 1
	}
	var cfg agentChildConfig
	if err := json.Unmarshal(line, &cfg); err != nil {
		fmt.Printf("error: decode the config: %v\n", err)
		return 1
	}
	key, err := wgkey.ParsePrivate(secret.New(cfg.PrivateKey))
	if err != nil {
		fmt.Printf("error: %v\n", err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
	defer cancel()
	tun, err := tunnel.New(ctx, tunnel.Config{Tunnel: cfg.Tunnel, PrivateKey: key},
		tunnel.Options{Mode: tunnel.ModeProxy, ProxyAddr: "127.0.0.1:0", MemoryLimit: cfg.MemoryLimit})
	if err != nil {
		fmt.Printf("error: %v\n", err)
		return 1
	}
	fmt.Printf("proxy %s\n", tun.ProxyAddr())
	io.Copy(io.Discard, in)
	if err := tun.Close(); err != nil {
		return 1
	}
	return 0
}

// agentProcess is a running agent child.
type agentProcess struct {
	*proc.Proc
	proxy string
}

// startAgentProcess re-executes the test binary as an agent process with
// cfg; it is stopped when tb ends.
func startAgentProcess(tb testing.TB, cfg agentChildConfig) *agentProcess {
	tb.Helper()
	p := &agentProcess{Proc: proc.Start(tb, proc.Options{Name: "agent process", Bin: os.Args[0],
		Args: []string{"-test.run=^$", "-test.bench=^$"}, Env: append(os.Environ(), agentChildEnv+"=1"), OpenStdin: true})}
	// Registered after Start's cleanup, so it runs first: the agent closes
	// its tunnel before anything is killed.
	tb.Cleanup(p.stop)
	b, _ := json.Marshal(cfg)
	if _, err := p.Stdin().Write(append(b, '\n')); err != nil {
		tb.Fatal(err)
	}
	l, _, err := p.WaitLine(proc.Stdout, 0, ioTimeout, func(string) bool { return true })
	if err != nil {
		tb.Fatalf("agent process: no proxy address: %v", err)
	}
	addr, ok := strings.CutPrefix(l, "proxy ")
	if !ok {
		tb.Fatalf("agent process: %s", l)
	}
	p.proxy = addr
	return p
}

// stop closes the agent's stdin, which makes it close its tunnel and exit,
// and kills it if it does not within 5 seconds.
func (p *agentProcess) stop() {
	p.Stdin().Close()
	if p.Wait(5*time.Second) != nil && !p.Exited() {
		p.Kill()
	}
}

// peakRSSMB returns the agent process's peak resident set (VmHWM) in MB
// (10^6 bytes), or -1 when /proc cannot tell.
func (p *agentProcess) peakRSSMB() float64 {
	return vmHWM(strconv.Itoa(p.Pid()))
}

// vmHWM returns the VmHWM of /proc/<pid>/status in MB, or -1.
func vmHWM(pid string) float64 {
	f, err := os.Open("/proc/" + pid + "/status")
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 64)
			if err == nil {
				return kb * 1024 / 1e6
			}
		}
	}
	return -1
}

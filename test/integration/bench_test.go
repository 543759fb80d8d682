package integration

import (
	"bufio"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ztagent/ztagent/internal/testenv/loopback"
)

// socksConnectRaw performs a SOCKS5 CONNECT by hand, so that the caller
// keeps the *net.TCPConn (and its CloseWrite).
func socksConnectRaw(b testing.TB, proxyAddr string, ip [4]byte, port uint16) *net.TCPConn {
	c, err := net.DialTimeout("tcp", proxyAddr, ioTimeout)
	if err != nil {
		b.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(ioTimeout))
	req := []byte{5, 1, 0, 5, 1, 0, 1, ip[0], ip[1], ip[2], ip[3], byte(port >> 8), byte(port)}
	if _, err := c.Write(req); err != nil {
		b.Fatal(err)
	}
	reply := make([]byte, 2+10) // method choice, then a reply with an IPv4 bound address
	if _, err := io.ReadFull(c, reply); err != nil || reply[1] != 0 || reply[3] != 0 {
		b.Fatalf("SOCKS5 CONNECT: reply %v, %v", reply, err)
	}
	c.SetDeadline(time.Time{})
	return c.(*net.TCPConn)
}

// peakRSSMiB returns the process's peak resident set (VmHWM) in MiB, or -1.
func peakRSSMiB() float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 64)
			if err == nil {
				return kb / 1024
			}
		}
	}
	return -1
}

// BenchmarkChainThroughput measures one TCP stream through SOCKS5 → agent
// tunnel → edge → loopback upstream, beside raw loopback TCP in the same
// run. The stock wireguard-go netstack pair reference is
// BenchmarkEdgeTCPThroughput/reference in pkg/edge/wg; run both in one
// command (make bench) for ratios. The peak-RSS metric is the whole test
// process (agent and edge together), an upper bound for the agent side.
func BenchmarkChainThroughput(b *testing.B) {
	b.Run("raw-loopback-tcp", func(b *testing.B) {
		c, err := net.Dial("tcp", loopback.Sink(b))
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		loopback.Push(b, c)
	})
	b.Run("socks5-agent-edge-upstream", func(b *testing.B) {
		e := startEnv(b)
		c := socksConnectRaw(b, e.tun.ProxyAddr(), [4]byte{10, 0, 0, 30}, 9)
		defer c.Close()
		loopback.Push(b, c)
		b.ReportMetric(peakRSSMiB(), "peak-RSS-MiB")
	})
}

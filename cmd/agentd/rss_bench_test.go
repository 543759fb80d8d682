package main

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ztagent/ztagent/pkg/ipc"
)

// BenchmarkAgentdIdleRSS starts the agentd binary, asks it for its status
// and reports its resident memory (DESIGN §12: idle RSS ≤ 15 MB). It is
// unregistered: the tunnel's own memory is measured by
// test/integration's agent-peak-RSS-MB.
func BenchmarkAgentdIdleRSS(b *testing.B) {
	bin := filepath.Join(b.TempDir(), "agentd")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	for range b.N {
		dir, err := os.MkdirTemp("", "agentd")
		if err != nil {
			b.Fatal(err)
		}
		os.Chmod(dir, 0o755)
		sock := filepath.Join(dir, "agentd.sock")
		cmd := exec.Command(bin, "run", "--state-dir", filepath.Join(dir, "state"), "--socket", sock, "--keyring", "file",
			"--edge-api", "http://127.0.0.1:1", "--proxy-addr", "127.0.0.1:0", "--open-browser", "never")
		stdout, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		sc := bufio.NewScanner(stdout)
		for sc.Scan() && !strings.Contains(sc.Text(), "listening on") {
		}
		c := ipc.NewClient(sock)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if _, err := c.Status(ctx); err != nil {
			b.Fatal(err)
		}
		cancel()
		c.Close()
		st, err := os.ReadFile("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/status")
		if err == nil {
			for _, line := range strings.Split(string(st), "\n") {
				if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
					kb, _ := strconv.ParseFloat(f[1], 64)
					b.ReportMetric(kb/1024, "RSS-MB")
				}
			}
		}
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		os.RemoveAll(dir)
	}
}

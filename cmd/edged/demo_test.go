package main

import (
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/ztagent/ztagent/internal/testenv/freeport"
)

func freeAddr(t *testing.T) string { return freeport.TCP(t).String() }

// The demo upstreams answer on the example's free loopback targets and
// leave busy ones alone.
func TestDemoUpstreams(t *testing.T) {
	b, err := os.ReadFile("../../examples/acme/simulator.hcl")
	if err != nil {
		t.Fatal(err)
	}
	wiki := freeAddr(t)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	s := strings.ReplaceAll(string(b), "127.0.0.1:9080", wiki)
	s = strings.ReplaceAll(s, "127.0.0.1:9081", busy.Addr().String())
	sim := filepath.Join(t.TempDir(), "sim.hcl")
	if err := os.WriteFile(sim, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	d, err := startDemoUpstreams(sim, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if len(d.servers) != 1 {
		t.Fatalf("%d demo upstreams started; want only the free one", len(d.servers))
	}
	resp, err := http.Get("http://" + wiki + "/page")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "wiki.acme.internal") || !strings.Contains(string(body), "GET /page") {
		t.Fatalf("demo page: %q", body)
	}
}

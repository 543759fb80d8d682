package tunnel

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestReconfigureEndpoint(t *testing.T) {
	agent, edgeKey := newKeyPair(t), newKeyPair(t)
	// Two edges sharing one key, as anycast edge servers do.
	a := startEdge(t, "edge-a", edgeKey, agent)
	b := startEdge(t, "edge-b", edgeKey, agent)
	tun := startTunnel(t, a, agent, Options{})
	if got := whoami(t, tun); got != "edge-a" {
		t.Fatalf("before: whoami = %q", got)
	}
	if err := tun.Reconfigure(context.Background(), b.config(agent)); err != nil {
		t.Fatal(err)
	}
	a.close() // nothing may reach the old edge any more
	if got := whoami(t, tun); got != "edge-b" {
		t.Fatalf("after: whoami = %q", got)
	}
	st, err := tun.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Endpoint != b.endpoint() {
		t.Fatalf("stats endpoint %s, want %s", st.Endpoint, b.endpoint())
	}
}

func TestReconfigureRotatesDeviceKey(t *testing.T) {
	oldKey, newKey, edgeKey := newKeyPair(t), newKeyPair(t), newKeyPair(t)
	e := startEdge(t, "edge-a", edgeKey, oldKey)
	tun := startTunnel(t, e, oldKey, Options{})
	if got := whoami(t, tun); got != "edge-a" {
		t.Fatalf("before: whoami = %q", got)
	}
	// The edge learns the new key and forgets the old one (and so the
	// session made with it); only a handshake with the new key gets through.
	e.setAgents(t, newKey)
	if err := tun.Reconfigure(context.Background(), e.config(newKey)); err != nil {
		t.Fatal(err)
	}
	if got := whoami(t, tun); got != "edge-a" {
		t.Fatalf("after: whoami = %q", got)
	}
}

func TestReconfigureRotatesEdgeKey(t *testing.T) {
	agent, oldKey, newKey := newKeyPair(t), newKeyPair(t), newKeyPair(t)
	e := startEdge(t, "edge-a", oldKey, agent)
	tun := startTunnel(t, e, agent, Options{})
	if got := whoami(t, tun); got != "edge-a" {
		t.Fatalf("before: whoami = %q", got)
	}
	e.rotateKey(t, newKey)
	// A responder drops a second initiation from one peer within 20 ms
	// (flood and replay protection: TAI64N stamps are coarse), and the
	// first handshake was only milliseconds ago; the edge starts its peer
	// afresh so the test does not wait out the 5 s retry. A real rotation
	// comes long after the last handshake.
	e.setAgents(t, agent)
	if err := tun.Reconfigure(context.Background(), e.config(agent)); err != nil {
		t.Fatal(err)
	}
	if got := whoami(t, tun); got != "edge-a" {
		t.Fatalf("after: whoami = %q", got)
	}
	st, err := tun.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.EdgePublicKey != newKey.pubB64() {
		t.Fatalf("stats edge key %s, want %s", st.EdgePublicKey, newKey.pubB64())
	}
}

// TestReconfigureAllowedIPs widens the allowed IPs under an open flow: the
// flow keeps going and the new prefix becomes reachable.
func TestReconfigureAllowedIPs(t *testing.T) {
	agent, edgeKey := newKeyPair(t), newKeyPair(t)
	e := startEdge(t, "edge-a", edgeKey, agent)
	cfg := e.config(agent)
	cfg.Tunnel.AllowedIPs = []string{"10.99.0.0/24"}
	tun, err := New(context.Background(), cfg, Options{ProxyAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tun.Close() })
	open := socksConnect(t, tun, edgeV4.String(), portEcho)
	checkEcho(t, open, "before")
	c := dialProxy(t, tun)
	if code, _ := socksHandshake(t, c, socksRequest(socksCmdConnect, edgeV6.String(), portEcho)); code != socksNetUnreachable {
		t.Fatalf("IPv6 before it is allowed: reply %d", code)
	}
	if err := tun.Reconfigure(context.Background(), e.config(agent)); err != nil {
		t.Fatal(err)
	}
	checkEcho(t, open, "after")
	checkEcho(t, socksConnect(t, tun, edgeV6.String(), portEcho), "now allowed")
}

func TestReconfigureRefusesWhatNeedsARestart(t *testing.T) {
	agent, edgeKey := newKeyPair(t), newKeyPair(t)
	e := startEdge(t, "edge-a", edgeKey, agent)
	tun := startTunnel(t, e, agent, Options{})
	for _, tc := range []struct {
		what   string
		change func(c *Config)
	}{
		{"addresses", func(c *Config) { c.Tunnel.Addresses = []string{"10.99.0.3/32"} }},
		{"DNS servers", func(c *Config) { c.Tunnel.DNS = []string{"10.99.0.53"} }},
		{"MTU", func(c *Config) { c.Tunnel.MTU = 1280 }},
	} {
		cfg := e.config(agent)
		tc.change(&cfg)
		err := tun.Reconfigure(context.Background(), cfg)
		if err == nil || !strings.Contains(err.Error(), tc.what) || !strings.Contains(err.Error(), "start a new one") {
			t.Errorf("changing %s: %v", tc.what, err)
		}
	}
	// A bad config changes nothing either.
	cfg := e.config(agent)
	cfg.Tunnel.Endpoint = "no-port"
	if err := tun.Reconfigure(context.Background(), cfg); err == nil {
		t.Error("a bad endpoint was accepted")
	}
	if got := whoami(t, tun); got != "edge-a" {
		t.Fatalf("after refused changes: whoami = %q", got)
	}
}

func TestMethodsAfterClose(t *testing.T) {
	agent, edgeKey := newKeyPair(t), newKeyPair(t)
	e := startEdge(t, "edge-a", edgeKey, agent)
	tun := startTunnel(t, e, agent, Options{})
	if err := tun.Close(); err != nil {
		t.Fatal(err)
	}
	if err := tun.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := tun.Reconfigure(context.Background(), e.config(agent)); !errors.Is(err, ErrClosed) {
		t.Errorf("Reconfigure after Close: %v", err)
	}
	if _, err := tun.Stats(); !errors.Is(err, ErrClosed) {
		t.Errorf("Stats after Close: %v", err)
	}
	if _, err := tun.DialContext(context.Background(), "tcp", "10.99.0.1:7"); !errors.Is(err, ErrClosed) {
		t.Errorf("DialContext after Close: %v", err)
	}
}

package tunnel

import (
	"context"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/ztagent/ztagent/internal/secret"
	"github.com/ztagent/ztagent/internal/wgkey"
	"github.com/ztagent/ztagent/pkg/session"
)

func goodTunnelBlock() session.Tunnel {
	return session.Tunnel{
		Endpoint:      "127.0.0.1:2408",
		EdgePublicKey: "bmXOC+F1FxEMF9dyiK2H5/1SUtzH0JuVo51h2wPfgyo=",
		Addresses:     []string{"100.96.0.2/32", "fd00::2"},
		DNS:           []string{"100.96.0.1"},
		AllowedIPs:    []string{"0.0.0.0/0", "::/0"},
	}
}

func TestParseConfig(t *testing.T) {
	k := newKeyPair(t)
	s, err := parseConfig(context.Background(), Config{Tunnel: goodTunnelBlock(), PrivateKey: k.wgKey()})
	if err != nil {
		t.Fatal(err)
	}
	if s.mtu != DefaultMTU || s.endpoint != netip.MustParseAddrPort("127.0.0.1:2408") || s.addresses[1] != netip.MustParsePrefix("fd00::2/128") || s.priv.UAPIHex() != k.privHex() || s.edgePub.String() != goodTunnelBlock().EdgePublicKey {
		t.Fatalf("parsed %+v", s)
	}
	if c := ConfigFromRegistration(&session.Registration{Tunnel: goodTunnelBlock(), WireGuardPrivateKey: secret.New(k.privB64())}); c.keyErr != nil || !c.PrivateKey.Equal(k.wgKey()) {
		t.Fatalf("ConfigFromRegistration: key %v, %v; want the record's key", c.PrivateKey, c.keyErr)
	}
	if !secret.Contains("x" + k.privHex()) {
		t.Fatal("the private key's hex form is not registered with the scrubber")
	}
	if s, err := parseConfig(context.Background(), Config{Tunnel: session.Tunnel{Endpoint: "localhost:2408", EdgePublicKey: k.pubB64(), Addresses: []string{"10.0.0.2"}, AllowedIPs: []string{"10.0.0.0/8"}}, PrivateKey: k.wgKey()}); err != nil || !s.endpoint.Addr().IsLoopback() {
		t.Fatalf("endpoint by name: %v, %v", s.endpoint, err)
	}

	for _, tc := range []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"no private key", func(c *Config) { c.PrivateKey = wgkey.Private{} }, "no WireGuard private key"},
		{"no private key in the record", func(c *Config) {
			*c = ConfigFromRegistration(&session.Registration{Tunnel: c.Tunnel})
		}, "no WireGuard private key"},
		{"bad private key", func(c *Config) {
			*c = ConfigFromRegistration(&session.Registration{Tunnel: c.Tunnel, WireGuardPrivateKey: secret.New("not-a-key-at-all")})
		}, "not a 32-byte base64 key"},
		{"bad edge key", func(c *Config) { c.Tunnel.EdgePublicKey = "AAAA" }, "edge_public_key"},
		{"endpoint without port", func(c *Config) { c.Tunnel.Endpoint = "127.0.0.1" }, "not host:port"},
		{"endpoint port 0", func(c *Config) { c.Tunnel.Endpoint = "127.0.0.1:0" }, "no valid UDP port"},
		{"no addresses", func(c *Config) { c.Tunnel.Addresses = nil }, "no addresses"},
		{"bad address", func(c *Config) { c.Tunnel.Addresses = []string{"10.0.0.300"} }, "tunnel address"},
		{"bad DNS", func(c *Config) { c.Tunnel.DNS = []string{"dns.example"} }, "not an IP address"},
		{"no allowed IPs", func(c *Config) { c.Tunnel.AllowedIPs = nil }, "no allowed_ips"},
		{"bad allowed IP", func(c *Config) { c.Tunnel.AllowedIPs = []string{"10.0.0.1"} }, "not a CIDR prefix"},
		{"MTU too small", func(c *Config) { c.Tunnel.MTU = 500 }, "outside 576"},
		{"MTU below IPv6 minimum", func(c *Config) { c.Tunnel.MTU = 1000 }, "IPv6's minimum"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{Tunnel: goodTunnelBlock(), PrivateKey: k.wgKey()}
			tc.change(&cfg)
			_, err := parseConfig(context.Background(), cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one with %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "not-a-key-at-all") {
				t.Fatal("the error shows the private key")
			}
		})
	}
}

func TestParseMode(t *testing.T) {
	for in, want := range map[string]Mode{"": ModeProxy, "proxy": ModeProxy, "tun": ModeTUN} {
		if got, err := ParseMode(in); err != nil || got != want {
			t.Errorf("ParseMode(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := ParseMode("tap"); err == nil || !strings.Contains(err.Error(), `"proxy" or "tun"`) {
		t.Errorf("ParseMode(tap): %v", err)
	}
}

func TestUAPIText(t *testing.T) {
	k, edge := newKeyPair(t), newKeyPair(t)
	tb := goodTunnelBlock()
	tb.EdgePublicKey = edge.pubB64()
	s, err := parseConfig(context.Background(), Config{Tunnel: tb, PrivateKey: k.wgKey()})
	if err != nil {
		t.Fatal(err)
	}
	want := "private_key=" + k.privHex() + "\nlisten_port=51820\nreplace_peers=true\npublic_key=" + edge.pubHex() +
		"\nendpoint=127.0.0.1:2408\npersistent_keepalive_interval=25\nreplace_allowed_ips=true\nallowed_ip=0.0.0.0/0\nallowed_ip=::/0\n"
	if got := uapiFull(s, 51820, 25); got != want {
		t.Fatalf("uapiFull:\n%s\nwant:\n%s", got, want)
	}
	if got := uapiChange(s, s, 25); got != "" {
		t.Fatalf("no change gave %q", got)
	}
	moved := s
	moved.endpoint = netip.MustParseAddrPort("[::1]:2409")
	if got := uapiChange(s, moved, 25); !strings.HasPrefix(got, "replace_peers=true\npublic_key=") || !strings.Contains(got, "endpoint=[::1]:2409\n") || strings.Contains(got, "private_key") {
		t.Fatalf("endpoint change:\n%s", got)
	}
	narrowed := s
	narrowed.allowed = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	if got := uapiChange(s, narrowed, 25); got != "public_key="+edge.pubHex()+"\nupdate_only=true\nreplace_allowed_ips=true\nallowed_ip=10.0.0.0/8\n" {
		t.Fatalf("allowed IPs change:\n%s", got)
	}
	rekeyed := s
	rekeyed.priv = newKeyPair(t).wgKey()
	if got := uapiChange(s, rekeyed, 25); got != "private_key="+rekeyed.priv.UAPIHex()+"\n" {
		t.Fatalf("key change:\n%s", got)
	}
	if got := (Options{PersistentKeepalive: -1}).keepaliveSeconds(); got != 0 {
		t.Fatalf("keepalive off = %d", got)
	}
	if got := (Options{PersistentKeepalive: 1500 * time.Millisecond}).keepaliveSeconds(); got != 2 {
		t.Fatalf("keepalive 1.5s = %d", got)
	}
}

// TestPrivateKeyNeverLogged runs a tunnel's whole life at debug level, with
// wireguard-go's verbose log, and looks for either form of either private
// key in every entry and field (SEC5).
func TestPrivateKeyNeverLogged(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	agent, rotated, edgeKey := newKeyPair(t), newKeyPair(t), newKeyPair(t)
	e := startEdge(t, "edge-a", edgeKey, agent)
	tun := startTunnel(t, e, agent, Options{Logger: zap.New(core)})
	whoami(t, tun)
	e.setAgents(t, rotated)
	if err := tun.Reconfigure(context.Background(), e.config(rotated)); err != nil {
		t.Fatal(err)
	}
	whoami(t, tun)
	if _, err := tun.Stats(); err != nil {
		t.Fatal(err)
	}
	tun.Close()
	if logs.Len() == 0 {
		t.Fatal("nothing was logged")
	}
	for _, entry := range logs.All() {
		b, _ := json.Marshal(entry.ContextMap())
		line := entry.Message + " " + string(b)
		for _, k := range []keyPair{agent, rotated} {
			if strings.Contains(line, k.privB64()) || strings.Contains(strings.ToLower(line), k.privHex()) {
				t.Fatalf("a private key was logged: %s", line)
			}
		}
	}
}

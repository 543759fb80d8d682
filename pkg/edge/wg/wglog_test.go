package wg

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/ztagent/ztagent/internal/secret"
	"github.com/ztagent/ztagent/internal/wgkey"
)

// wireguard-go formats its lines itself; a secret among the arguments must
// not come out, even through a logger that has no guard of its own.
func TestDeviceLoggerScrubsSecrets(t *testing.T) {
	const canary = "CANARY-5e0c2a71-edge-wireguard"
	secret.New(canary)
	core, logs := observer.New(zapcore.DebugLevel)
	l := deviceLogger(zap.New(core))
	l.Verbosef("peer %s - handshake", canary)
	l.Errorf("send failed: %v", errors.New("token="+canary))

	entries := logs.All()
	if len(entries) != 2 {
		t.Fatalf("logged %d entries; want 2", len(entries))
	}
	for i, want := range []zapcore.Level{zapcore.DebugLevel, zapcore.WarnLevel} {
		e := entries[i]
		if strings.Contains(e.Message, canary) || !strings.Contains(e.Message, secret.Redacted) {
			t.Errorf("entry %d: %q; want the canary redacted", i, e.Message)
		}
		if e.Level != want || e.LoggerName != "wireguard" {
			t.Errorf("entry %d at %v from %q; want %v from \"wireguard\"", i, e.Level, e.LoggerName, want)
		}
	}
}

// The edge's device really logs through deviceLogger: a handshake's lines
// name the peer the way wireguard-go abbreviates keys, and with that name
// planted as a secret the lines come out redacted.
func TestEdgeDeviceLinesAreScrubbed(t *testing.T) {
	checkLeaks(t)
	srv := startServers(t)
	core, logs := observer.New(zapcore.DebugLevel)
	edge := newEdge(t, Config{Network: srv.network(), Logger: zap.New(core)})
	// The client's key is known before the edge hears of it, so every
	// line that names its peer is formatted after the planting.
	priv, err := wgkey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	pub := priv.Public()
	b64 := base64.StdEncoding.EncodeToString(pub[:])
	planted := fmt.Sprintf("peer(%s…%s)", b64[0:4], b64[39:43])
	secret.New(planted)
	c := newClientWithKey(t, edge, priv, []netip.Addr{clientAddr}, "dev-1")

	conn, err := c.dialTCP(t.Context(), echoAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	echo(t, conn, "handshake done")

	redacted := 0
	for _, e := range logs.All() {
		if strings.Contains(e.Message, planted) {
			t.Fatalf("wireguard-go line carries the planted secret: %q", e.Message)
		}
		if e.LoggerName == "wireguard" && strings.Contains(e.Message, secret.Redacted) {
			redacted++
		}
	}
	if redacted == 0 {
		t.Fatalf("no wireguard line was redacted; the handshake's lines name the peer:\n%v", messages(logs))
	}
}

func messages(logs *observer.ObservedLogs) string {
	var b strings.Builder
	for _, e := range logs.All() {
		fmt.Fprintf(&b, "%s: %s\n", e.LoggerName, e.Message)
	}
	return b.String()
}

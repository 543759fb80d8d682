package tunnel

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/ztagent/ztagent/internal/clock"
)

// Mode selects where the tunnel's packets meet the host.
type Mode string

const (
	// ModeProxy ends the tunnel in a userspace netstack behind a local
	// SOCKS5/HTTP proxy; it needs no privileges.
	ModeProxy Mode = "proxy"
	// ModeTUN ends the tunnel in a kernel TUN interface with routes for the
	// allowed IPs; it needs Linux and root.
	ModeTUN Mode = "tun"
)

// ParseMode returns the Mode named s ("proxy" or "tun"; "" means proxy).
func ParseMode(s string) (Mode, error) {
	switch Mode(s) {
	case "", ModeProxy:
		return ModeProxy, nil
	case ModeTUN:
		return ModeTUN, nil
	}
	return "", fmt.Errorf("unknown tunnel mode %q: use %q or %q", s, ModeProxy, ModeTUN)
}

// Defaults of Options; each applies when its field is left zero.
const (
	DefaultProxyAddr           = "127.0.0.1:40000"
	DefaultInterfaceName       = "zt0"
	DefaultPersistentKeepalive = 25 * time.Second
	DefaultMaxProxyConns       = 1024
	DefaultHandshakeTimeout    = 10 * time.Second
	DefaultDialTimeout         = 15 * time.Second
	DefaultIdleTimeout         = 90 * time.Second
	// DefaultMTU is the WARP client's MTU, used when the tunnel block has none.
	DefaultMTU = 1280
	// DefaultMemoryLimit is the Go runtime's soft memory limit a tunnel
	// sets: with it a proxy-mode agent peaked at 40.5 MB of RSS in
	// 30-second bulk transfers each way, at the same speed as without it,
	// when it peaked at 93 MB (see the package's Memory section).
	DefaultMemoryLimit = 48 << 20
)

// Options tunes a Tunnel; the zero value is proxy mode with every default.
type Options struct {
	// Mode is ModeProxy (default) or ModeTUN.
	Mode Mode
	// ProxyAddr is the loopback IP:port the proxy listens on in proxy mode
	// (DefaultProxyAddr); port 0 picks a free port (see Tunnel.ProxyAddr).
	ProxyAddr string
	// InterfaceName names the TUN interface in tun mode (DefaultInterfaceName).
	InterfaceName string
	// NetNS, in tun mode, is a network namespace file (/run/netns/NAME,
	// /proc/PID/ns/net) to move the interface into after creating it; the
	// WireGuard UDP socket stays in the caller's namespace. Empty keeps the
	// interface where the process runs.
	NetNS string
	// ListenPort is the device's UDP port; 0 picks a free one.
	ListenPort uint16
	// PersistentKeepalive keeps NAT mappings to the edge open
	// (DefaultPersistentKeepalive); a negative value turns it off.
	PersistentKeepalive time.Duration
	// MaxProxyConns bounds concurrent proxy client connections
	// (DefaultMaxProxyConns); more are closed at once.
	MaxProxyConns int
	// HandshakeTimeout bounds how long a proxy client may take to send its
	// first byte and its SOCKS5 handshake (timed on Clock), or an HTTP
	// request header (net/http's ReadHeaderTimeout, which sets socket
	// deadlines on the real clock) (DefaultHandshakeTimeout).
	HandshakeTimeout time.Duration
	// DialTimeout bounds name resolution and connecting through the tunnel
	// for one proxied flow (DefaultDialTimeout).
	DialTimeout time.Duration
	// IdleTimeout closes idle HTTP keep-alive client connections and idle
	// SOCKS5 UDP associations (DefaultIdleTimeout).
	IdleTimeout time.Duration
	// MemoryLimit is the soft limit on the process's Go memory, in bytes,
	// that New sets with debug.SetMemoryLimit (DefaultMemoryLimit) and the
	// last Close restores; a negative value leaves the runtime alone, and
	// a lower limit already set (GOMEMLIMIT) is kept. It is process-wide:
	// it bounds wireguard-go's buffer pools, which hold 64 KiB per packet
	// and are returned to the system only by the garbage collector.
	MemoryLimit int64
	// ExplainRefusal, when set, is asked why a proxied TCP connection
	// (network "tcp") to addr, the "ip:port" dialed, was refused or reset:
	// the edge answers a flow its policy blocks that way, and so does a
	// closed port, so only the edge can tell them apart. ctx ends at the
	// flow's dial deadline or a few seconds after the refusal, whichever
	// comes first; ExplainRefusal must return when it does. A Refusal for an expired session makes the
	// proxy tell the client so (HTTP 403 naming the policy, SOCKS5 reply
	// 02) instead of a network error; ok false, or another reason, keeps
	// the network error. It is called without the tunnel's locks held,
	// from many connections at once; nil leaves refusals unexplained.
	ExplainRefusal func(ctx context.Context, network, addr string) (r Refusal, ok bool)
	// Logger receives the tunnel's logs; nil discards them.
	Logger *zap.Logger
	// Clock times handshakes and idle timeouts; nil is the real clock.
	Clock clock.Clock
}

func (o Options) withDefaults() (Options, error) {
	mode, err := ParseMode(string(o.Mode))
	if err != nil {
		return o, err
	}
	o.Mode = mode
	if o.ProxyAddr == "" {
		o.ProxyAddr = DefaultProxyAddr
	}
	if o.InterfaceName == "" {
		o.InterfaceName = DefaultInterfaceName
	}
	if o.PersistentKeepalive == 0 {
		o.PersistentKeepalive = DefaultPersistentKeepalive
	}
	if o.PersistentKeepalive > 65535*time.Second {
		return o, fmt.Errorf("persistent keepalive %s is longer than WireGuard allows (65535s)", o.PersistentKeepalive)
	}
	if o.MaxProxyConns <= 0 {
		o.MaxProxyConns = DefaultMaxProxyConns
	}
	if o.HandshakeTimeout <= 0 {
		o.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = DefaultDialTimeout
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = DefaultIdleTimeout
	}
	if o.MemoryLimit == 0 {
		o.MemoryLimit = DefaultMemoryLimit
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.Clock == nil {
		o.Clock = clock.Real()
	}
	return o, nil
}

// keepaliveSeconds is the UAPI's persistent_keepalive_interval.
func (o Options) keepaliveSeconds() int {
	if o.PersistentKeepalive < 0 {
		return 0
	}
	s := int((o.PersistentKeepalive + time.Second - 1) / time.Second)
	return s
}

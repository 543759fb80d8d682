package tunnel

import (
	"bufio"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The device is configured with wireguard-go's UAPI text, the protocol wg(8)
// speaks (https://www.wireguard.com/xplatform/#configuration-protocol). The
// text carries the private key in hex: build it here, hand it to IpcSet, and
// never log it.

// uapiFull is the whole configuration of a new device.
func uapiFull(s settings, listenPort uint16, keepalive int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "private_key=%s\n", s.priv.UAPIHex())
	if listenPort != 0 {
		fmt.Fprintf(&b, "listen_port=%d\n", listenPort)
	}
	b.WriteString("replace_peers=true\n")
	writePeer(&b, s, keepalive)
	return b.String()
}

// uapiChange is what turns the running configuration old into s, or "" when
// nothing the device knows about changed.
//
// A new endpoint or edge key replaces the peer rather than updating it: the
// fresh peer has no session, so the next packet starts a handshake at once
// instead of waiting out wireguard-go's rekey timers (15 s or more) against
// an edge that no longer knows the old session.
func uapiChange(old, s settings, keepalive int) string {
	var b strings.Builder
	if !old.priv.Equal(s.priv) {
		// SetPrivateKey expires every peer's current keypair, so the next
		// packet handshakes with the new key.
		fmt.Fprintf(&b, "private_key=%s\n", s.priv.UAPIHex())
	}
	switch {
	case old.edgePub != s.edgePub || old.endpoint != s.endpoint:
		b.WriteString("replace_peers=true\n")
		writePeer(&b, s, keepalive)
	case !slices.Equal(old.allowed, s.allowed):
		fmt.Fprintf(&b, "public_key=%s\nupdate_only=true\n", s.edgePub.UAPIHex())
		writeAllowedIPs(&b, s)
	}
	return b.String()
}

func writePeer(b *strings.Builder, s settings, keepalive int) {
	fmt.Fprintf(b, "public_key=%s\n", s.edgePub.UAPIHex())
	fmt.Fprintf(b, "endpoint=%s\n", s.endpoint)
	fmt.Fprintf(b, "persistent_keepalive_interval=%d\n", keepalive)
	writeAllowedIPs(b, s)
}

func writeAllowedIPs(b *strings.Builder, s settings) {
	b.WriteString("replace_allowed_ips=true\n")
	for _, p := range s.allowed {
		fmt.Fprintf(b, "allowed_ip=%s\n", p)
	}
}

// Stats describes the tunnel's one peer, the edge, as the device sees it.
type Stats struct {
	// Endpoint is where the device sends the edge's packets (IP:port).
	Endpoint string
	// EdgePublicKey is the edge's public key, base64.
	EdgePublicKey string
	// LastHandshake is when the last handshake with the edge completed; zero
	// when none has.
	LastHandshake time.Time
	// RxBytes and TxBytes count the peer's WireGuard traffic.
	RxBytes, TxBytes uint64
	// ListenPort is the device's UDP port.
	ListenPort uint16
}

// parseStats reads the UAPI "get" text. It skips private_key lines without
// keeping them.
func parseStats(text string) Stats {
	var st Stats
	var sec, nsec int64
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		key, value, ok := strings.Cut(sc.Text(), "=")
		if !ok {
			continue
		}
		switch key {
		case "listen_port":
			p, _ := strconv.ParseUint(value, 10, 16)
			st.ListenPort = uint16(p)
		case "endpoint":
			st.Endpoint = value
		case "last_handshake_time_sec":
			sec, _ = strconv.ParseInt(value, 10, 64)
		case "last_handshake_time_nsec":
			nsec, _ = strconv.ParseInt(value, 10, 64)
		case "rx_bytes":
			st.RxBytes, _ = strconv.ParseUint(value, 10, 64)
		case "tx_bytes":
			st.TxBytes, _ = strconv.ParseUint(value, 10, 64)
		}
	}
	if sec != 0 || nsec != 0 {
		st.LastHandshake = time.Unix(sec, nsec)
	}
	return st
}

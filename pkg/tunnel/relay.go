package tunnel

import (
	"net"

	byterelay "github.com/ztagent/ztagent/internal/relay"
)

// relay copies between a client and an upstream until both directions end,
// then closes both; see internal/relay.Splice for the half-close rules the
// SOCKS5 and HTTP CONNECT paths rely on.
func relay(client, upstream net.Conn) {
	byterelay.Splice(client, upstream)
}

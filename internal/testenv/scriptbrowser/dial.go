package scriptbrowser

import (
	"context"
	"net"
	"net/http"
	"strings"
	"time"
)

// Hosts maps the host[:port] a URL names ("acme.localhost:8781") to the
// address that is dialled for it ("127.0.0.1:41234"). It lets tests serve
// distinct origins from ephemeral loopback listeners.
type Hosts map[string]string

// resolve returns the address to dial for addr (host:port). An entry of h
// wins; otherwise names under .localhost go to 127.0.0.1 at the same port,
// as Chromium does and Go's resolver does not (DESIGN §13). Anything else is
// dialled as given.
func (h Hosts) resolve(addr string) string {
	if to, ok := h[strings.ToLower(addr)]; ok {
		return to
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return net.JoinHostPort("127.0.0.1", port)
	}
	return addr
}

// DialContext returns a dial function that maps names through h.
func (h Hosts) DialContext() func(ctx context.Context, network, addr string) (net.Conn, error) {
	d := &net.Dialer{Timeout: 5 * time.Second}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		return d.DialContext(ctx, network, h.resolve(addr))
	}
}

// Transport returns an HTTP transport that dials through h and never uses a
// proxy from the environment. Back-channel clients in tests (a relying
// party calling an IdP at http://idp.localhost:PORT) use it too.
func (h Hosts) Transport() *http.Transport {
	return &http.Transport{
		DialContext:           h.DialContext(),
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       30 * time.Second,
		ResponseHeaderTimeout: 10 * time.Second,
	}
}

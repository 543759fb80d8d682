package tunnel

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"strconv"
	"sync"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// maxHeaderBytes bounds an HTTP request's header, as for any server.
const maxHeaderBytes = 64 << 10

// httpProxy is the HTTP side of the local proxy: net/http's server reads the
// requests (keep-alive, header limits and timeouts, malformed requests),
// CONNECT is hijacked into a relay, and absolute-URI requests are forwarded
// by httputil.ReverseProxy over a transport that dials through the tunnel.
type httpProxy struct {
	p         *proxy
	srv       *http.Server
	ln        *chanListener
	transport *http.Transport
	forward   *httputil.ReverseProxy

	mu   sync.Mutex
	live map[net.Conn]struct{} // handed to the server and not finished
}

func newHTTPProxy(p *proxy) *httpProxy {
	h := &httpProxy{p: p, ln: newChanListener(p.ln.Addr()), live: make(map[net.Conn]struct{})}
	stdlog, _ := zap.NewStdLogAt(p.log, zapcore.DebugLevel)
	h.transport = &http.Transport{
		// Proxy stays nil: the environment's proxy settings must not
		// send tunnel traffic elsewhere.
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, portStr, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			port, err := strconv.ParseUint(portStr, 10, 16)
			if err != nil {
				return nil, fmt.Errorf("port %q is not a number", portStr)
			}
			return p.dial(ctx, host, uint16(port))
		},
		// Pass the client's Accept-Encoding and the origin's encoding
		// through untouched.
		DisableCompression: true,
		// Every forwarded request is a new flow through the tunnel. A
		// pool would hand one client's established connection to the
		// next request, and the edge never re-decides an established
		// flow (S7): an expired session (S3) would go unnoticed.
		DisableKeepAlives: true,
	}
	h.forward = &httputil.ReverseProxy{
		// The request is already absolute; Rewrite (unlike Director)
		// also drops the client's X-Forwarded-* headers and adds none,
		// so nothing about the local client leaks upstream.
		Rewrite:       func(pr *httputil.ProxyRequest) { pr.Out.Host = "" },
		Transport:     h.transport,
		FlushInterval: -1, // stream: event streams and long polls must not wait for a buffer to fill
		ErrorHandler:  h.forwardError,
		ErrorLog:      stdlog,
	}
	h.srv = &http.Server{
		Handler:                      h,
		ReadHeaderTimeout:            p.opts.HandshakeTimeout,
		IdleTimeout:                  p.opts.IdleTimeout,
		MaxHeaderBytes:               maxHeaderBytes,
		ErrorLog:                     stdlog,
		BaseContext:                  func(net.Listener) context.Context { return p.ctx },
		DisableGeneralOptionsHandler: true, // "OPTIONS *" is for origins, not proxies
		ConnState:                    h.connState,
	}
	p.tasks.enter()
	go func() {
		defer p.tasks.leave()
		h.srv.Serve(h.ln)
	}()
	return h
}

// handOver gives a client connection to the HTTP server. The connection
// counts as a task until the server's goroutine for it has finished
// (connState), which can be a while after the connection closed: net/http
// lingers after an error response so the client reads it before a reset.
func (h *httpProxy) handOver(c net.Conn) {
	if !h.p.tasks.enter() {
		c.Close()
		return
	}
	h.mu.Lock()
	h.live[c] = struct{}{}
	h.mu.Unlock()
	select {
	case h.ln.ch <- c:
	case <-h.ln.done:
		c.Close()
		h.finished(c)
	}
}

// connState sees a connection's last state: closed by the server's
// goroutine as it returns, or hijacked by CONNECT (whose handler is a task
// of its own).
func (h *httpProxy) connState(c net.Conn, st http.ConnState) {
	if st == http.StateClosed || st == http.StateHijacked {
		h.finished(c)
	}
}

func (h *httpProxy) finished(c net.Conn) {
	h.mu.Lock()
	_, ok := h.live[c]
	delete(h.live, c)
	h.mu.Unlock()
	if ok {
		h.p.tasks.leave()
	}
}

// close stops the server and the connections it manages; hijacked CONNECT
// relays are closed by the proxy, which tracks every client connection.
func (h *httpProxy) close() { h.srv.Close() }

func (h *httpProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !h.p.tasks.enter() {
		httpError(w, http.StatusServiceUnavailable, "the tunnel is closing")
		return
	}
	defer h.p.tasks.leave()
	switch {
	case r.Method == http.MethodConnect:
		h.connect(w, r)
	case r.URL.IsAbs() && r.URL.Scheme == "http" && r.URL.Host != "":
		h.p.log.Debug("HTTP forward", zap.String("method", r.Method), zap.String("host", r.URL.Host))
		h.forward.ServeHTTP(w, r)
	case r.URL.IsAbs():
		httpError(w, http.StatusBadRequest, fmt.Sprintf("only http:// URLs are forwarded, not %s://; use CONNECT (your client's HTTPS proxy setting) for %s", r.URL.Scheme, r.URL.Scheme))
	default:
		httpError(w, http.StatusBadRequest, "this is a proxy: send absolute-URI requests (GET http://host/path) or CONNECT host:port")
	}
}

// connect serves CONNECT host:port: dial first, so a failure is a proper
// error response (502, or 403 for an expired session), then hijack and
// relay.
func (h *httpProxy) connect(w http.ResponseWriter, r *http.Request) {
	host, portStr, err := net.SplitHostPort(r.Host)
	if err != nil {
		httpError(w, http.StatusBadRequest, fmt.Sprintf("CONNECT needs host:port, got %q", r.Host))
		return
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil || port == 0 {
		httpError(w, http.StatusBadRequest, fmt.Sprintf("CONNECT port %q is not a port number", portStr))
		return
	}
	up, err := h.p.dial(r.Context(), host, uint16(port))
	if err != nil {
		h.p.log.Debug("HTTP CONNECT failed", zap.String("dst", r.Host), zap.Error(err))
		httpError(w, dialStatus(err), err.Error())
		return
	}
	client, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		up.Close()
		httpError(w, http.StatusInternalServerError, "cannot take over the connection: "+err.Error())
		return
	}
	// The server cleared its header deadline; make sure no deadline
	// outlives the handshake.
	client.SetDeadline(time.Time{})
	if _, err := io.WriteString(client, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
		up.Close()
		client.Close()
		return
	}
	h.p.log.Debug("HTTP CONNECT", zap.Stringer("client", client.RemoteAddr()), zap.String("dst", r.Host))
	// Bytes the client sent after its request (a TLS ClientHello, say)
	// may wait in the server's reader.
	relay(&bufferedConn{Conn: client, r: io.MultiReader(brw.Reader, client)}, up)
}

func (h *httpProxy) forwardError(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil {
		return // the client left, or the tunnel is closing: nobody to tell
	}
	h.p.log.Debug("HTTP forward failed", zap.String("host", r.URL.Host), zap.Error(err))
	var de *dialError
	if errors.As(err, &de) {
		httpError(w, dialStatus(de), de.Error())
		return
	}
	httpError(w, http.StatusBadGateway, fmt.Sprintf("%s through the tunnel: %v", r.URL.Host, err))
}

// dialStatus is the HTTP status for a dial failure: 403 when a policy
// refused the flow for an expired session, which signing in again cures,
// else 502, a network fault between the proxy and the destination.
func dialStatus(err error) int {
	if failureOf(err) == failSessionExpired {
		return http.StatusForbidden
	}
	return http.StatusBadGateway
}

// httpError writes a one-line plain-text reason.
func httpError(w http.ResponseWriter, code int, reason string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	fmt.Fprintf(w, "ztagent proxy: %s\n", reason)
}

// bufferedConn reads from r (buffered bytes, then the connection).
type bufferedConn struct {
	net.Conn
	r io.Reader
}

func (c *bufferedConn) Read(b []byte) (int, error) { return c.r.Read(b) }

func (c *bufferedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// chanListener is the HTTP server's listener: the proxy's accept loop hands
// it the connections that start like HTTP.
type chanListener struct {
	addr net.Addr
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
}

func newChanListener(addr net.Addr) *chanListener {
	return &chanListener{addr: addr, ch: make(chan net.Conn), done: make(chan struct{})}
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *chanListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *chanListener) Addr() net.Addr { return l.addr }

package tunnel

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/ztagent/ztagent/internal/clock"
)

// proxy is the local proxy of proxy mode: one TCP listener whose clients
// speak SOCKS5 (first byte 0x05) or HTTP (an ASCII method), every flow
// opened through the dialer.
type proxy struct {
	ln     net.Listener
	dialer *dialer
	opts   Options
	clock  clock.Clock
	log    *zap.Logger

	ctx    context.Context // cancelled by close: aborts dials in flight
	cancel context.CancelFunc
	tasks  group // the accept loop, the HTTP server, every client connection and handler

	slots    chan struct{} // one per client connection, MaxProxyConns in all
	warnFull atomic.Bool   // whether "too many connections" was logged since the last free slot

	mu     sync.Mutex
	conns  map[net.Conn]struct{} // client and upstream connections, closed by close
	closed bool

	http *httpProxy
}

// listenProxy claims the proxy's address. It must be a loopback IP literal:
// the proxy has no authentication, so on any other address it would open the
// organization's network to whoever can reach this host.
func listenProxy(addr string) (net.Listener, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return nil, fmt.Errorf("proxy address %q must be a loopback IP:port such as %s", addr, DefaultProxyAddr)
	}
	if !ap.Addr().IsLoopback() {
		return nil, fmt.Errorf("proxy address %s is not a loopback address: the proxy has no authentication, so it only listens on 127.0.0.1 or [::1]", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("proxy address %s is in use: stop the program using it (another agent, or the WARP client) or choose another proxy address", addr)
		}
		return nil, fmt.Errorf("listen on proxy address %s: %w", addr, err)
	}
	return ln, nil
}

func newProxy(ln net.Listener, d *dialer, opts Options, log *zap.Logger) *proxy {
	p := &proxy{
		ln:     ln,
		dialer: d,
		opts:   opts,
		clock:  opts.Clock,
		log:    log,
		slots:  make(chan struct{}, opts.MaxProxyConns),
		conns:  make(map[net.Conn]struct{}),
	}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	p.http = newHTTPProxy(p)
	p.tasks.enter()
	go p.acceptLoop()
	log.Info("local proxy listening (SOCKS5 and HTTP)", zap.Stringer("addr", ln.Addr()))
	return p
}

func (p *proxy) addr() net.Addr { return p.ln.Addr() }

func (p *proxy) acceptLoop() {
	defer p.tasks.leave()
	var backoff time.Duration
	for {
		c, err := p.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors, say: wait and try again, as
			// net/http does, rather than stop serving for good.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			p.log.Warn("proxy cannot accept connections; retrying", zap.Error(err), zap.Duration("in", backoff))
			t := p.clock.NewTimer(backoff)
			select {
			case <-t.C():
			case <-p.ctx.Done():
				t.Stop()
				return
			}
			continue
		}
		backoff = 0
		select {
		case p.slots <- struct{}{}:
			p.warnFull.Store(false)
		default:
			// Closing at once tells the client; waiting would only
			// let connections pile up in the backlog.
			c.Close()
			if !p.warnFull.Swap(true) {
				p.log.Warn("proxy connection limit reached: closing new connections", zap.Int("max", p.opts.MaxProxyConns))
			}
			continue
		}
		cc := &clientConn{Conn: c, br: bufio.NewReaderSize(c, 4096), p: p}
		if !p.track(cc) || !p.tasks.enter() {
			cc.Close()
			return
		}
		go func() {
			defer p.tasks.leave()
			p.serve(cc)
		}()
	}
}

// serve reads the first byte to tell SOCKS5 from HTTP. The handshake
// deadline runs from here: SOCKS5 disarms it once the request is read, HTTP
// hands over to the server's own header timeout.
func (p *proxy) serve(c *clientConn) {
	stop := p.deadline(c, p.opts.HandshakeTimeout)
	first, err := c.br.Peek(1)
	if err != nil {
		stop()
		c.Close()
		return
	}
	switch {
	case first[0] == socksVersion5:
		p.serveSOCKS(c, stop)
	case first[0] >= 'A' && first[0] <= 'Z':
		if !stop() {
			c.Close()
			return
		}
		p.http.handOver(c)
	case first[0] == socksVersion4:
		stop()
		// A SOCKS4 "request rejected" reply, so the client can say why.
		c.Write([]byte{0, 0x5b, 0, 0, 0, 0, 0, 0})
		p.log.Debug("refused a SOCKS4 client: only SOCKS5 is supported", zap.Stringer("client", c.RemoteAddr()))
		c.Close()
	default:
		stop()
		p.log.Debug("proxy client speaks neither SOCKS5 nor HTTP", zap.Stringer("client", c.RemoteAddr()))
		c.Close()
	}
}

// deadline makes reads and writes on c fail once d has passed on the
// injected clock (by setting a deadline in the past, which wakes blocked
// calls). The returned stop disarms it and reports whether it had not fired.
func (p *proxy) deadline(c net.Conn, d time.Duration) (stop func() bool) {
	t := p.clock.AfterFunc(d, func() { c.SetDeadline(longAgo) })
	return t.Stop
}

// longAgo is a deadline that has always passed.
var longAgo = time.Unix(1, 0)

// track registers a connection for close; it refuses once the proxy closes.
func (p *proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *proxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}

// dial opens a tracked upstream flow through the tunnel; ctx must derive
// from p.ctx so that close aborts the dial. A refused dial is explained
// (explainRefusal) within the same dial timeout, so that asking why never
// keeps the client waiting longer than the dial alone could.
func (p *proxy) dial(ctx context.Context, host string, port uint16) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, p.dialer.timeout)
	defer cancel()
	c, err := p.dialer.dialTCP(ctx, host, port)
	if err != nil {
		return nil, p.explainRefusal(ctx, err)
	}
	tc := &trackedConn{Conn: c, p: p}
	if !p.track(tc) {
		c.Close()
		return nil, &dialError{kind: failGeneral, msg: "the tunnel is closing"}
	}
	return tc, nil
}

// close stops accepting, closes every connection and waits for every
// goroutine of the proxy.
func (p *proxy) close() {
	p.mu.Lock()
	p.closed = true
	conns := make([]net.Conn, 0, len(p.conns))
	for c := range p.conns {
		conns = append(conns, c)
	}
	p.mu.Unlock()

	p.cancel()
	p.ln.Close()
	for _, c := range conns {
		c.Close()
	}
	p.http.close()
	p.tasks.closeAndWait()
	p.http.transport.CloseIdleConnections()
}

// clientConn is an accepted client connection; reads go through br, which
// holds the byte peeked to pick the protocol. Close frees its slot once.
type clientConn struct {
	net.Conn
	br   *bufio.Reader
	p    *proxy
	once sync.Once
}

func (c *clientConn) Read(b []byte) (int, error) { return c.br.Read(b) }

func (c *clientConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.p.untrack(c)
		<-c.p.slots
	})
	return err
}

// CloseWrite half-closes the client's side, passing on the upstream's EOF.
func (c *clientConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// trackedConn is an upstream flow that close can reach.
type trackedConn struct {
	net.Conn
	p    *proxy
	once sync.Once
}

func (c *trackedConn) Close() error {
	c.once.Do(func() { c.p.untrack(c) })
	return c.Conn.Close()
}

func (c *trackedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

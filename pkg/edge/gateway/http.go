package gateway

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"

	"go.uber.org/zap"

	"github.com/ztagent/ztagent/pkg/edge/wg"
	"github.com/ztagent/ztagent/pkg/policy"
)

// maxDiscard is how much of a blocked request's body is read and thrown
// away to keep the connection usable; past it the connection is closed.
const maxDiscard = 64 << 10

// httpConn is one plain-HTTP flow: the device's connection and, once a
// request was allowed, one upstream connection reused for the next.
type httpConn struct {
	g      *Gateway
	flow   wg.Flow
	client net.Conn
	br     *bufio.Reader
	bw     *bufio.Writer
	dial   wg.DialFunc
	up     net.Conn
	upR    *bufio.Reader
}

// httpHandler serves a plain-HTTP flow: every request on the connection is
// decided on its own (S3: each request is a new flow for check_session).
func (g *Gateway) httpHandler(f wg.Flow) wg.ConnHandler {
	return func(ctx context.Context, client net.Conn, dial wg.DialFunc) {
		g.serveHTTP(ctx, f, client, client, dial)
	}
}

// serveHTTP serves requests read from r (client, or bytes already peeked
// from it followed by client) until the connection ends.
func (g *Gateway) serveHTTP(ctx context.Context, f wg.Flow, client net.Conn, r io.Reader, dial wg.DialFunc) {
	c := &httpConn{g: g, flow: f, client: client, br: bufio.NewReader(r), bw: bufio.NewWriter(client), dial: dial}
	defer c.closeUpstream()
	// wg closes the flow's connections when ctx ends; closing the client
	// here too does not depend on that.
	stop := context.AfterFunc(ctx, func() { client.Close() })
	defer stop()
	for c.serve(ctx) {
	}
}

// serve handles one request and reports whether the connection stays open
// for another.
func (c *httpConn) serve(ctx context.Context) bool {
	req, err := http.ReadRequest(c.br)
	if err != nil {
		if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !errors.Is(err, io.ErrUnexpectedEOF) {
			c.respond(plainResponse(nil, http.StatusBadRequest, "The request is not valid HTTP/1.1.\n", true))
		}
		return false
	}
	defer req.Body.Close()
	g := c.g
	rec := flowRecord(c.flow)
	rec.Host, rec.Method, rec.Path = req.Host, req.Method, req.URL.Path
	id, ok := g.identify(ctx, c.flow.DeviceID, rec)
	if !ok {
		return c.block(req, plainResponse(req, http.StatusForbidden, "This device is not registered with the organization.\n", true))
	}
	rs := g.rules.Load()
	pf := g.httpFlow(req.Host, id, g.clock.Now())
	pf.Method, pf.Path = req.Method, req.URL.Path
	pf.URI = "http://" + req.Host + req.URL.RequestURI()
	d := rs.decide(pf)
	g.conclude(ctx, withIdentity(rec, id, pf.Now), policy.FilterHTTP, d)
	if d.Action == policy.ActionBlock {
		return c.block(req, g.blockResponse(req, d, id))
	}
	if g.requests != nil {
		if resp := g.requests.HookRequest(ctx, req, Requester{Flow: c.flow, Identity: id}); resp != nil {
			return c.block(req, resp)
		}
	}
	return c.forward(ctx, req)
}

// block answers req without forwarding it, after reading what is left of
// its body (a client that was told to wait for 100 Continue sends none).
func (c *httpConn) block(req *http.Request, resp *http.Response) bool {
	if expectsContinue(req) {
		resp.Close = true
	} else if n, _ := io.Copy(io.Discard, io.LimitReader(req.Body, maxDiscard+1)); n > maxDiscard {
		resp.Close = true
	}
	if req.Close {
		resp.Close = true
	}
	return c.respond(resp) && !resp.Close
}

// forward sends req upstream and its response back.
func (c *httpConn) forward(ctx context.Context, req *http.Request) bool {
	if expectsContinue(req) {
		// The upstream is not asked: the client's body must be flowing
		// before the request can be written to it.
		req.Header.Del("Expect")
		if _, err := c.bw.WriteString("HTTP/1.1 100 Continue\r\n\r\n"); err != nil || c.bw.Flush() != nil {
			return false
		}
	}
	if _, ok := req.Header["User-Agent"]; !ok {
		req.Header["User-Agent"] = []string{""} // keeps net/http from adding its own
	}
	resp, err := c.roundTrip(ctx, req)
	var de *dialError
	switch {
	case errors.As(err, &de):
		c.g.log.Debug("upstream dial failed", zap.Uint64("flow", c.flow.ID), zap.Error(err))
		return c.block(req, plainResponse(req, http.StatusBadGateway, "The Gateway could not reach this server.\n", false))
	case err != nil:
		c.closeUpstream()
		c.respond(plainResponse(req, http.StatusBadGateway, "The server sent no valid HTTP response.\n", true))
		return false
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusSwitchingProtocols {
		if c.send(resp) == nil {
			splice(c.client, c.br, &bufferedConn{Conn: c.up, r: c.upR})
		}
		return false
	}
	if err := c.send(resp); err != nil {
		return false
	}
	if resp.Close {
		c.closeUpstream()
	}
	return !resp.Close && !req.Close
}

// roundTrip writes req upstream and reads its final response, passing
// informational (1xx) responses on. A request without a body is sent again
// on a fresh connection when a reused one turns out closed, as an upstream
// may close idle keep-alive connections at any time.
func (c *httpConn) roundTrip(ctx context.Context, req *http.Request) (*http.Response, error) {
	reused := c.up != nil
	resp, err := c.tryRoundTrip(ctx, req)
	if err != nil && reused && req.Body == http.NoBody {
		var de *dialError
		if !errors.As(err, &de) {
			c.closeUpstream()
			resp, err = c.tryRoundTrip(ctx, req)
		}
	}
	return resp, err
}

func (c *httpConn) tryRoundTrip(ctx context.Context, req *http.Request) (*http.Response, error) {
	if c.up == nil {
		up, err := c.dial(ctx)
		if err != nil {
			return nil, &dialError{err}
		}
		c.up, c.upR = up, bufio.NewReader(up)
	}
	if err := req.Write(c.up); err != nil {
		c.closeUpstream()
		return nil, err
	}
	for {
		resp, err := http.ReadResponse(c.upR, req)
		if err != nil {
			c.closeUpstream()
			return nil, err
		}
		if resp.StatusCode >= 200 || resp.StatusCode == http.StatusSwitchingProtocols {
			return resp, nil
		}
		if err := c.send(resp); err != nil {
			return nil, err
		}
	}
}

// dialError is a failure to reach the upstream at all.
type dialError struct{ err error }

func (e *dialError) Error() string { return "dial upstream: " + e.err.Error() }
func (e *dialError) Unwrap() error { return e.err }

func (c *httpConn) respond(resp *http.Response) bool {
	return c.send(resp) == nil
}

// send writes resp to the client through one buffer, so that a small
// response leaves in one segment; an upstream body is flushed on whenever
// reading more of it could block, so that streamed responses stream.
func (c *httpConn) send(resp *http.Response) error {
	if resp.Body != nil && resp.Body != http.NoBody && c.upR != nil {
		resp.Body = &flushingBody{ReadCloser: resp.Body, src: c.upR, dst: c.bw}
	}
	// The wrapper hides bufio.Writer's ReadFrom, which reads the body
	// straight into the buffer that a flushingBody flushes: the flush
	// would corrupt it.
	if err := resp.Write(struct{ io.Writer }{c.bw}); err != nil {
		return err
	}
	return c.bw.Flush()
}

// flushingBody flushes the client's buffer before a read of the upstream
// body that would wait for the network.
type flushingBody struct {
	io.ReadCloser
	src *bufio.Reader
	dst *bufio.Writer
}

func (b *flushingBody) Read(p []byte) (int, error) {
	if b.src.Buffered() == 0 {
		if err := b.dst.Flush(); err != nil {
			return 0, err
		}
	}
	return b.ReadCloser.Read(p)
}

func (c *httpConn) closeUpstream() {
	if c.up != nil {
		c.up.Close()
		c.up, c.upR = nil, nil
	}
}

func expectsContinue(req *http.Request) bool {
	return strings.EqualFold(req.Header.Get("Expect"), "100-continue")
}

// bufferedConn reads an upstream through the reader that already buffered
// part of it.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

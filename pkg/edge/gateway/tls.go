package gateway

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"time"

	"go.uber.org/zap"

	"github.com/ztagent/ztagent/pkg/edge/wg"
	"github.com/ztagent/ztagent/pkg/policy"
)

// errHelloRead ends crypto/tls's handshake as soon as it has parsed the
// ClientHello: the Gateway only wants the SNI.
var errHelloRead = errors.New("client hello read")

// peekSNI reads the start of client for a TLS ClientHello, for at most
// timeout, and returns its server name ("" without one, or when the client
// does not speak TLS first) and every byte it read, which the caller must
// send on. crypto/tls parses the hello, so no hand-written parser sees
// hostile bytes.
func peekSNI(client net.Conn, timeout time.Duration) (sni string, read []byte) {
	var buf bytes.Buffer
	rec := &recordingConn{Conn: client, r: io.TeeReader(client, &buf)}
	client.SetReadDeadline(time.Now().Add(timeout))
	defer client.SetReadDeadline(time.Time{})
	srv := tls.Server(rec, &tls.Config{
		GetConfigForClient: func(h *tls.ClientHelloInfo) (*tls.Config, error) {
			sni = h.ServerName
			return nil, errHelloRead
		},
	})
	_ = srv.Handshake() // always fails: with errHelloRead, or because this is not TLS
	return sni, buf.Bytes()
}

// recordingConn lets crypto/tls read the client's bytes (through a tee)
// but never write to it or close it.
type recordingConn struct {
	net.Conn
	r io.Reader
}

func (c *recordingConn) Read(p []byte) (int, error) { return c.r.Read(p) }
func (c *recordingConn) Write(p []byte) (int, error) {
	return 0, errors.New("the gateway does not answer TLS handshakes")
}
func (c *recordingConn) Close() error { return nil }

// httpMethods are the request methods detectProtocol recognises, each
// with the space that follows it on a request line.
var httpMethods = []string{"GET ", "HEAD ", "POST ", "PUT ", "DELETE ", "OPTIONS ", "PATCH ", "CONNECT ", "TRACE "}

// detectProtocol names the protocol a TCP client's first bytes show, as
// net.detected_protocol holds it: "tls" for a TLS handshake record, "ssh"
// for an SSH identification string, "http" for an HTTP request line;
// "" otherwise (including a client that waits for the server to speak).
// first may be as short as the five bytes crypto/tls reads before it
// gives up on a stream that is not TLS.
func detectProtocol(first []byte) string {
	switch {
	case len(first) >= 3 && first[0] == 0x16 && first[1] == 0x03:
		return "tls"
	case bytes.HasPrefix(first, []byte("SSH-")):
		return "ssh"
	}
	if len(first) < 4 {
		return ""
	}
	for _, m := range httpMethods {
		if n := min(len(first), len(m)); string(first[:n]) == m[:n] {
			return "http"
		}
	}
	return ""
}

// tlsHandler peeks at a TCP flow's first bytes (a ClientHello, when it is
// TLS). With l4Pending it decides the L4 policies with the SNI and the
// detected protocol (and serves a flow to an HTTP port as HTTP
// once they allow it); on TLS ports with HTTP policies it decides them by
// the SNI host only (no TLS interception). A blocked flow is closed; an
// allowed one is spliced to its upstream, the peeked bytes first.
func (g *Gateway) tlsHandler(f wg.Flow, l4Pending bool) wg.ConnHandler {
	return func(ctx context.Context, client net.Conn, dial wg.DialFunc) {
		sni, hello := peekSNI(client, g.peek)
		id, ok := g.identify(ctx, f.DeviceID, flowRecord(f))
		if !ok {
			return
		}
		rs := g.rules.Load()
		now := g.clock.Now()
		rec := withIdentity(flowRecord(f), id, now)
		rec.SNI = sni
		if l4Pending {
			pf := g.l4Flow(f, id, now)
			pf.SNI, pf.DetectedProtocol = sni, detectProtocol(hello)
			d := rs.decide(pf)
			g.conclude(ctx, rec, policy.FilterL4, d)
			if d.Action == policy.ActionBlock {
				return
			}
		}
		if l4Pending && g.isHTTPPort(f.Dst.Port()) && (rs.httpActive || g.requests != nil) {
			// Plain HTTP after all: its requests are decided one by one.
			g.serveHTTP(ctx, f, client, io.MultiReader(bytes.NewReader(hello), client), dial)
			return
		}
		if g.isTLSPort(f.Dst.Port()) && rs.httpActive {
			d := rs.decide(g.httpFlow(sni, id, now))
			hrec := rec
			hrec.Host = sni
			g.conclude(ctx, hrec, policy.FilterHTTP, d)
			if d.Action == policy.ActionBlock {
				return
			}
		}
		up, err := dial(ctx)
		if err != nil {
			g.log.Debug("upstream dial failed; TLS flow closed", zap.Uint64("flow", f.ID), zap.Error(err))
			return
		}
		defer up.Close()
		if _, err := up.Write(hello); err != nil {
			return
		}
		splice(client, client, up)
	}
}

// splice copies both ways between the client (read through clientR, which
// may hold bytes already buffered) and up until both directions have ended,
// passing each end on as a half-close.
func splice(client net.Conn, clientR io.Reader, up net.Conn) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		pipe(client, up, up)
	}()
	pipe(up, clientR, client)
	<-done
}

// pipe copies src to dst; at EOF it half-closes dst, and on an error it
// closes both, so that the other direction ends too.
func pipe(dst net.Conn, src io.Reader, srcConn net.Conn) {
	_, err := io.Copy(dst, src)
	if err == nil {
		if cw, ok := dst.(interface{ CloseWrite() error }); ok && cw.CloseWrite() == nil {
			return
		}
	}
	dst.Close()
	srcConn.Close()
}

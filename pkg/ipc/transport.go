package ipc

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"
)

// Limits of the client's connection pool: one idle connection serves a
// front-end's polling; the server closes idle ones after its IdleTimeout
// (DefaultIdleTimeout, 15 s), so the client forgets them well before, and
// rarely sends a request on a connection the server is closing.
const (
	maxIdleConns   = 2
	clientIdleTime = 5 * time.Second
)

// transport carries requests over kept-alive unix connections, writing each
// request and reading its answer on the caller's goroutine. net/http's
// Transport hands every request to two goroutines of its own; on a small
// machine those hand-offs cost more than the IPC itself (DESIGN §12 measures
// the round trip against a raw unix-socket echo). It starts no goroutine, so
// a client holds nothing a leak check would find.
type transport struct {
	socket string

	mu   sync.Mutex
	idle []*persistConn
}

type persistConn struct {
	conn      net.Conn
	br        *bufio.Reader
	bw        *bufio.Writer
	idleSince time.Time
}

// roundTrip sends req and returns the answer, whose body must be closed. A
// kept-alive connection the server has closed meanwhile is replaced once:
// when the request could not be written (the server cannot have acted on
// it), or, for a GET, when the server closed it without an answer.
func (t *transport) roundTrip(req *http.Request) (*http.Response, error) {
	pc, reused, err := t.get(req.Context())
	if err != nil {
		return nil, err
	}
	resp, err := t.exchange(req, pc)
	retry := errors.Is(err, errNotSent) || (errors.Is(err, errNoAnswer) && req.Method == http.MethodGet)
	if reused && retry && req.Context().Err() == nil {
		if req.GetBody != nil {
			if req.Body, err = req.GetBody(); err != nil {
				return nil, err
			}
		}
		if pc, err = t.dial(req.Context()); err != nil {
			return nil, err
		}
		resp, err = t.exchange(req, pc)
	}
	return resp, err
}

// errNotSent and errNoAnswer mark a connection that failed before the
// request was written, or before the first byte of an answer: the server
// closed it while it was idle.
var (
	errNotSent  = errors.New("connection closed before the request was sent")
	errNoAnswer = errors.New("connection closed before any answer")
)

func (t *transport) exchange(req *http.Request, pc *persistConn) (*http.Response, error) {
	ctx := req.Context()
	// A cancelled context unblocks a read or write in progress.
	stop := context.AfterFunc(ctx, func() { _ = pc.conn.SetDeadline(time.Unix(1, 0)) })
	fail := func(err error) (*http.Response, error) {
		stop()
		_ = pc.conn.Close()
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, ctxErr
		}
		return nil, err
	}
	err := req.Write(pc.bw)
	if err == nil {
		err = pc.bw.Flush()
	}
	if err != nil {
		return fail(fmt.Errorf("%w: %w", errNotSent, err))
	}
	if _, err := pc.br.Peek(1); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) {
			return fail(fmt.Errorf("%w: %w", errNoAnswer, err))
		}
		return fail(err)
	}
	resp, err := http.ReadResponse(pc.br, req)
	if err != nil {
		return fail(err)
	}
	resp.Body = &pooledBody{t: t, pc: pc, rc: resp.Body, ctx: ctx, stop: stop, reusable: !resp.Close}
	return resp, nil
}

// pooledBody returns its connection to the pool once the body was read to
// its end, and closes it otherwise (an event stream left early, say).
type pooledBody struct {
	t        *transport
	pc       *persistConn
	rc       io.ReadCloser
	ctx      context.Context
	stop     func() bool
	reusable bool

	mu     sync.Mutex
	eof    bool
	closed bool
}

func (b *pooledBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if errors.Is(err, io.EOF) {
		b.mu.Lock()
		b.eof = true
		b.mu.Unlock()
	} else if err != nil && b.ctx.Err() != nil {
		err = b.ctx.Err()
	}
	return n, err
}

func (b *pooledBody) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	b.closed = true
	// stop reports false when the context already fired and poisoned the
	// connection's deadline.
	if b.stop() && b.eof && b.reusable {
		_ = b.rc.Close()
		b.t.put(b.pc)
		return nil
	}
	// Not b.rc.Close: it would drain the rest, which for a stream never ends.
	return b.pc.conn.Close()
}

func (t *transport) get(ctx context.Context) (pc *persistConn, reused bool, err error) {
	t.mu.Lock()
	for len(t.idle) > 0 {
		pc = t.idle[len(t.idle)-1]
		t.idle = t.idle[:len(t.idle)-1]
		if time.Since(pc.idleSince) < clientIdleTime {
			t.mu.Unlock()
			return pc, true, nil
		}
		_ = pc.conn.Close()
	}
	t.mu.Unlock()
	pc, err = t.dial(ctx)
	return pc, false, err
}

// dial connects and checks who answers before anything is written: a
// socket in a directory another user controls, or answered by a process of
// another user, is refused (UntrustedDaemonError).
func (t *transport) dial(ctx context.Context) (*persistConn, error) {
	if err := checkDaemonSocketDir(t.socket); err != nil {
		return nil, err
	}
	conn, err := dialSocket(ctx, t.socket)
	if err != nil {
		return nil, &dialError{err: err}
	}
	if err := verifyDaemon(conn, t.socket); err != nil {
		_ = conn.Close()
		return nil, err
	}
	return &persistConn{conn: conn, br: bufio.NewReaderSize(conn, 16<<10), bw: bufio.NewWriterSize(conn, 4<<10)}, nil
}

func (t *transport) put(pc *persistConn) {
	if err := pc.conn.SetDeadline(time.Time{}); err != nil || pc.br.Buffered() > 0 {
		// Bytes after an answer mean the peer is not speaking HTTP as we
		// understand it; do not reuse.
		_ = pc.conn.Close()
		return
	}
	pc.idleSince = time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.idle) >= maxIdleConns {
		_ = pc.conn.Close()
		return
	}
	t.idle = append(t.idle, pc)
}

// closeIdle closes the pooled connections.
func (t *transport) closeIdle() {
	t.mu.Lock()
	idle := t.idle
	t.idle = nil
	t.mu.Unlock()
	for _, pc := range idle {
		_ = pc.conn.Close()
	}
}

package ipc

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/ztagent/ztagent/pkg/apierror"
	"github.com/ztagent/ztagent/pkg/ipc/ipcproto"
)

// Limits the client puts on what it reads, so a wrong peer cannot make it
// allocate without bound.
const (
	maxResponseBytes = 4 << 20
	maxEventLine     = 1 << 20
	dialTimeout      = 5 * time.Second
)

// userAgent names the client in the daemon's logs.
const userAgent = "ztagent-ipc/" + ipcproto.Version

// ErrPermissionDenied matches (with errors.Is) a refusal whose code is
// permission_denied; agentctl exits 3 on it.
var ErrPermissionDenied error = apierror.New(ipcproto.CodePermissionDenied, "permission denied", "")

// ErrDaemonUnreachable matches (with errors.Is) an *UnreachableError;
// agentctl exits 4 on it.
var ErrDaemonUnreachable = errors.New("agentd is not reachable")

// UnreachableError is a failure to connect to the daemon's socket: it is
// not running, or the socket is not where the client looked.
type UnreachableError struct {
	Socket string
	Err    error
}

// Error returns what failed and what to check.
func (e *UnreachableError) Error() string {
	return fmt.Sprintf("agentd is not reachable at %s (%v); is it running? (`agentd status`, or pass --socket)", e.Socket, e.Err)
}

// Unwrap returns the connect error.
func (e *UnreachableError) Unwrap() error { return e.Err }

// Is reports whether target is ErrDaemonUnreachable.
func (e *UnreachableError) Is(target error) bool { return target == ErrDaemonUnreachable }

// dialError marks errors of connecting, so they are told from errors later
// in a request.
type dialError struct{ err error }

func (e *dialError) Error() string { return e.err.Error() }
func (e *dialError) Unwrap() error { return e.err }

// Versions is what the daemon said about itself in its last response.
type Versions struct {
	// API is the IPC protocol version (ipcproto.Version on a matching
	// daemon).
	API string
	// Daemon is agentd's version.
	Daemon string
}

// Mismatch reports whether the daemon speaks another IPC version than this
// client.
func (v Versions) Mismatch() bool { return v.API != "" && v.API != ipcproto.Version }

// Client is the typed client of agentd's IPC, for agentctl, tray apps and
// tests. It is safe for concurrent use.
type Client struct {
	socket string
	tr     *transport

	mu       sync.Mutex
	versions Versions
	warn     func(Versions)
	warned   bool
}

// NewClient returns a client of the daemon listening on socketPath. Nothing
// is dialled until the first call.
func NewClient(socketPath string) *Client {
	return &Client{socket: socketPath, tr: &transport{socket: socketPath}}
}

// OnVersionMismatch sets f to be called, once per client, when the daemon
// answers with another API version; front-ends print a warning.
func (c *Client) OnVersionMismatch(f func(Versions)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.warn = f
}

// Versions returns the versions the daemon sent in its last response (empty
// before the first).
func (c *Client) Versions() Versions {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.versions
}

// Close releases idle connections. Event streams are closed by their own
// Close.
func (c *Client) Close() error {
	c.tr.closeIdle()
	return nil
}

// Status returns the daemon's status.
func (c *Client) Status(ctx context.Context) (ipcproto.Status, error) {
	var st ipcproto.Status
	err := c.do(ctx, http.MethodGet, "/v1/status", nil, nil, &st)
	return st, err
}

// Permissions returns what this client's user may do now
// (GET /v1/permissions).
func (c *Client) Permissions(ctx context.Context) (ipcproto.Permissions, error) {
	var p ipcproto.Permissions
	err := c.do(ctx, http.MethodGet, "/v1/permissions", nil, nil, &p)
	return p, err
}

// Session returns the per-policy expiry map.
func (c *Client) Session(ctx context.Context) (ipcproto.Session, error) {
	var s ipcproto.Session
	err := c.do(ctx, http.MethodGet, "/v1/session", nil, nil, &s)
	return s, err
}

// Explain returns the edge's decision trace for a flow to dst (host:port)
// over proto ("tcp" when empty), as the daemon passed it through.
func (c *Client) Explain(ctx context.Context, dst, proto string) (json.RawMessage, error) {
	q := url.Values{"dst": {dst}}
	if proto != "" {
		q.Set("proto", proto)
	}
	var trace json.RawMessage
	err := c.do(ctx, http.MethodGet, "/v1/explain", q, nil, &trace)
	return trace, err
}

// Register starts an enrollment and returns the URL to open.
func (c *Client) Register(ctx context.Context, req ipcproto.RegisterRequest) (ipcproto.AuthURL, error) {
	var u ipcproto.AuthURL
	err := c.do(ctx, http.MethodPost, "/v1/registration", nil, req, &u)
	return u, err
}

// Leave leaves the organization and returns the status after it.
func (c *Client) Leave(ctx context.Context) (ipcproto.Status, error) {
	var st ipcproto.Status
	err := c.do(ctx, http.MethodDelete, "/v1/registration", nil, nil, &st)
	return st, err
}

// Connect starts the tunnel and returns the status after it.
func (c *Client) Connect(ctx context.Context) (ipcproto.Status, error) {
	var st ipcproto.Status
	err := c.do(ctx, http.MethodPost, "/v1/connect", nil, nil, &st)
	return st, err
}

// Disconnect stops the tunnel and returns the status after it.
func (c *Client) Disconnect(ctx context.Context) (ipcproto.Status, error) {
	var st ipcproto.Status
	err := c.do(ctx, http.MethodPost, "/v1/disconnect", nil, nil, &st)
	return st, err
}

// Reauth asks for a re-authentication and returns the URL to open.
func (c *Client) Reauth(ctx context.Context, req ipcproto.ReauthRequest) (ipcproto.AuthURL, error) {
	var u ipcproto.AuthURL
	err := c.do(ctx, http.MethodPost, "/v1/reauth", nil, req, &u)
	return u, err
}

// Settings returns the daemon's settings.
func (c *Client) Settings(ctx context.Context) (ipcproto.Settings, error) {
	var s ipcproto.Settings
	err := c.do(ctx, http.MethodGet, "/v1/settings", nil, nil, &s)
	return s, err
}

// SetSettings changes the non-empty fields of set and returns the settings
// after the change.
func (c *Client) SetSettings(ctx context.Context, set ipcproto.Settings) (ipcproto.Settings, error) {
	var s ipcproto.Settings
	err := c.do(ctx, http.MethodPatch, "/v1/settings", nil, set, &s)
	return s, err
}

// do makes one request and decodes a 2xx answer into out.
func (c *Client) do(ctx context.Context, method, path string, q url.Values, body, out any) error {
	resp, err := c.send(ctx, method, path, q, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		return fmt.Errorf("%s %s: reading the answer: %w", method, path, err)
	}
	if len(b) > maxResponseBytes {
		return fmt.Errorf("%s %s: answer larger than %d bytes", method, path, maxResponseBytes)
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%s %s: undecodable answer: %w", method, path, err)
	}
	return nil
}

// send makes a request and returns a 2xx response, or the error the status
// or the connection stands for.
func (c *Client) send(ctx context.Context, method, path string, q url.Values, body any) (*http.Response, error) {
	u := url.URL{Scheme: "http", Host: "agentd", Path: path, RawQuery: q.Encode()}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", method, path, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", userAgent)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.tr.roundTrip(req)
	if err != nil {
		var de *dialError
		if errors.As(err, &de) {
			return nil, &UnreachableError{Socket: c.socket, Err: de.err}
		}
		var ue *UntrustedDaemonError
		if errors.As(err, &ue) {
			return nil, ue
		}
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, fmt.Errorf("%s %s: %w", method, path, ctxErr)
		}
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	c.noteVersions(resp.Header)
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return resp, nil
	}
	defer resp.Body.Close()
	return nil, decodeRefusal(resp)
}

// decodeRefusal returns the *apierror.Error agentd answered resp with.
func decodeRefusal(resp *http.Response) *apierror.Error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, ipcproto.MaxBodyBytes))
	return apierror.Decode(resp.StatusCode, b, "agentd answered "+resp.Status)
}

func (c *Client) noteVersions(h http.Header) {
	v := Versions{API: h.Get(ipcproto.APIVersionHeader), Daemon: h.Get(ipcproto.DaemonVersionHeader)}
	c.mu.Lock()
	c.versions = v
	var warn func(Versions)
	if v.Mismatch() && !c.warned && c.warn != nil {
		c.warned = true
		warn = c.warn
	}
	c.mu.Unlock()
	if warn != nil {
		warn(v)
	}
}

// EventStream is an open GET /v1/events: the snapshot first, then events as
// the daemon publishes them.
type EventStream struct {
	body   io.ReadCloser
	rd     *bufio.Reader
	cancel context.CancelFunc
	once   sync.Once
}

// Events opens the event stream; it lasts until ctx ends, Close, or the
// daemon ends it (Next then returns io.EOF).
func (c *Client) Events(ctx context.Context) (*EventStream, error) {
	ctx, cancel := context.WithCancel(ctx)
	resp, err := c.send(ctx, http.MethodGet, "/v1/events", nil, nil)
	if err != nil {
		cancel()
		return nil, err
	}
	return &EventStream{body: resp.Body, rd: bufio.NewReaderSize(resp.Body, 64<<10), cancel: cancel}, nil
}

// Next returns the next event, blocking until one arrives; io.EOF when the
// stream ended. Heartbeats are read and skipped: they only keep the daemon
// sure that this client still reads.
func (s *EventStream) Next() (ipcproto.Event, error) {
	for {
		var ev ipcproto.Event
		line, err := s.readLine()
		if err != nil {
			return ev, err
		}
		if err := json.Unmarshal(line, &ev); err != nil {
			return ev, fmt.Errorf("event stream: undecodable line: %w", err)
		}
		if ev.Type != ipcproto.EventHeartbeat {
			return ev, nil
		}
	}
}

func (s *EventStream) readLine() ([]byte, error) {
	var line []byte
	for {
		chunk, err := s.rd.ReadSlice('\n')
		line = append(line, chunk...)
		if len(line) > maxEventLine {
			return nil, fmt.Errorf("event stream: line longer than %d bytes", maxEventLine)
		}
		switch {
		case err == nil:
			return line, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF) && len(bytes.TrimSpace(line)) == 0:
			return nil, io.EOF
		case errors.Is(err, io.EOF):
			return nil, io.ErrUnexpectedEOF
		default:
			return nil, err
		}
	}
}

// Close ends the stream; a Next blocked in another goroutine returns.
func (s *EventStream) Close() error {
	s.once.Do(func() {
		s.cancel()
		_ = s.body.Close()
	})
	return nil
}

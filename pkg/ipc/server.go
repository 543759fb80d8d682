package ipc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/ztagent/ztagent/internal/clock"
	"github.com/ztagent/ztagent/pkg/apierror"
	"github.com/ztagent/ztagent/pkg/ipc/ipcproto"
	"github.com/ztagent/ztagent/platform/peercred"
)

// Defaults of ServerOptions. Root and the operator each have
// DefaultMaxConnsPerUser connections and DefaultMaxSubscribersPerUser
// streams of their own on top of what the other users share, so agentd
// holds at most 64 connections and 16 streams.
const (
	DefaultMaxConns              = 32
	DefaultMaxConnsPerUser       = 16
	DefaultMaxSubscribers        = 8
	DefaultMaxSubscribersPerUser = 4
	DefaultReadHeaderTimeout     = 3 * time.Second
	DefaultReadTimeout           = 10 * time.Second
	DefaultWriteTimeout          = 60 * time.Second
	DefaultIdleTimeout           = 15 * time.Second
	DefaultEventWriteTimeout     = 5 * time.Second
	DefaultHeartbeatInterval     = 5 * time.Second
)

// eventSendBuffer is the socket send buffer of an event stream. Small, so
// that a subscriber that stops reading fills it with about a dozen
// heartbeats (measured on Linux: the kernel doubles it to 8 KiB and counts
// each line's overhead), about a minute at the default interval, and is
// then dropped by the write deadline; a reading subscriber takes lines
// larger than it in pieces.
const eventSendBuffer = 4 << 10

// maxRefusing bounds the connections being answered too_many_clients at
// once; beyond it a connection is closed without an answer, so a flood of
// refused connections cannot pile up in agentd either.
const maxRefusing = 64

// closeGrace is how long Close lets in-flight requests finish before it cuts
// their connections.
const closeGrace = 2 * time.Second

// ServerOptions configures NewServer.
//
// The socket is created with mode 0666: every local user must reach the GET
// routes (DESIGN §4), and who may do what is decided per request from the
// kernel's peer credentials by the permission table, never by file modes.
// What file modes must guarantee is that nobody else can replace the socket,
// so its directory must be a real directory (not a symlink), owned by root
// or by the daemon's user, and not writable by group or others (SEC1). The
// directory is created with mode 0755 when it is missing (its parent must
// exist). A daemon in user mode may keep its directory at 0700; other users
// then cannot reach it at all, which is what a per-user daemon wants.
type ServerOptions struct {
	// SocketPath is the unix socket to listen on. Required.
	SocketPath string
	// Backend answers the routes. Required.
	Backend Backend
	// DaemonVersion is sent in the Ztagent-Daemon-Version header.
	DaemonVersion string
	// Logger receives internal errors and dropped subscribers; none by
	// default.
	Logger *zap.Logger
	// Clock stamps the snapshot event; the real clock by default. Socket
	// deadlines always use the real clock, since the kernel enforces them.
	Clock clock.Clock
	// MaxConnsPerUser caps the open connections of each uid, root's and
	// the operator's included; MaxConns caps those of all other users
	// together. Root and the operator are not counted in MaxConns, so no
	// other user can take their connections. A caller beyond a cap is
	// answered 503 too_many_clients, saying whose connections hold the
	// slots, and disconnected. Defaults above when zero.
	MaxConns        int
	MaxConnsPerUser int
	// MaxSubscribersPerUser and MaxSubscribers cap event streams (each also
	// holds a connection) in the same way. Defaults above when zero.
	MaxSubscribers        int
	MaxSubscribersPerUser int
	// ReadHeaderTimeout bounds reading a request's header: how long a
	// connection that says nothing, or says it slowly, holds its slot.
	// ReadTimeout bounds reading a whole request; WriteTimeout bounds a
	// request from its start to the end of its response (event streams set
	// a deadline per line instead); IdleTimeout closes idle keep-alive
	// connections. Defaults above when zero.
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
	// EventWriteTimeout bounds writing one event line: a subscriber that
	// cannot take a line within it is dropped. DefaultEventWriteTimeout when
	// zero.
	EventWriteTimeout time.Duration
	// HeartbeatInterval is how often an event stream gets a heartbeat line
	// when nothing else happens, so that a subscriber that never reads
	// fills its socket and is dropped even on a quiet daemon.
	// DefaultHeartbeatInterval when zero.
	HeartbeatInterval time.Duration
	// IsConsoleUser reports whether uid is a person at this computer, who
	// may register an unregistered device (DESIGN §4). IsConsoleUser (the
	// platform's rule) when nil.
	IsConsoleUser func(uid int) bool
}

// Server is agentd's IPC server on a unix socket. It never listens on TCP.
type Server struct {
	opts    ServerOptions
	backend Backend
	log     *zap.Logger
	clock   clock.Clock
	index   routeIndex
	// writes are the state-changing routes, for GET /v1/permissions.
	writes []*Route
	// peerCred reads a caller's identity: peercred.Get (tests replace
	// it, to play a system where it cannot be read).
	peerCred func(net.Conn) (peercred.Cred, error)

	ln     net.Listener
	sockFI os.FileInfo
	hs     *http.Server

	// ctx is the parent of every request; cancelling it ends event streams
	// and backend calls when the server closes.
	ctx    context.Context
	cancel context.CancelFunc

	connSlots *slotTable
	subSlots  *slotTable
	refusing  atomic.Int64
	openMu    sync.Mutex
	open      map[net.Conn]*connInfo
	closeOnce sync.Once
	closeErr  error

	// Test hooks, called when a connection closes or a stream ends.
	testHookConnClosed func()
	testHookStreamDone func()
}

// NewServer returns a server listening on opts.SocketPath, after checking the
// socket's directory and removing a stale socket that nothing answers on.
// Call Serve to answer requests and Close to stop.
func NewServer(opts ServerOptions) (*Server, error) {
	if opts.Backend == nil {
		return nil, errors.New("ipc: ServerOptions.Backend is required")
	}
	s := newServer(opts)
	ln, fi, err := listenSocket(opts.SocketPath)
	if err != nil {
		s.cancel()
		return nil, err
	}
	s.ln, s.sockFI = ln, fi
	return s, nil
}

// newServer returns a server without a socket, whose ServeHTTP tests can
// call directly.
func newServer(opts ServerOptions) *Server {
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real()
	}
	if opts.IsConsoleUser == nil {
		opts.IsConsoleUser = IsConsoleUser
	}
	setDefault(&opts.MaxConns, DefaultMaxConns)
	setDefault(&opts.MaxConnsPerUser, DefaultMaxConnsPerUser)
	setDefault(&opts.MaxSubscribers, DefaultMaxSubscribers)
	setDefault(&opts.MaxSubscribersPerUser, DefaultMaxSubscribersPerUser)
	setDefault(&opts.ReadHeaderTimeout, DefaultReadHeaderTimeout)
	setDefault(&opts.ReadTimeout, DefaultReadTimeout)
	setDefault(&opts.WriteTimeout, DefaultWriteTimeout)
	setDefault(&opts.IdleTimeout, DefaultIdleTimeout)
	setDefault(&opts.EventWriteTimeout, DefaultEventWriteTimeout)
	setDefault(&opts.HeartbeatInterval, DefaultHeartbeatInterval)
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		opts:      opts,
		backend:   opts.Backend,
		log:       opts.Logger.Named("ipc"),
		clock:     opts.Clock,
		index:     newRouteIndex(),
		writes:    stateChanging(),
		peerCred:  peercred.Get,
		ctx:       ctx,
		cancel:    cancel,
		connSlots: newSlotTable(opts.MaxConnsPerUser, opts.MaxConns),
		subSlots:  newSlotTable(opts.MaxSubscribersPerUser, opts.MaxSubscribers),
		open:      map[net.Conn]*connInfo{},
	}
	s.hs = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: opts.ReadHeaderTimeout,
		ReadTimeout:       opts.ReadTimeout,
		WriteTimeout:      opts.WriteTimeout,
		IdleTimeout:       opts.IdleTimeout,
		MaxHeaderBytes:    16 << 10,
		BaseContext:       func(net.Listener) context.Context { return ctx },
		ConnContext:       s.connContext,
		ConnState:         s.connState,
		ErrorLog:          zap.NewStdLog(opts.Logger.Named("ipc.http")),
	}
	return s
}

func setDefault[T int | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

// SocketPath returns the path the server listens on.
func (s *Server) SocketPath() string { return s.opts.SocketPath }

// Serve answers requests until Close; it returns nil after Close, or the
// listener's error.
func (s *Server) Serve() error {
	if s.ln == nil {
		return errors.New("ipc: Serve on a server made without NewServer")
	}
	err := s.hs.Serve(s.ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Close stops the server: event streams end, requests in flight get a short
// grace period, every connection is closed and the socket file is removed
// (when it is still the one this server made). It is safe to call more than
// once.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.cancel()
		ctx, cancel := context.WithTimeout(context.Background(), closeGrace)
		defer cancel()
		if err := s.hs.Shutdown(ctx); err != nil {
			_ = s.hs.Close()
		}
		if s.ln != nil {
			// Shutdown closes only listeners Serve has seen.
			_ = s.ln.Close()
			s.closeErr = removeSocket(s.opts.SocketPath, s.sockFI)
		}
	})
	return s.closeErr
}

type connInfoKey struct{}

// connInfo is what the server knows about a connection, read once when it
// is accepted.
type connInfo struct {
	conn    net.Conn
	caller  Caller
	credErr error
	// slot is the connection's slot, when it got one.
	slot    slot
	hasSlot bool
	// refused says why a connection got no slot: it is answered
	// too_many_clients and closed.
	refused refusal
}

// unidentified is the refusal of a state change by a caller whose
// identity agentd could not read: on a system where it cannot tell who
// calls, it answers what anyone may read and changes nothing.
func unidentified(rt *Route, err error) *apierror.Error {
	return &apierror.Error{
		Code:    ipcproto.CodePermissionDenied,
		Message: fmt.Sprintf("agentd could not identify the calling process (%v), so it allows only read-only requests", err),
		Hint:    fmt.Sprintf("`%s` changes state; run it where agentd can read the caller's identity (see the README's platform table)", rt.Command),
	}
}

// noCredUID stands for callers whose credentials could not be read: they
// are refused, but still share the ordinary users' pool meanwhile.
const noCredUID = -1

func (s *Server) connContext(ctx context.Context, c net.Conn) context.Context {
	info := &connInfo{conn: c}
	cred, err := s.peerCred(c)
	if err != nil {
		info.credErr = err
		info.caller = Caller{UID: noCredUID, GID: noCredUID, PID: 0}
		s.log.Warn("refusing a caller whose credentials cannot be read", zap.Error(err))
	} else {
		info.caller = Caller{UID: cred.UID, GID: cred.GID, PID: cred.PID, SID: cred.SID}
	}
	privileged := err == nil && s.privileged(info.caller.UID)
	info.slot, info.refused = s.connSlots.acquire(info.caller.UID, privileged)
	info.hasSlot = info.refused == granted
	if !info.hasSlot && s.refusing.Add(1) > maxRefusing {
		// Too many refusals in flight to answer each one.
		_ = c.Close()
	}
	s.openMu.Lock()
	s.open[c] = info
	s.openMu.Unlock()
	return context.WithValue(ctx, connInfoKey{}, info)
}

// privileged reports whether uid is root or the operator, who have slots of
// their own that other users cannot take.
func (s *Server) privileged(uid int) bool {
	if uid == 0 {
		return true
	}
	op, registered := s.backend.Operator()
	return registered && uid == op
}

func (s *Server) connState(c net.Conn, st http.ConnState) {
	if st != http.StateClosed && st != http.StateHijacked {
		return
	}
	s.openMu.Lock()
	info := s.open[c]
	delete(s.open, c)
	s.openMu.Unlock()
	if info != nil {
		if info.hasSlot {
			s.connSlots.release(info.slot)
		} else {
			s.refusing.Add(-1)
		}
	}
	if h := s.testHookConnClosed; h != nil {
		h()
	}
}

// ServeHTTP applies the checks every request passes (version headers,
// connection cap, Origin/Referer, caller identity, route, permission, body
// bound) and then the route's handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set(ipcproto.APIVersionHeader, ipcproto.Version)
	h.Set(ipcproto.DaemonVersionHeader, s.opts.DaemonVersion)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")

	info, _ := r.Context().Value(connInfoKey{}).(*connInfo)
	if info == nil {
		s.writeError(w, &apierror.Error{Code: ipcproto.CodeInternal, Message: "request did not arrive on the IPC socket"})
		return
	}
	if !info.hasSlot {
		h.Set("Connection", "close")
		msg, hint := refusalMessage(info.refused, "IPC connections", info.caller.UID, s.opts.MaxConnsPerUser)
		s.writeError(w, &apierror.Error{
			Code: ipcproto.CodeTooManyClients, Message: msg, Hint: hint,
		})
		return
	}
	// A browser is the only client that sends these; a page must never
	// drive the daemon, even through a local proxy that reaches the socket.
	if r.Header.Get("Origin") != "" || r.Header.Get("Referer") != "" {
		s.writeError(w, &apierror.Error{
			Code: ipcproto.CodeForbiddenOrigin, Message: "requests from web pages are refused",
		})
		return
	}
	rt, allowed := s.index.lookup(r.Method, r.URL.Path)
	if rt == nil {
		if len(allowed) == 0 {
			s.writeError(w, &apierror.Error{
				Code: ipcproto.CodeNotFound, Message: "no such IPC route: " + r.URL.Path,
				Hint: "agentctl and agentd may be of different versions",
			})
			return
		}
		for _, m := range allowed {
			h.Add("Allow", m)
		}
		s.writeError(w, &apierror.Error{
			Code: ipcproto.CodeMethodNotAllowed, Message: r.Method + " is not allowed on " + r.URL.Path,
		})
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, ipcproto.MaxBodyBytes)
	if info.credErr != nil && rt.Who != Anyone {
		s.writeError(w, unidentified(rt, info.credErr))
		return
	}
	if e := authorize(r.Context(), s.backend, s.opts.IsConsoleUser, rt, info.caller); e != nil {
		s.writeError(w, e)
		return
	}
	rt.serve(s, w, r, info.caller)
}

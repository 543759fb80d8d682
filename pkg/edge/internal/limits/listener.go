package limits

import (
	"net"
	"net/http"
	"sync"
)

// Listener bounds the connections an http.Server holds at once, so that
// slow clients cannot take every file descriptor of the process (issue 12
// item 14: 20,000 slow connections from one local user made every
// listener fail). Set the server's ConnState to the Listener's ConnState.
//
// At its bound, Accept first closes the connection that has waited
// longest without a request being served on it (one still sending its
// headers, or idle between requests): those cost the server nothing to
// drop, and a client that dribbles its headers is the oldest of them. Only
// when every connection is running a handler does Accept wait for one to
// close; the server's ReadTimeout bounds a handler stuck reading a slow
// body. Connections the listener has not accepted wait in the kernel's
// backlog, which holds no file descriptor of ours.
type Listener struct {
	net.Listener
	max int

	mu      sync.Mutex
	open    map[*conn]struct{}
	waiting map[*conn]uint64 // connections without a request in progress, by when they became so
	seq     uint64           // orders waiting; a counter, since only the order matters
	freed   chan struct{}    // signalled (without blocking) when a connection closes
	closed  chan struct{}
	once    sync.Once

	// testHookWaiting is called when Accept starts waiting for room.
	testHookWaiting func()
}

// NewListener returns l bounded to max connections at once.
func NewListener(l net.Listener, max int) *Listener {
	return &Listener{Listener: l, max: max, open: make(map[*conn]struct{}), waiting: make(map[*conn]uint64),
		freed: make(chan struct{}, 1), closed: make(chan struct{})}
}

// Accept returns the next connection once there is room for it. It
// accepts before it makes room, so that a connection is closed only for
// one that has arrived; while it waits for room it holds that one (the
// bound is max plus the one being accepted).
func (l *Listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	lc := &conn{Conn: c, l: l}
	for {
		room, evict := l.admit(lc)
		switch {
		case room:
			return lc, nil
		case evict != nil:
			_ = evict.Close()
			continue
		}
		if h := l.testHookWaiting; h != nil {
			h()
		}
		select {
		case <-l.freed:
		case <-l.closed:
			_ = c.Close()
			return nil, net.ErrClosed
		}
	}
}

// admit counts c as open when there is room and reports whether it did;
// otherwise it returns the connection to close first, if any.
func (l *Listener) admit(c *conn) (bool, *conn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.open) < l.max {
		l.open[c] = struct{}{}
		l.seq++
		l.waiting[c] = l.seq
		return true, nil
	}
	var oldest *conn
	var since uint64
	for c, seq := range l.waiting {
		if oldest == nil || seq < since {
			oldest, since = c, seq
		}
	}
	if oldest != nil {
		delete(l.waiting, oldest) // one eviction per connection
	}
	return false, oldest
}

// Open returns the number of connections open now.
func (l *Listener) Open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.open)
}

// ConnState follows the server's connections: one that is running a
// handler is not closed to make room.
func (l *Listener) ConnState(nc net.Conn, st http.ConnState) {
	c, ok := nc.(*conn)
	if !ok {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, open := l.open[c]; !open {
		return
	}
	switch st {
	case http.StateActive, http.StateHijacked:
		delete(l.waiting, c)
	case http.StateIdle:
		l.seq++
		l.waiting[c] = l.seq
	}
}

// Close closes the listener; an Accept waiting for room returns.
func (l *Listener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return l.Listener.Close()
}

func (l *Listener) release(c *conn) {
	l.mu.Lock()
	delete(l.open, c)
	delete(l.waiting, c)
	l.mu.Unlock()
	select {
	case l.freed <- struct{}{}:
	default:
	}
}

// conn gives its slot back once, however often it is closed.
type conn struct {
	net.Conn
	l    *Listener
	once sync.Once
}

func (c *conn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c) })
	return err
}

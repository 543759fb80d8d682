// Package relay moves bytes between two connections for the tunnel's local
// proxy and the edge's forwarding stack: a stream splice that passes each
// direction's end on as a half-close, a datagram copy, an idle timer for
// flows that have no end of their own (UDP), and the buffer pools behind
// them, so that memory follows the copies in progress, not the flows ever
// opened.
package relay

import (
	"io"
	"net"
)

// StreamBufferSize is the copy buffer of one direction of one Splice.
const StreamBufferSize = 32 << 10

var streamBufs = NewPool(StreamBufferSize)

// Stats counts the bytes a Splice delivered each way.
type Stats struct {
	// Up is what went from the client to the upstream.
	Up int64
	// Down is what went from the upstream to the client.
	Down int64
}

// Splice copies between client and upstream until both directions have
// ended, then closes both, and returns what it delivered.
//
// An EOF in one direction is passed on as a half-close (CloseWrite, where
// the destination has one), so a protocol whose client shuts its sending
// side first still gets its answer. An error in either direction closes
// both connections, which ends the other direction too. A caller that
// must end a splice early closes either connection.
func Splice(client, upstream net.Conn) Stats {
	var st Stats
	done := make(chan struct{})
	go func() {
		defer close(done)
		st.Down = pipe(client, upstream)
	}()
	st.Up = pipe(upstream, client)
	<-done
	client.Close()
	upstream.Close()
	return st
}

// pipe copies src to dst and returns the bytes written.
func pipe(dst, src net.Conn) int64 {
	bp := streamBufs.Get()
	defer streamBufs.Put(bp)
	// The wrappers hide ReadFrom and WriteTo, which would bypass the pooled
	// buffer with one of their own for every call on a userspace conn.
	n, err := io.CopyBuffer(writerOnly{dst}, readerOnly{src}, *bp)
	if err != nil {
		dst.Close()
		src.Close()
		return n
	}
	if cw, ok := dst.(interface{ CloseWrite() error }); ok && cw.CloseWrite() == nil {
		return n
	}
	// No half-close: closing dst ends the other direction, whose reads
	// come from it, once that direction has written what it holds.
	dst.Close()
	return n
}

type readerOnly struct{ io.Reader }

type writerOnly struct{ io.Writer }

package tunnel

import (
	"io"
	"net"
	"sync"
)

// relayBufSize is the copy buffer of one direction of one flow. Buffers come
// from a pool, so memory follows the number of active copies, not of flows
// ever opened.
const relayBufSize = 32 << 10

var relayBufs = sync.Pool{New: func() any { b := make([]byte, relayBufSize); return &b }}

// relay copies between a client and an upstream until both directions end,
// then closes both. An EOF in one direction is passed on as a half-close, so
// protocols that shut down their sending side first still get their answer.
func relay(client, upstream net.Conn) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		pipe(upstream, client)
	}()
	pipe(client, upstream)
	<-done
	client.Close()
	upstream.Close()
}

func pipe(dst, src net.Conn) {
	buf := relayBufs.Get().(*[]byte)
	defer relayBufs.Put(buf)
	// The wrappers hide ReadFrom/WriteTo, which would bypass the pooled
	// buffer and allocate one per call for non-kernel connections.
	_, err := io.CopyBuffer(writerOnly{dst}, readerOnly{src}, *buf)
	if err != nil {
		// Closing both also unblocks the other direction.
		dst.Close()
		src.Close()
		return
	}
	if cw, ok := dst.(interface{ CloseWrite() error }); ok {
		if cw.CloseWrite() == nil {
			return
		}
	}
	dst.Close()
}

type readerOnly struct{ io.Reader }

type writerOnly struct{ io.Writer }

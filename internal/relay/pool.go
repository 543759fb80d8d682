package relay

import "sync"

// MaxDatagram is the largest UDP payload a stack may hand over after
// reassembling fragments; datagram buffers hold one.
const MaxDatagram = 65535

// Pool hands out buffers of one size and takes them back, so that a
// program's copy buffers are reused across flows instead of churning the
// garbage collector. It is safe for concurrent use.
type Pool struct {
	size int
	p    sync.Pool
}

// NewPool returns a Pool of size-byte buffers.
func NewPool(size int) *Pool {
	p := &Pool{size: size}
	p.p.New = func() any { b := make([]byte, size); return &b }
	return p
}

// Get returns a buffer of the pool's size. The pointer, not the slice,
// goes back to Put, so that neither call allocates.
func (p *Pool) Get() *[]byte { return p.p.Get().(*[]byte) }

// Put returns b to the pool. A buffer of another size (one a caller
// resliced for good) is dropped rather than handed out short.
func (p *Pool) Put(b *[]byte) {
	if b == nil || cap(*b) < p.size {
		return
	}
	*b = (*b)[:p.size]
	p.p.Put(b)
}

// Size returns the length of the pool's buffers.
func (p *Pool) Size() int { return p.size }

var datagramBufs = NewPool(MaxDatagram)

// DatagramPool returns the process's pool of MaxDatagram-byte buffers,
// shared by everything that relays UDP.
func DatagramPool() *Pool { return datagramBufs }

package anaplan

import (
	"sync"
	"sync/atomic"
)

// Chunk buffers, kept across calls: an upload or a download takes its
// buffers from sharedBuffers and gives them back when it ends, so that a
// program moving files one after another allocates (and zeroes, and faults
// in) its chunk buffers once rather than on every call. A buffer is given
// back only when nothing uses it any more: for an upload, once the
// transport has closed every request body over it (see chunkBody); for a
// download, once the chunk is written and its fetch is over.

// sharedBuffers are the buffers kept between calls, by exact capacity.
var sharedBuffers bufferPool

// chunkSizeHint is the size of the last download chunk that needed a new
// buffer: a download asks sharedBuffers for buffers of that size first.
var chunkSizeHint atomic.Int64

// maxPooledSizes bounds the sizes kept; buffers of other sizes are
// dropped. Pools are emptied by the garbage collector (sync.Pool), so what
// is kept is not held for ever.
const maxPooledSizes = 16

// minPooled is the smallest buffer worth keeping.
const minPooled = 64 << 10

type bufferPool struct {
	mu    sync.Mutex
	sizes map[int]*sync.Pool
}

func (p *bufferPool) pool(n int, create bool) *sync.Pool {
	p.mu.Lock()
	defer p.mu.Unlock()
	sp := p.sizes[n]
	if sp == nil && create && len(p.sizes) < maxPooledSizes {
		if p.sizes == nil {
			p.sizes = map[int]*sync.Pool{}
		}
		sp = new(sync.Pool)
		p.sizes[n] = sp
	}
	return sp
}

// get returns an empty buffer of capacity n kept from an earlier call, or
// nil.
func (p *bufferPool) get(n int) []byte {
	if n < minPooled {
		return nil
	}
	if sp := p.pool(n, false); sp != nil {
		if b, ok := sp.Get().(*[]byte); ok {
			return (*b)[:0]
		}
	}
	return nil
}

// put keeps b for a later call; nothing may use it any more.
func (p *bufferPool) put(b []byte) {
	if cap(b) < minPooled {
		return
	}
	if sp := p.pool(cap(b), true); sp != nil {
		b = b[:0]
		sp.Put(&b)
	}
}

// chunkBuffers are the buffers of one upload. It holds max buffers at most
// (the chunk being read and those in flight); live counts those handed out
// or kept, so that a buffer given back late (its body closed by the
// transport after the request ended, when a new buffer had to be made
// meanwhile) goes to sharedBuffers rather than beyond the bound. New
// buffers come from sharedBuffers when it has some of the chunk size.
type chunkBuffers struct {
	mu     sync.Mutex
	free   [][]byte
	live   int
	max    int
	size   int  // the chunk size
	closed bool // the upload is over: buffers go to sharedBuffers
}

// chunkBuffersOut counts the buffers of uploads handed out by get and not
// yet given back with put, across all uploads: the tests check that every
// one comes back.
var chunkBuffersOut atomic.Int64

// get returns a buffer to fill, or nil when a new one must be made. The
// buffer (or the one made in its place) must be given back with put.
func (p *chunkBuffers) get() []byte {
	chunkBuffersOut.Add(1)
	p.mu.Lock()
	defer p.mu.Unlock()
	if k := len(p.free); k > 0 {
		b := p.free[k-1]
		p.free = p.free[:k-1]
		return b
	}
	p.live++
	return sharedBuffers.get(p.size)
}

// put gives a buffer back: nothing may use it any more.
func (p *chunkBuffers) put(b []byte) {
	chunkBuffersOut.Add(-1)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.live > p.max || cap(b) == 0 {
		p.live--
		if cap(b) == p.size {
			sharedBuffers.put(b)
		}
		return
	}
	p.free = append(p.free, b[:0])
}

// close ends the upload: the buffers kept go to sharedBuffers, and so do
// those given back later.
func (p *chunkBuffers) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for _, b := range p.free {
		if cap(b) == p.size {
			sharedBuffers.put(b)
		}
	}
	p.free = nil
}

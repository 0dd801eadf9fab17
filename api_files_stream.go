package anaplan

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"sync"
)

// Sized uploads: when UploadOptions.Size says how long the data is (and
// Gzip is off), the length of every chunk is known before the chunk is
// read, min(ChunkSize, Size − n×ChunkSize). Anaplan's chunk PUT carries a
// Content-Length (chunked transfer encoding is not documented for it), so
// that is what lets a chunk's PUT start at once, with that length, and read
// the source while the transport sends it, rather than after the whole
// chunk has been staged in memory. Every byte read is also copied into the
// chunk's staging buffer (a tee), so that a retry serves the staged bytes
// and then goes on from the source where staging stopped.
//
// The source is read by one chunk at a time, in order: the upload loop
// reads chunk n ahead of its request (which sends what is staged as it
// comes), and starts chunk n+1 only once chunk n is staged (its length
// reached, or the source ended or failed), so that several chunks are
// sent at once while the source is read at its own pace. The staging buffers are the upload's chunk
// buffers, so memory stays within ChunkSize × (Concurrency+1).

// errShortSource is a chunk body's Read error when the source ends before
// the chunk's announced length: the transport must not send a short body
// as if it were complete.
var errShortSource = errors.New("anaplan: the data to upload ended before the length given as UploadOptions.Size")

// errChunkOver: a body needed more of the source after its chunk's
// requests were over.
var errChunkOver = errors.New("anaplan: a chunk's body was read after its requests ended")

// streamChunk is one chunk of a sized upload: its staging buffer, the
// source it stages from, and the bodies handed to the transport over it.
type streamChunk struct {
	want    int          // the expected length: the first request's Content-Length
	release func([]byte) // gives the staging buffer back

	// readMu is held while the source is read, so that one body at a time
	// stages; it is taken before mu. Bytes past len(buf) are written only
	// under readMu, and bodies only read bytes below len(buf), so the
	// source is read without holding mu.
	readMu sync.Mutex
	src    io.Reader // nil once sealed: the chunk's requests are over

	mu     sync.Mutex
	buf    []byte // the staged bytes; cap(buf) >= want
	ended  bool   // the source returned io.EOF
	err    error  // the source failed
	refs   int    // the sender's hold and the bodies not yet closed
	closed bool   // staging is over
}

// newStreamChunk stages up to want bytes of src into buf's storage (a new
// buffer when buf is too small; either is given to release at the end).
func newStreamChunk(src io.Reader, buf []byte, want int, release func([]byte)) *streamChunk {
	if cap(buf) < want {
		buf = make([]byte, 0, want)
	}
	return &streamChunk{want: want, release: release, src: src, buf: buf[:0], refs: 1}
}

// overLocked marks staging over once the chunk's length is
// reached, the source ended or failed, or the chunk was sealed.
func (s *streamChunk) overLocked() {
	if len(s.buf) >= s.want || s.ended || s.err != nil || s.src == nil {
		s.closed = true
	}
}

// stagePiece is the most one Read of the source stages: the upload loop
// reads a chunk ahead of its request (so that reading the source keeps
// its own pace, not the connection's), and the request's body gets the
// bytes piece by piece rather than after one large Read.
const stagePiece = 1 << 20

// fillTo reads the source until k bytes are staged or staging is over. It
// holds readMu for one Read at a time, so that a body waiting for bytes
// gets them as soon as the piece being read is staged.
func (s *streamChunk) fillTo(k int) {
	for s.fillPiece(k) {
	}
}

// fillPiece reads one piece; it reports whether more is needed.
func (s *streamChunk) fillPiece(k int) bool {
	s.readMu.Lock()
	defer s.readMu.Unlock()
	{
		s.mu.Lock()
		n, buf, src := len(s.buf), s.buf, s.src
		over := s.closed
		s.mu.Unlock()
		if n >= k || over {
			return false
		}
		end := min(s.want, n+stagePiece)
		m, err := src.Read(buf[n:end])
		m = max(0, min(m, end-n)) // a broken reader cannot push staging out of bounds
		s.mu.Lock()
		s.buf = buf[:n+m]
		switch {
		case err == io.EOF:
			s.ended = true
		case err != nil:
			s.err = err
		}
		s.overLocked()
		s.mu.Unlock()
	}
	return true
}

// seal ends staging once the chunk's requests are over: no body reads the
// source after this, and Upload never returns while one is reading it.
func (s *streamChunk) seal() {
	s.readMu.Lock()
	defer s.readMu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.src = nil
	s.overLocked()
}

// result is what has been staged, and how staging ended.
func (s *streamChunk) result() (n int, ended bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.buf), s.ended, s.err
}

// stopErrLocked is why no more bytes can be staged.
func (s *streamChunk) stopErrLocked() error {
	switch {
	case s.err != nil:
		return errorf("anaplan: reading the data to upload: %w", s.err)
	case s.ended:
		return errShortSource
	}
	return errChunkOver
}

// open returns a new body of the chunk's first limit bytes for the request
// that abort ends; it serves as GetBody. It refuses a body the source can
// no longer fill, so that the transport never retries a request with a
// Content-Length its data no longer has.
func (s *streamChunk) open(limit int, abort context.CancelCauseFunc) (io.ReadCloser, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.refs == 0 {
		return nil, errors.New("anaplan: a chunk's body was asked for after its request ended")
	}
	if s.closed && len(s.buf) < limit {
		return nil, s.stopErrLocked()
	}
	if limit == 0 {
		return http.NoBody, nil
	}
	s.refs++
	return &streamBody{bodyHold: bodyHold{drop: s.drop}, s: s, limit: limit, abort: abort}, nil
}

// drop ends one hold; the last one gives the buffer back.
func (s *streamChunk) drop() {
	s.mu.Lock()
	s.refs--
	last, buf := s.refs == 0, s.buf
	s.mu.Unlock()
	if last {
		s.release(buf)
	}
}

// next returns staged bytes from off, below limit, staging more when none
// are; with none to give, the error says why.
func (s *streamChunk) next(off, limit int) ([]byte, error) {
	for try := 0; ; try++ {
		s.mu.Lock()
		if off < len(s.buf) {
			b := s.buf[off:min(len(s.buf), limit)]
			s.mu.Unlock()
			return b, nil
		}
		if try == 1 || s.closed {
			err := s.stopErrLocked()
			s.mu.Unlock()
			return nil, err
		}
		s.mu.Unlock()
		s.fillTo(off + 1)
	}
}

// streamBody is one request body over a chunk of a sized upload: it reads
// the staged bytes, staging more from the source as it needs them.
type streamBody struct {
	bodyHold
	s     *streamChunk
	limit int
	off   int
	abort context.CancelCauseFunc // ends the body's request
}

// Read implements io.Reader.
func (b *streamBody) Read(p []byte) (int, error) {
	if err := b.start(); err != nil {
		return 0, err
	}
	defer b.end()
	if b.off >= b.limit {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	data, err := b.s.next(b.off, b.limit)
	if err != nil {
		// The request can only fail now: end it at once rather than let
		// the transport wait to retry it (GetBody would refuse anyway).
		b.abort(err)
		return 0, err
	}
	n := copy(p, data)
	b.off += n
	return n, nil
}

// sendStreamed PUTs chunk n of a sized upload while it is read, and
// acknowledges it in the progress once Anaplan has it all.
func (up *uploader) sendStreamed(ctx context.Context, n int, s *streamChunk) error {
	defer s.drop() // the sender's hold, after seal: no body is asked for once the requests are over
	err := up.putStreamed(ctx, n, s, s.want)
	if err == nil {
		// Anaplan answered before the transport read the whole body:
		// stage the rest all the same, so that the next chunk reads the
		// source where this one ends (and a source that ends early here
		// is found).
		s.fillTo(s.want)
	}
	s.seal()
	k, ended, rerr := s.result()
	if rerr != nil {
		return errorf("anaplan: reading the data to upload: %w", rerr)
	}
	if k < s.want {
		if !ended {
			return errorf("anaplan: uploading chunk %d: %w", n, err) // the request failed before its body was read
		}
		// The source ended inside this chunk, shorter than Size said. The
		// request with the announced length was cut (its body failed, and
		// refused to be sent again); the chunk, now fully staged, goes
		// again with its real length, and it is the last. Should Anaplan
		// have kept part of the cut request, this PUT replaces it, and it
		// comes before complete.
		err = up.putStreamed(ctx, n, s, k)
	}
	if err != nil {
		return errorf("anaplan: uploading chunk %d: %w", n, err)
	}
	up.mu.Lock()
	defer up.mu.Unlock()
	up.progress.Bytes += int64(k)
	up.progress.Chunks++
	if up.opts.Progress != nil {
		up.opts.Progress(up.progress)
	}
	return nil
}

// putStreamed sends one PUT of the chunk's first limit bytes. A body that
// finds the source cannot fill it ends the request at once.
func (up *uploader) putStreamed(ctx context.Context, n int, s *streamChunk, limit int) error {
	rctx, abort := context.WithCancelCause(ctx)
	defer abort(nil)
	req, err := up.m.c.newRequest(rctx, http.MethodPut, up.fileURL+"/chunks/"+strconv.Itoa(n), nil, "application/octet-stream")
	if err != nil {
		return err
	}
	open := func() (io.ReadCloser, error) { return s.open(limit, abort) }
	if req.Body, err = open(); err != nil {
		return err
	}
	req.ContentLength = int64(limit)
	req.GetBody = open
	resp, err := up.m.c.send(req, true)
	if err != nil {
		return err
	}
	drain(resp.Body)
	return nil
}

package anaplan

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
)

// Moving files: chunked, concurrent, memory-bounded uploads and downloads.

// Defaults of UploadOptions and DownloadOptions.
const (
	DefaultChunkSize   = 8 << 20 // bytes of data in one uploaded chunk
	DefaultConcurrency = 4       // chunks in flight at once
	MaxConcurrency     = 64      // the most chunks in flight at once that the options accept
	maxChunkSize       = 1 << 30
	probeSize          = 64 << 10 // first read of an upload: small inputs never get a full chunk buffer
)

// TransferProgress reports how far an upload or a download has come, to the
// Progress callback of UploadOptions and DownloadOptions. Sizes are of the
// data itself, before any compression. (A task's progress is the fraction
// Task.Progress, reported to RunOptions.Progress.)
type TransferProgress struct {
	Bytes       int64 // bytes acknowledged (upload) or written (download) so far
	TotalBytes  int64 // -1 while unknown
	Chunks      int   // chunks done
	TotalChunks int   // -1 while unknown
}

// Progress is the former name of TransferProgress.
//
// Deprecated: use TransferProgress; "progress" also names Task.Progress and
// the options' Progress callbacks.
type Progress = TransferProgress

// UploadOptions tune ModelHandle.Upload. The zero value (or nil) is fine.
type UploadOptions struct {
	// ChunkSize is the data in one chunk before compression (default
	// DefaultChunkSize). Anaplan asks for chunks of 1 to 50 MB.
	ChunkSize int
	// Concurrency is the number of chunks sent at once, from 1 to
	// MaxConcurrency (default DefaultConcurrency). Memory used is about
	// ChunkSize × (Concurrency+1), whatever the size of the file (next to
	// nothing for the inputs Upload sends without staging); with
	// Gzip, add up to ChunkSize × Concurrency for the compressed copies of
	// data that does not compress. A chunk is reused only once the
	// transport has closed its request body; one the transport still holds
	// after its answer (net/http allows that) is replaced by a new buffer
	// meanwhile, and dropped when given back. Chunk buffers are kept
	// between calls (emptied by the garbage collector), so that moving
	// files one after another does not allocate them anew each time.
	Concurrency int
	// Gzip sends every chunk gzipped, as application/x-gzip.
	Gzip bool
	// Size is the length of the data when known; zero means unknown. It
	// feeds TransferProgress.TotalBytes and, without Gzip, lets each chunk
	// start sending as it is read: the length of every chunk is then known
	// in advance (ChunkSize, and what is left for the last one), so its PUT
	// starts at once with that Content-Length and reads r while the
	// transport sends it, instead of waiting for the whole chunk to be read
	// into memory first. The memory used is the same.
	//
	// A reader that does not match Size still uploads exactly what it
	// yields. A chunk's request starts once its first bytes are read, so
	// one that ends at a chunk's start costs nothing, and one that ends
	// inside a chunk costs one cut request: that chunk is sent again with
	// its real length, and it is the last. One
	// that yields more than Size goes on in further chunks, each read whole
	// into memory before it is sent, as when Size is not given. Until the
	// end of the data is seen, TotalBytes says Size. The inputs Upload sends
	// straight from their bytes know their length: Size is not used for
	// them.
	Size int64
	// Progress, when set, is called after each chunk is acknowledged, from
	// one goroutine at a time; the last call has the totals (Chunks ==
	// TotalChunks). It must not block for long.
	Progress func(TransferProgress)
}

// DownloadOptions tune ModelHandle.Download. The zero value (or nil) is fine.
type DownloadOptions struct {
	// Concurrency is the number of chunks fetched at once, from 1 to
	// MaxConcurrency (default DefaultConcurrency). Chunks are written in order; memory used is about
	// Concurrency chunks, whatever the size of the file.
	Concurrency int
	// Progress, when set, is called after each chunk is written, from the
	// goroutine that called Download.
	Progress func(TransferProgress)
}

func (o *UploadOptions) resolved() (UploadOptions, error) {
	var v UploadOptions
	if o != nil {
		v = *o
	}
	switch {
	case v.ChunkSize == 0:
		v.ChunkSize = DefaultChunkSize
	case v.ChunkSize < 0 || v.ChunkSize > maxChunkSize:
		return v, errorf("anaplan: UploadOptions.ChunkSize %d is out of range: use 1 byte to 1 GiB (Anaplan asks for 1 to 50 MB), or 0 for the default", v.ChunkSize)
	}
	c, err := concurrency("UploadOptions", v.Concurrency)
	v.Concurrency = c
	return v, err
}

// concurrency checks and defaults the Concurrency of the options named.
func concurrency(options string, n int) (int, error) {
	switch {
	case n == 0:
		return DefaultConcurrency, nil
	case n < 0 || n > MaxConcurrency:
		return n, errorf("anaplan: %s.Concurrency %d is out of range: use 1 to %d, or 0 for the default (%d)", options, n, MaxConcurrency, DefaultConcurrency)
	}
	return n, nil
}

// fileURL is the URL of a file of the model.
func (m *ModelHandle) fileURL(fileID string) string {
	return m.base + "/files/" + url.PathEscape(fileID)
}

// Upload replaces the content of the model's file fileID with what r yields,
// and returns the number of bytes read from r.
//
// The length of r need not be known: Upload announces an unknown number of
// chunks (chunkCount -1), sends chunks of ChunkSize bytes, Concurrency at a
// time, and then marks the file complete. Memory stays bounded by the chunk
// size and the concurrency however long r is. A chunk that fails with 429,
// 502, 503, 504 or a network error is sent again by the client's transport.
// An empty r uploads an empty file (one empty chunk).
//
// A *bytes.Reader, *strings.Reader, *io.SectionReader or regular *os.File
// (without Gzip) is sent straight from its bytes, from its current position
// to its end as it is when Upload starts: no chunk is copied into a buffer
// first, and each chunk starts sending at once. The reader is then left
// after the bytes sent, as if read.
//
// Any other reader is read a chunk at a time into a buffer. When
// UploadOptions.Size gives its length (and without Gzip), each chunk's PUT
// starts as soon as it is the chunk's turn to read r and sends the data
// while reading it, so that reading and sending overlap. Without Size, a
// chunk is sent only once it has been read whole, since Anaplan's chunk
// PUT needs its length up front. A reader shorter or longer than Size
// still uploads exactly what it yields (see UploadOptions.Size). r is read
// by one goroutine at a time, in order, and never after Upload returns.
//
// On error nothing is completed, and the file keeps its previous content.
// Cancelling ctx stops the upload; the error then wraps ctx's error.
func (m *ModelHandle) Upload(ctx context.Context, fileID string, r io.Reader, opts *UploadOptions) (int64, error) {
	if r == nil {
		return 0, errors.New("anaplan: Upload needs a reader of the data to upload: pass strings.NewReader(\"\") for an empty file")
	}
	o, err := opts.resolved()
	if err != nil {
		return 0, err
	}
	fu := m.fileURL(fileID)
	var start struct {
		File *File `json:"file"`
	}
	if err := m.c.sendJSON(ctx, http.MethodPost, fu, map[string]int{"chunkCount": -1}, &start, true); err != nil {
		return 0, err
	}
	if start.File != nil && start.File.ID != "" && start.File.ID != fileID {
		// Anaplan created another file rather than taking this one's
		// chunks: sending them to fileID would leave it orphaned.
		return 0, errorf("anaplan: upload of file %s refused: Anaplan answered with another file, %s (%q), which it has just created; nothing was sent: check the file ID (Files lists the model's files) and delete %s in Anaplan if it is not wanted", fileID, start.File.ID, start.File.Name, start.File.ID)
	}

	up := &uploader{m: m, fileURL: fu, opts: o, bufs: chunkBuffers{max: o.Concurrency + 1, size: o.ChunkSize}}
	defer up.bufs.close()
	up.progress.TotalBytes, up.progress.TotalChunks = -1, -1
	if o.Size > 0 {
		up.progress.TotalBytes = o.Size
	}
	var chunks int
	var read int64
	if src, ok := sectionSource(r); ok && !o.Gzip {
		chunks, read, err = up.runSections(ctx, src)
	} else {
		chunks, read, err = up.run(ctx, r)
	}
	if err != nil {
		if ctx.Err() != nil {
			return up.done(), errorf("anaplan: upload of file %s stopped after %d bytes: %w", fileID, up.done(), context.Cause(ctx))
		}
		return up.done(), err
	}

	if err := m.c.sendJSON(ctx, http.MethodPost, fu+"/complete", completeBody(fileID, start.File, chunks), nil, true); err != nil {
		return read, err
	}
	return read, nil
}

// fileComplete is the body of POST …/files/{id}/complete: the superset of
// what the sources send (ANAPLAN-DATA.md §8): the file's metadata with a
// string id, as Anaplan's guide shows it, fields not known left out.
type fileComplete struct {
	ID           string `json:"id"`
	Name         string `json:"name,omitempty"`
	ChunkCount   int    `json:"chunkCount"`
	FirstDataRow int    `json:"firstDataRow,omitempty"`
	HeaderRow    int    `json:"headerRow,omitempty"`
	Delimiter    string `json:"delimiter,omitempty"`
	Encoding     string `json:"encoding,omitempty"`
	Format       string `json:"format,omitempty"`
	Separator    string `json:"separator,omitempty"`
}

// completeBody builds the complete body from the upload start's answer.
func completeBody(fileID string, f *File, chunks int) fileComplete {
	b := fileComplete{ID: fileID, ChunkCount: chunks}
	if f != nil {
		b.Name, b.FirstDataRow, b.HeaderRow = f.Name, f.FirstDataRow, f.HeaderRow
		b.Delimiter, b.Encoding, b.Format, b.Separator = f.Delimiter, f.Encoding, f.Format, f.Separator
	}
	return b
}

// uploader is one Upload in progress.
type uploader struct {
	m       *ModelHandle
	fileURL string
	opts    UploadOptions
	bufs    chunkBuffers // chunk buffers that may be reused

	mu       sync.Mutex
	progress TransferProgress
	zpool    sync.Pool // *gzip.Writer
	bpool    sync.Pool // *bytes.Buffer for compressed chunks
}

func (up *uploader) done() int64 {
	up.mu.Lock()
	defer up.mu.Unlock()
	return up.progress.Bytes
}

// sendGroup runs an upload's chunk requests: the first failure cancels
// the others and is the upload's error.
type sendGroup struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
	wg     sync.WaitGroup
	once   sync.Once
	err    error
}

func newSendGroup(parent context.Context) *sendGroup {
	g := new(sendGroup)
	g.ctx, g.cancel = context.WithCancelCause(parent)
	return g
}

func (g *sendGroup) fail(err error) { g.once.Do(func() { g.err = err; g.cancel(err) }) }

// acquire takes a place in sem, and reports false (holding it or not)
// once the group is cancelled.
func (g *sendGroup) acquire(sem chan struct{}) bool {
	select {
	case sem <- struct{}{}:
	case <-g.ctx.Done():
	}
	return g.ctx.Err() == nil
}

// wait waits for every request, ends the group, and returns the first
// failure, or parent's error if it ended meanwhile.
func (g *sendGroup) wait(parent context.Context) error {
	g.wg.Wait()
	g.cancel(nil)
	if g.err == nil && parent.Err() != nil {
		return parent.Err()
	}
	return g.err
}

// run reads r chunk by chunk and sends the chunks. It returns the number of
// chunks and of bytes sent, once all were acknowledged.
func (up *uploader) run(parent context.Context, r io.Reader) (chunks int, read int64, err error) {
	g := newSendGroup(parent)
	ctx, fail := g.ctx, g.fail
	// slots bound the chunks held at once (one being read, Concurrency
	// being sent), and so the memory; inflight bounds the requests (with
	// Gzip a chunk's slot is given back before its compressed copy is sent).
	slots := make(chan struct{}, up.opts.Concurrency+1)
	inflight := make(chan struct{}, up.opts.Concurrency)
	size := int64(up.opts.ChunkSize)
	for n := 0; ; n++ {
		if !g.acquire(slots) {
			break
		}
		if left := up.opts.Size - int64(n)*size; !up.opts.Gzip && left > 0 {
			// The chunk's length is known before it is read: its PUT
			// starts now and reads the source as it goes (see
			// streamChunk). Data beyond Size is staged, as without it.
			if !g.acquire(inflight) {
				break
			}
			s := newStreamChunk(r, up.bufs.get(), int(min(left, size)), up.bufs.put)
			// The request starts once the chunk has its first bytes: a
			// source that has already ended sends no request for a chunk
			// that does not exist, and one whose end is already staged
			// announces its real length.
			s.fillTo(1)
			if k, ended, rerr := s.result(); rerr == nil && ended {
				if k == 0 && n > 0 {
					<-inflight
					<-slots
					s.drop()
					chunks = n
					break
				}
				s.want = k // no body exists yet
			}
			g.wg.Go(func() {
				defer func() { <-inflight; <-slots }()
				if err := up.sendStreamed(ctx, n, s); err != nil {
					fail(err)
				}
			})
			// Read the chunk ahead of its request, at the source's pace;
			// the next chunk reads the source only once this one is
			// staged. Its request may end before it is all read: the
			// chunk is then sealed, this stops, and the upload fails.
			s.fillTo(s.want)
			k, ended, rerr := s.result()
			switch {
			case ctx.Err() != nil:
			case rerr != nil:
				fail(errorf("anaplan: reading the data to upload: %w", rerr))
			case k < s.want && !ended:
				// Sealed unstaged: the request failed, and its sender
				// reports why.
			case ended:
				read += int64(k)
				chunks = n + 1
			default:
				read += int64(k)
				continue
			}
			break
		}
		data, rerr := fill(r, up.bufs.get(), up.opts.ChunkSize)
		if rerr != nil && rerr != io.EOF {
			up.bufs.put(data)
			fail(errorf("anaplan: reading the data to upload: %w", rerr))
			break
		}
		if len(data) == 0 && n > 0 {
			up.bufs.put(data)
			chunks = n
			break
		}
		if !g.acquire(inflight) {
			up.bufs.put(data)
			break
		}
		read += int64(len(data))
		g.wg.Go(func() {
			defer func() { <-inflight }()
			if err := up.send(ctx, n, data, func() { <-slots }); err != nil {
				fail(err)
			}
		})
		if rerr == io.EOF {
			chunks = n + 1
			break
		}
	}
	up.mu.Lock()
	up.progress.TotalChunks, up.progress.TotalBytes = chunks, read
	if chunks > 0 && up.progress.Chunks == chunks && up.opts.Progress != nil {
		// Every chunk was acknowledged before the end of the data was seen:
		// report the totals once more.
		up.opts.Progress(up.progress)
	}
	up.mu.Unlock()
	if err := g.wait(parent); err != nil {
		return 0, read, err
	}
	return chunks, read, nil
}

// readerAtSource is an input whose bytes can be read at any offset and
// whose length is known: its chunks are sent straight from it, without
// being copied into chunk buffers first.
type readerAtSource struct {
	ra    io.ReaderAt
	start int64 // the reader's position when Upload began
	size  int64 // bytes from start to the end
	seek  io.Seeker
}

// sectionSource recognises the inputs whose chunks can be sent without
// staging: *bytes.Reader, *strings.Reader, *io.SectionReader and regular
// *os.File, from their current position to their end as it is when Upload
// starts.
func sectionSource(r io.Reader) (readerAtSource, bool) {
	type sized interface {
		io.ReaderAt
		io.Seeker
		Size() int64
	}
	if f, ok := r.(*os.File); ok {
		st, err := f.Stat()
		if err != nil || !st.Mode().IsRegular() {
			return readerAtSource{}, false
		}
		pos, err := f.Seek(0, io.SeekCurrent)
		if err != nil || pos > st.Size() {
			return readerAtSource{}, false
		}
		return readerAtSource{ra: f, start: pos, size: st.Size() - pos, seek: f}, true
	}
	switch r.(type) {
	case *bytes.Reader, *strings.Reader, *io.SectionReader:
		v := r.(sized)
		pos, err := v.Seek(0, io.SeekCurrent)
		if err != nil || pos > v.Size() {
			return readerAtSource{}, false
		}
		return readerAtSource{ra: v, start: pos, size: v.Size() - pos, seek: v}, true
	}
	return readerAtSource{}, false
}

// runSections sends the chunks of src straight from it, Concurrency at a
// time: no chunk is copied before its request starts, and no chunk buffer
// is used. The reader is left after the bytes acknowledged, as if read.
func (up *uploader) runSections(parent context.Context, src readerAtSource) (chunks int, read int64, err error) {
	g := newSendGroup(parent)
	ctx, fail := g.ctx, g.fail
	size := int64(up.opts.ChunkSize)
	chunks = int(max((src.size+size-1)/size, 1)) // an empty input is one empty chunk
	up.mu.Lock()
	up.progress.TotalChunks, up.progress.TotalBytes = chunks, src.size
	up.mu.Unlock()
	inflight := make(chan struct{}, up.opts.Concurrency)
	for n := range chunks {
		if !g.acquire(inflight) {
			break
		}
		off := int64(n) * size
		length := min(size, src.size-off)
		g.wg.Go(func() {
			defer func() { <-inflight }()
			if err := up.sendSection(ctx, n, io.NewSectionReader(src.ra, src.start+off, length)); err != nil {
				fail(err)
			}
		})
	}
	if err := g.wait(parent); err != nil {
		_, _ = src.seek.Seek(src.start+up.done(), io.SeekStart)
		return 0, up.done(), err
	}
	_, _ = src.seek.Seek(src.start+src.size, io.SeekStart)
	return chunks, src.size, nil
}

// sendSection PUTs chunk n from sec; a retry reads it again from the start.
func (up *uploader) sendSection(ctx context.Context, n int, sec *io.SectionReader) error {
	req, err := up.m.c.newRequest(ctx, http.MethodPut, up.fileURL+"/chunks/"+strconv.Itoa(n), nil, "application/octet-stream")
	if err != nil {
		return err
	}
	open := func() (io.ReadCloser, error) {
		if sec.Size() == 0 {
			return http.NoBody, nil
		}
		return io.NopCloser(io.NewSectionReader(sec, 0, sec.Size())), nil
	}
	req.ContentLength = sec.Size()
	req.Body, _ = open()
	req.GetBody = open
	resp, err := up.m.c.send(req, true)
	if err != nil {
		return errorf("anaplan: uploading chunk %d: %w", n, err)
	}
	drain(resp.Body)
	up.mu.Lock()
	defer up.mu.Unlock()
	up.progress.Bytes += sec.Size()
	up.progress.Chunks++
	if up.opts.Progress != nil {
		up.opts.Progress(up.progress)
	}
	return nil
}

// fill reads up to size bytes from r into buf (reusing its storage) and
// returns them; io.EOF means r has nothing more. A buffer starts small and
// grows to size only when r has that much, so small inputs stay cheap.
func fill(r io.Reader, buf []byte, size int) ([]byte, error) {
	if cap(buf) == 0 {
		buf = make([]byte, 0, min(size, probeSize))
	}
	buf = buf[:0]
	for len(buf) < size {
		if len(buf) == cap(buf) {
			nb := make([]byte, len(buf), size)
			copy(nb, buf)
			buf = nb
		}
		k, err := r.Read(buf[len(buf):min(cap(buf), size)])
		buf = buf[:len(buf)+k]
		if err != nil {
			return buf, err
		}
	}
	return buf, nil
}

// send PUTs chunk n, gzipped when asked, and calls done when the chunk's
// slot is free again: once its data is compressed, or when the request is
// over. The memory behind the request body is reused only once the
// transport has closed every body it was given (see chunkBody).
func (up *uploader) send(ctx context.Context, n int, data []byte, done func()) error {
	body, ctype := data, "application/octet-stream"
	release := func() { up.bufs.put(data) }
	if up.opts.Gzip {
		zbuf := up.compress(data)
		up.bufs.put(data) // the raw data is no longer needed
		done()
		done = func() {}
		body, ctype = zbuf.Bytes(), "application/x-gzip"
		release = func() { up.bpool.Put(zbuf) }
	}
	defer done()
	req, err := up.m.c.newRequest(ctx, http.MethodPut, up.fileURL+"/chunks/"+strconv.Itoa(n), nil, ctype)
	if err != nil {
		release()
		return err
	}
	cb := newChunkBody(body, release)
	defer cb.drop() // the sender's hold: no body is asked for once the request is over
	req.ContentLength = int64(len(body))
	req.Body, _ = cb.open()
	req.GetBody = cb.open
	resp, err := up.m.c.send(req, true)
	if err != nil {
		return errorf("anaplan: uploading chunk %d: %w", n, err)
	}
	drain(resp.Body)

	up.mu.Lock()
	defer up.mu.Unlock()
	up.progress.Bytes += int64(len(data))
	up.progress.Chunks++
	if up.opts.Progress != nil {
		up.opts.Progress(up.progress)
	}
	return nil
}

// chunkBody hands the bytes of one chunk to the transport as request
// bodies: the first one and any the transport asks for again (GetBody) to
// retry. net/http lets a transport read and close a request body even after
// RoundTrip has returned, so the bytes are released (given back for reuse)
// only once every body handed out has been closed and the sender has
// dropped its own hold, when no more bodies can be asked for.
type chunkBody struct {
	data    []byte
	release func()

	mu   sync.Mutex
	refs int // the sender's hold and the bodies not yet closed
}

func newChunkBody(data []byte, release func()) *chunkBody {
	return &chunkBody{data: data, release: release, refs: 1}
}

// open returns a new body over the chunk's bytes; it is GetBody.
func (c *chunkBody) open() (io.ReadCloser, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.refs == 0 {
		return nil, errors.New("anaplan: a chunk's body was asked for after its request ended")
	}
	if len(c.data) == 0 {
		return http.NoBody, nil
	}
	c.refs++
	return &chunkReader{bodyHold: bodyHold{drop: c.drop}, r: bytes.NewReader(c.data)}, nil
}

// drop ends one hold; the last one releases the bytes.
func (c *chunkBody) drop() {
	c.mu.Lock()
	c.refs--
	last := c.refs == 0
	c.mu.Unlock()
	if last {
		c.release()
	}
}

// chunkReader is one body over a chunk's bytes.
type chunkReader struct {
	bodyHold
	r *bytes.Reader
}

// bodyHold is the hold a request body keeps on a chunk's memory. Close may
// come from another goroutine while a Read or WriteTo is under way: the hold
// is then dropped when that call returns, so the memory is never reused
// while being read.
type bodyHold struct {
	drop func() // ends the hold; called once

	mu      sync.Mutex
	busy    bool // a Read or WriteTo is under way
	closed  bool
	dropped bool
}

var errBodyClosed = errors.New("anaplan: read of a chunk's request body after it was closed")

// start begins a Read or WriteTo; end must follow when it succeeds. The
// transport makes one call at a time on a body.
func (h *bodyHold) start() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return errBodyClosed
	}
	h.busy = true
	return nil
}

func (h *bodyHold) end() {
	h.mu.Lock()
	h.busy = false
	drop := h.closed && !h.dropped
	h.dropped = h.dropped || drop
	h.mu.Unlock()
	if drop {
		h.drop()
	}
}

// Close implements io.Closer. It never blocks.
func (h *bodyHold) Close() error {
	h.mu.Lock()
	drop := !h.closed && !h.busy
	h.closed = true
	h.dropped = h.dropped || drop
	h.mu.Unlock()
	if drop {
		h.drop()
	}
	return nil
}

// Read implements io.Reader.
func (b *chunkReader) Read(p []byte) (int, error) {
	if err := b.start(); err != nil {
		return 0, err
	}
	defer b.end()
	return b.r.Read(p)
}

// WriteTo implements io.WriterTo, so that the transport writes the chunk
// in one call, as it would from a bytes.Reader.
func (b *chunkReader) WriteTo(w io.Writer) (int64, error) {
	if err := b.start(); err != nil {
		return 0, err
	}
	defer b.end()
	return b.r.WriteTo(w)
}

// compress gzips data into a pooled buffer.
func (up *uploader) compress(data []byte) *bytes.Buffer {
	b, _ := up.bpool.Get().(*bytes.Buffer)
	if b == nil {
		b = new(bytes.Buffer)
	}
	b.Reset()
	zw, _ := up.zpool.Get().(*gzip.Writer)
	if zw == nil {
		zw, _ = gzip.NewWriterLevel(b, gzip.BestSpeed)
	} else {
		zw.Reset(b)
	}
	_, _ = zw.Write(data) // writing to a bytes.Buffer cannot fail
	_ = zw.Close()
	up.zpool.Put(zw)
	return b
}

// Download writes the content of the model's file fileID to w and returns
// the number of bytes written.
//
// Chunks are fetched Concurrency at a time and written in order; memory
// stays bounded by Concurrency chunks however large the file. A chunk that
// fails with 429, 502, 503, 504 or a network error is fetched again.
// Cancelling ctx stops the download; the error then wraps ctx's error, and w
// holds a prefix of the file.
func (m *ModelHandle) Download(ctx context.Context, fileID string, w io.Writer, opts *DownloadOptions) (int64, error) {
	if w == nil {
		return 0, errors.New("anaplan: Download needs a writer for the file's content: pass io.Discard to fetch and drop it")
	}
	var o DownloadOptions
	if opts != nil {
		o = *opts
	}
	c, err := concurrency("DownloadOptions", o.Concurrency)
	if err != nil {
		return 0, err
	}
	o.Concurrency = c
	fu := m.fileURL(fileID)
	ids, err := m.chunkIDs(ctx, fu)
	if err != nil {
		return 0, err
	}
	n, err := m.download(ctx, fu, ids, w, o)
	if err != nil && ctx.Err() != nil {
		return n, errorf("anaplan: download of file %s stopped after %d bytes: %w", fileID, n, context.Cause(ctx))
	}
	return n, err
}

// chunkIDs lists the chunks of a file: at most MaxDownloadChunks, counted
// while the list is decoded.
func (m *ModelHandle) chunkIDs(ctx context.Context, fileURL string) ([]string, error) {
	type chunk struct {
		ID string `json:"id"`
	}
	var chunks []chunk
	err := m.c.getDecoded(ctx, fileURL+"/chunks", true, func(dec *json.Decoder) error {
		return decodeObject(dec, func(k string) error {
			if k != "chunks" {
				return skipValue(dec)
			}
			var err error
			chunks, err = decodeItems(dec, chunks, MaxDownloadChunks, "chunks", "MaxDownloadChunks, the most a download accepts")
			return err
		})
	})
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(chunks))
	for i, c := range chunks {
		ids[i] = c.ID
	}
	return ids, nil
}

type chunkResult struct {
	data []byte
	err  error
}

func (m *ModelHandle) download(parent context.Context, fileURL string, ids []string, w io.Writer, o DownloadOptions) (int64, error) {
	ctx, cancel := context.WithCancel(parent)
	var wg sync.WaitGroup
	free := make(chan []byte, o.Concurrency)
	defer func() {
		cancel()
		wg.Wait()
		for len(free) > 0 { // every fetch is over: keep the buffers for the next call
			sharedBuffers.put(<-free)
		}
	}()

	results := make([]chan chunkResult, len(ids))
	for i := range results {
		results[i] = make(chan chunkResult, 1)
	}
	slots := make(chan struct{}, o.Concurrency) // a slot is held from fetch to write
	wg.Go(func() {
		for i, id := range ids {
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				return
			}
			var buf []byte
			select {
			case buf = <-free:
			default:
			}
			if buf == nil {
				buf = sharedBuffers.get(int(chunkSizeHint.Load()))
			}
			wg.Go(func() {
				data, err := m.fetchChunk(ctx, fileURL, id, buf)
				results[i] <- chunkResult{data, err}
			})
		}
	})

	p := TransferProgress{TotalBytes: -1, TotalChunks: len(ids)}
	var written int64
	for i := range ids {
		if err := ctx.Err(); err != nil { // a chunk already fetched is not written after cancellation
			return written, err
		}
		var res chunkResult
		select {
		case res = <-results[i]:
		case <-ctx.Done():
			return written, ctx.Err()
		}
		if res.err != nil {
			return written, errorf("anaplan: downloading chunk %s: %w", ids[i], res.err)
		}
		k, err := w.Write(res.data)
		written += int64(k)
		if err == nil && k < len(res.data) {
			err = io.ErrShortWrite
		}
		if err != nil {
			return written, errorf("anaplan: writing the downloaded data: %w", err)
		}
		select {
		case free <- res.data[:0]:
		default:
			sharedBuffers.put(res.data)
		}
		<-slots
		p.Bytes, p.Chunks = written, i+1
		if i == len(ids)-1 {
			p.TotalBytes = written
		}
		if o.Progress != nil {
			o.Progress(p)
		}
	}
	return written, nil
}

// fetchChunk GETs one chunk into buf's storage. A body cut short is fetched
// again (twice at most); status codes are the transport's to retry.
func (m *ModelHandle) fetchChunk(ctx context.Context, fileURL, id string, buf []byte) ([]byte, error) {
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		req, err := m.c.newRequest(ctx, http.MethodGet, fileURL+"/chunks/"+url.PathEscape(id), nil, "")
		if err != nil {
			return nil, err
		}
		req.Header.Set("Accept", "application/octet-stream")
		resp, err := m.c.send(req, true)
		if err != nil {
			return nil, err
		}
		buf, err = readBody(resp, buf)
		if err == nil {
			return buf, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		lastErr = err
	}
	return nil, fmt.Errorf("reading the chunk failed three times: %w", lastErr)
}

// readBody reads and closes a body into buf's storage, in one allocation
// when the length is announced.
func readBody(resp *http.Response, buf []byte) ([]byte, error) {
	defer resp.Body.Close()
	if n := resp.ContentLength; n >= 0 {
		if n > maxChunkSize {
			return nil, fmt.Errorf("the chunk announces %d bytes, more than the 1 GiB accepted", n)
		}
		if int64(cap(buf)) < n {
			sharedBuffers.put(buf)
			if buf = sharedBuffers.get(int(n)); cap(buf) < int(n) {
				buf = make([]byte, n)
			}
			chunkSizeHint.Store(n)
		}
		buf = buf[:n]
		if _, err := io.ReadFull(resp.Body, buf); err != nil {
			return nil, err
		}
		return buf, nil
	}
	b := bytes.NewBuffer(buf[:0])
	if _, err := b.ReadFrom(io.LimitReader(resp.Body, maxChunkSize+1)); err != nil {
		return nil, err
	}
	if b.Len() > maxChunkSize {
		return nil, errors.New("the chunk is larger than the 1 GiB accepted")
	}
	return b.Bytes(), nil
}

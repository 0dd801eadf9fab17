package anaplan

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"testing/iotest"
)

// blockingWriter signals when a write starts and waits for leave.
type blockingWriter struct {
	entered chan struct{}
	leave   chan struct{}
	buf     bytes.Buffer
}

func (w *blockingWriter) Write(p []byte) (int, error) {
	close(w.entered)
	<-w.leave
	return w.buf.Write(p)
}

func TestChunkBodyReleasesAfterTheLastClose(t *testing.T) {
	data := []byte("0123456789")
	tests := []struct {
		name string
		// steps run in order; released says whether the bytes must be
		// released after each.
		steps func(c *chunkBody, a, b io.ReadCloser) []func()
	}{
		{"bodies closed before the hold is dropped", func(c *chunkBody, a, b io.ReadCloser) []func() {
			return []func(){func() { _ = a.Close() }, func() { _ = b.Close() }, c.drop}
		}},
		{"a body closed after the hold is dropped", func(c *chunkBody, a, b io.ReadCloser) []func() {
			return []func(){func() { _ = a.Close() }, c.drop, func() { _ = b.Close() }}
		}},
		{"closed twice counts once", func(c *chunkBody, a, b io.ReadCloser) []func() {
			return []func(){func() { _ = a.Close() }, func() { _ = a.Close() }, c.drop, func() { _ = b.Close() }}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var released atomic.Int32
			c := newChunkBody(data, func() { released.Add(1) })
			a, _ := c.open()
			b, err := c.open() // as GetBody would for a retry
			if err != nil {
				t.Fatal(err)
			}
			steps := tt.steps(c, a, b)
			for i, step := range steps {
				step()
				want := int32(0)
				if i == len(steps)-1 {
					want = 1
				}
				if got := released.Load(); got != want {
					t.Fatalf("after step %d: released %d times, want %d", i, got, want)
				}
			}
			if _, err := c.open(); err == nil {
				t.Error("a body was handed out after the bytes were released")
			}
		})
	}
}

func TestChunkBodyCloseDuringAWrite(t *testing.T) {
	data := []byte("chunk data")
	var released atomic.Int32
	c := newChunkBody(data, func() { released.Add(1) })
	body, _ := c.open()
	c.drop() // the request is over; the transport still writes the body
	w := &blockingWriter{entered: make(chan struct{}), leave: make(chan struct{})}
	done := make(chan error, 1)
	go func() {
		_, err := io.Copy(w, body) // uses WriteTo
		done <- err
	}()
	<-w.entered
	if err := body.Close(); err != nil { // from another goroutine, mid-write
		t.Fatal(err)
	}
	if released.Load() != 0 {
		t.Fatal("the bytes were released while the transport was still writing them")
	}
	close(w.leave)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if released.Load() != 1 || w.buf.String() != string(data) {
		t.Errorf("released %d times, wrote %q; want 1 and the data", released.Load(), w.buf.String())
	}
	if _, err := body.Read(make([]byte, 4)); !errors.Is(err, errBodyClosed) {
		t.Errorf("Read after Close: %v, want errBodyClosed", err)
	}
}

func TestChunkBodyEmpty(t *testing.T) {
	var released atomic.Int32
	c := newChunkBody(nil, func() { released.Add(1) })
	if b, _ := c.open(); b != http.NoBody {
		t.Errorf("an empty chunk's body is %T, want http.NoBody", b)
	}
	c.drop()
	if released.Load() != 1 {
		t.Errorf("released %d times, want 1", released.Load())
	}
}

func TestChunkBuffersBound(t *testing.T) {
	p := chunkBuffers{max: 2}
	// Three buffers made: a late one came back after a third had to be made.
	for range 3 {
		if b := p.get(); b != nil {
			t.Fatal("a buffer out of an empty pool")
		}
	}
	for range 3 {
		p.put(make([]byte, 8))
	}
	if len(p.free) != 2 || p.live != 2 {
		t.Errorf("%d buffers kept, %d live; want 2 and 2", len(p.free), p.live)
	}
	if b := p.get(); b == nil || len(b) != 0 || cap(b) != 8 {
		t.Errorf("get = len %d cap %d, want a kept buffer, emptied", len(b), cap(b))
	}
}

// TestChunkBuffersKeptAcrossCalls: the buffers of an upload that ended are
// handed to the next one, and a buffer given back after the end (its body
// closed late by the transport) is kept too, never given to the ended upload.
func TestChunkBuffersKeptAcrossCalls(t *testing.T) {
	const size = 3 << 20 // a size no other test uses
	first := chunkBuffers{max: 2, size: size}
	a, b := first.get(), first.get()
	if a == nil {
		a = make([]byte, 0, size)
	}
	if b == nil {
		b = make([]byte, 0, size)
	}
	first.put(a)
	first.close()
	first.put(b) // late: after the end
	if len(first.free) != 0 {
		t.Fatalf("an ended upload keeps %d buffers", len(first.free))
	}
	if raceEnabled {
		t.Skip("under the race detector sync.Pool drops items at random; the test command runs this test without -race too")
	}
	next := chunkBuffers{max: 2, size: size}
	got := map[*byte]bool{}
	// sync.Pool may drop buffers at a GC; none ran between put and get here
	// unless the runtime chose to, which the loop tolerates once.
	for range 2 {
		if x := next.get(); x != nil {
			got[&x[:1][0]] = true
		}
	}
	if !got[&a[:1][0]] && !got[&b[:1][0]] {
		t.Error("the next upload made new buffers although the last one's were kept")
	}
}

// countingSource counts the bytes read from it.
type countingSource struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingSource) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// TestStreamChunkTee: a body started again (GetBody, for a retry) serves
// the bytes staged by the first and then goes on from the source where
// staging stopped; every byte is read from the source once, and both
// bodies read the chunk's bytes.
func TestStreamChunkTee(t *testing.T) {
	data := []byte(strings.Repeat("0123456789", 10))
	src := &countingSource{r: iotest.HalfReader(bytes.NewReader(data))}
	var released atomic.Int32
	s := newStreamChunk(src, nil, len(data), func([]byte) { released.Add(1) })
	noAbort := func(error) {}
	a, _ := s.open(len(data), noAbort)
	first := make([]byte, 40)
	if _, err := io.ReadFull(a, first); err != nil {
		t.Fatal(err)
	}
	b, err := s.open(len(data), noAbort)
	if err != nil {
		t.Fatal(err)
	}
	all, err := io.ReadAll(b)
	if err != nil || !bytes.Equal(all, data) {
		t.Fatalf("the second body read %q, %v; want the chunk", all, err)
	}
	rest, err := io.ReadAll(a)
	if err != nil || !bytes.Equal(append(first, rest...), data) {
		t.Fatalf("the first body read %q then %q, %v; want the chunk", first, rest, err)
	}
	if n := src.n.Load(); n != int64(len(data)) {
		t.Errorf("%d bytes read from the source for a chunk of %d", n, len(data))
	}
	s.mu.Lock()
	over := s.closed
	s.mu.Unlock()
	if !over {
		t.Error("staging is not over once the chunk's length is staged")
	}
	_ = a.Close()
	s.drop()
	if released.Load() != 0 {
		t.Fatal("released while a body was open")
	}
	_ = b.Close()
	if released.Load() != 1 {
		t.Errorf("released %d times after the last close, want 1", released.Load())
	}
}

// TestStreamChunkShortSource: a source that ends before the chunk's length
// makes the body fail rather than end (so that the transport never sends a
// short body as complete), ends its request, and GetBody refuses to start
// it again; a body of the real length reads what was staged.
func TestStreamChunkShortSource(t *testing.T) {
	data := []byte("only sixty bytes of data for a chunk that expects one hundred")[:60]
	s := newStreamChunk(bytes.NewReader(data), nil, 100, func([]byte) {})
	var aborted error
	body, _ := s.open(100, func(err error) { aborted = err })
	got, err := io.ReadAll(body)
	if !errors.Is(err, errShortSource) || !bytes.Equal(got, data) {
		t.Fatalf("ReadAll = %d bytes, %v; want the 60 bytes then errShortSource", len(got), err)
	}
	if !errors.Is(aborted, errShortSource) {
		t.Errorf("the request was ended with %v, want errShortSource", aborted)
	}
	if _, err := s.open(100, func(error) {}); !errors.Is(err, errShortSource) {
		t.Errorf("GetBody for the announced length: %v, want a refusal", err)
	}
	if n, ended, err := s.result(); n != 60 || !ended || err != nil {
		t.Errorf("result = %d, %v, %v; want 60 bytes, ended", n, ended, err)
	}
	again, err := s.open(60, func(error) {})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := io.ReadAll(again); err != nil || !bytes.Equal(got, data) {
		t.Errorf("a body of the real length read %d bytes, %v", len(got), err)
	}
}

// TestStreamChunkSealed: once the chunk's requests are over, a body the
// transport reads late serves what was staged and never reads the source.
func TestStreamChunkSealed(t *testing.T) {
	src := &countingSource{r: iotest.OneByteReader(bytes.NewReader(make([]byte, 100)))}
	s := newStreamChunk(src, nil, 100, func([]byte) {})
	body, _ := s.open(100, func(error) {})
	if _, err := io.ReadFull(body, make([]byte, 10)); err != nil {
		t.Fatal(err)
	}
	read := src.n.Load()
	s.seal()
	if _, err := io.ReadAll(body); !errors.Is(err, errChunkOver) {
		t.Errorf("a late read past the staged bytes: %v, want errChunkOver", err)
	}
	if src.n.Load() != read {
		t.Error("the source was read after the chunk was sealed")
	}
}

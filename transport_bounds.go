package anaplan

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// The transport's bounds (a call's total time, the wait for an answer's
// headers, and the idle limit on every wait for the server's bytes) are
// kept by one watcher goroutine for the whole process. It runs only while
// bounded requests are in flight, wakes a few times a second at most with
// the default bounds, and ends a call by cancelling the context the
// request was sent with, so any RoundTripper honours it.
//
// A request costs no timer: it records what it waits for in one atomic
// word (a sequence number and the kind of wait), two atomic operations per
// body Read, and the watcher compares that word between its ticks. A bound
// therefore fires never early and at most two ticks late: the watcher
// counts a wait from the tick that first saw it, which is after it began
// (by up to a tick), and sees it pass its bound at the next tick after
// that (up to another).

// waitKind is what a call is waiting for.
type waitKind = uint64

const (
	notWaiting waitKind = iota // the caller or the request's source has the turn
	waitHeader                 // for the answer's headers, once the request is sent (the header bound)
	waitSend                   // for the server (or the connection) to take the request's next bytes (the idle limit)
	waitBody                   // in a Read of the answer's body (the idle limit)
)

// call is one request under the transport's bounds: its context, what it
// waits for, and (once the answer came) the answer's body, which it wraps.
type call struct {
	ctx      context.Context
	cancel   context.CancelCauseFunc
	total    time.Duration // 0: none (a caller's deadline, a transfer)
	header   time.Duration
	idle     time.Duration
	tick     time.Duration // how often the watcher should look at it
	transfer bool
	state    atomic.Uint64 // seq<<2 | waitKind; every change bumps seq

	body io.ReadCloser // the answer's, once there is one
	over bool          // Read saw the end of body (or an error): the call has ended

	// Under watch.mu, touched only by the watcher (and add/remove).
	prev, next *call
	linked     bool
	started    bool
	startAt    time.Time
	seen       uint64
	seenAt     time.Time
}

// set records a new wait (or none) and returns the new state word.
func (c *call) set(kind waitKind) uint64 {
	for {
		old := c.state.Load()
		nw := (old&^3 + 4) | kind
		if c.state.CompareAndSwap(old, nw) {
			return nw
		}
	}
}

// check runs on the watcher's tick: it returns the bound this call passed,
// or nil.
func (c *call) check(now time.Time) error {
	if !c.started {
		c.started, c.startAt = true, now
	}
	if c.total > 0 && now.Sub(c.startAt) >= c.total {
		return &boundError{what: "the request did not finish within " + c.total.String() +
			" (the default bound of a call without a deadline): pass a context with a deadline, or set Timeout (WithTimeout), to choose another"}
	}
	v := c.state.Load()
	if v != c.seen {
		c.seen, c.seenAt = v, now
		return nil
	}
	waited := now.Sub(c.seenAt)
	switch v & 3 {
	case waitHeader:
		if c.header > 0 && waited >= c.header {
			return &boundError{what: "no answer from the server within " + c.header.String() + " of the request being sent, so it was abandoned (a stalled connection or server): try again"}
		}
	case waitSend:
		if c.idle > 0 && waited >= c.idle {
			return &boundError{what: "the server took none of the request for " + c.idle.String() + ", so the request was abandoned (a stalled connection or server): try again"}
		}
	case waitBody:
		if c.idle > 0 && waited >= c.idle {
			return &boundError{what: "no data from the server for " + c.idle.String() + ", so the request was abandoned (a stalled connection or server): try again"}
		}
	}
	return nil
}

// Read implements io.Reader over the answer's body. Only the time spent
// waiting in Read counts towards the idle limit, so a caller that takes
// its time between reads (writing to a slow disk or database) is never
// cut off.
func (c *call) Read(p []byte) (int, error) {
	if c.over {
		return c.body.Read(p)
	}
	c.set(waitBody)
	n, err := c.body.Read(p)
	c.set(notWaiting)
	if err == nil {
		return n, nil
	}
	// Also at io.EOF: a server that sees the connection go may still end
	// its answer cleanly, and a cut answer must not read as a whole one.
	var be *boundError
	if errors.As(context.Cause(c.ctx), &be) {
		err = be
	} else if cerr := c.ctx.Err(); cerr != nil && err == io.EOF {
		err = cerr // the caller's deadline or cancellation
	}
	// The answer is over: end the call now, as net/http's own Timeout does
	// at EOF, so that a body read to its end but never closed (some
	// libraries do that) leaves nothing behind.
	c.over = true
	c.end()
	return n, err
}

// end takes the call off the watcher and releases its context.
func (c *call) end() {
	watch.remove(c)
	c.cancel(nil)
}

// Close implements io.Closer: it ends the call, releasing its context.
func (c *call) Close() error {
	err := c.body.Close()
	c.end()
	return err
}

// sendBody is the body of a transfer's request (a chunk being uploaded),
// which may take long to send: the time between two of the transport's
// Reads is time the connection spends taking bytes (bounded by the idle
// limit), and once the last byte is read the call waits for the answer.
// It stops recording as soon as anything else changed the call's state
// (the answer came, or another attempt began), so a transport that reads
// an abandoned body late cannot disturb a later wait.
type sendBody struct {
	c    *call
	rc   io.ReadCloser
	left int64 // bytes not yet read of a known length; -1 when unknown
	last uint64
	off  bool
}

func (b *sendBody) move(kind waitKind) {
	if b.off {
		return
	}
	nw := (b.last&^3 + 4) | kind
	if !b.c.state.CompareAndSwap(b.last, nw) {
		b.off = true
		return
	}
	b.last = nw
}

func (b *sendBody) Read(p []byte) (int, error) {
	b.move(notWaiting) // the source's time, not the server's
	n, err := b.rc.Read(p)
	if b.left > 0 {
		b.left -= int64(n)
	}
	if err != nil || b.left == 0 {
		b.move(waitHeader)
	} else {
		b.move(waitSend)
	}
	return n, err
}

func (b *sendBody) Close() error { return b.rc.Close() }

// attempt prepares req, one attempt of the call, to be sent: the call
// waits for the server from now on, and a transfer's body records its
// progress. req must be the transport's own copy.
func (c *call) attempt(req *http.Request) {
	if !c.transfer || req.Body == nil || req.Body == http.NoBody {
		c.set(waitHeader)
		return
	}
	if _, ok := req.Body.(*sendBody); ok {
		return // a retry's body, from the GetBody set below: already recording
	}
	// Connecting and the first bytes are bounded by the idle limit too.
	sb := &sendBody{c: c, rc: req.Body, left: req.ContentLength, last: c.set(waitSend)}
	if sb.left == 0 {
		sb.left = -1
	}
	req.Body = sb
	if gb := req.GetBody; gb != nil {
		// net/http's own retry of a request on a reused connection that
		// turned out dead asks GetBody again.
		req.GetBody = func() (io.ReadCloser, error) {
			rc, err := gb()
			if err != nil || rc == nil || rc == http.NoBody {
				return rc, err
			}
			left := req.ContentLength
			if left <= 0 {
				left = -1
			}
			return &sendBody{c: c, rc: rc, left: left, last: c.set(waitSend)}, nil
		}
	}
}

// watch keeps every bounded call of the process.
var watch watcher

type watcher struct {
	mu      sync.Mutex
	head    *call
	running bool
	tick    time.Duration
	wake    chan struct{}
	woken   bool // the loop was woken since it last saw a call, to end soon
}

// linger is how long the watcher stays once no call is left: long enough
// that back-to-back requests do not start a goroutine each, short enough
// that none of the SDK's goroutines outlives a program's requests by much
// (leak checkers in tests wait about this long).
const linger = 50 * time.Millisecond

// tickFor is how often calls with these bounds should be looked at: a
// twentieth of the shortest, within 1 ms and 1 s.
func tickFor(bounds ...time.Duration) time.Duration {
	t := time.Second
	for _, b := range bounds {
		if b > 0 {
			t = min(t, b/20)
		}
	}
	return max(t, time.Millisecond)
}

func (w *watcher) add(c *call) {
	w.mu.Lock()
	c.next = w.head
	if w.head != nil {
		w.head.prev = c
	}
	w.head, c.linked = c, true
	start, sooner := !w.running, c.tick < w.tick
	if start {
		w.running, w.tick = true, c.tick
		if w.wake == nil {
			w.wake = make(chan struct{}, 1)
		}
	} else if sooner {
		w.tick = c.tick
	}
	w.mu.Unlock()
	if start {
		go w.loop()
	} else if sooner {
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
}

func (w *watcher) remove(c *call) {
	w.mu.Lock()
	w.unlink(c)
	poke := w.head == nil && w.running && !w.woken
	if poke {
		w.woken = true // once per tick at most: the loop clears it
	}
	w.mu.Unlock()
	if poke {
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
}

func (w *watcher) unlink(c *call) {
	if !c.linked {
		return
	}
	if c.prev != nil {
		c.prev.next = c.next
	} else {
		w.head = c.next
	}
	if c.next != nil {
		c.next.prev = c.prev
	}
	c.prev, c.next, c.linked = nil, nil, false
}

type firing struct {
	c   *call
	err error
}

// loop looks at every call once a tick, ends those past a bound, and
// returns once no call has been left for linger.
func (w *watcher) loop() {
	w.mu.Lock()
	d := w.tick
	w.mu.Unlock()
	tm := time.NewTimer(d)
	defer tm.Stop()
	var fire []firing
	var emptySince time.Time
	for {
		select {
		case <-tm.C:
		case <-w.wake:
			tm.Stop()
		}
		now := time.Now()
		w.mu.Lock()
		if w.head == nil {
			if emptySince.IsZero() {
				emptySince = now
			}
			if left := linger - now.Sub(emptySince); left > 0 {
				w.mu.Unlock()
				tm.Reset(left)
				continue
			}
			w.running, w.woken = false, false
			w.mu.Unlock()
			return
		}
		emptySince, w.woken = time.Time{}, false
		d = time.Second
		for c := w.head; c != nil; {
			next := c.next
			if err := c.check(now); err != nil {
				w.unlink(c)
				fire = append(fire, firing{c, err})
			} else {
				d = min(d, c.tick)
			}
			c = next
		}
		w.tick = d
		if w.head == nil { // every call left was ended: linger from now
			emptySince, d = now, linger
		}
		w.mu.Unlock()
		for i, f := range fire {
			f.c.cancel(f.err)
			fire[i] = firing{}
		}
		fire = fire[:0]
		tm.Reset(d)
	}
}

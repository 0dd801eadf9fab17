// Ctrl-C: the first cancels the command, the second waits (bounded) for a
// token refresh under way to be saved, the third quits at once.

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/go-anaplan/anaplan"
)

// exitInterrupted is the exit status after Ctrl-C (128 + SIGINT), as shells
// report it.
const exitInterrupted = 130

// errInterrupted is the cause of the command's context after Ctrl-C.
var errInterrupted = errors.New("interrupted")

// saveWait bounds the wait, after a second Ctrl-C, for a token refresh under
// way and the save of its result.
var saveWait = 10 * time.Second

// live holds the clients not yet closed and the progress bars on screen, for
// the interrupt handler.
var live struct {
	mu      sync.Mutex
	clients map[*anaplan.Client]bool
	bars    map[*bar]bool
	// signingIn counts the calls of anaplan.New under way for a client that
	// persists tokens: cancelled, New still waits for a refresh it started
	// and saves its result before returning.
	signingIn int
	idle      chan struct{} // closed when signingIn drops to 0
}

// startSignIn records a call of New under way; the function returned ends
// the record.
func startSignIn() func() {
	live.mu.Lock()
	defer live.mu.Unlock()
	if live.signingIn == 0 {
		live.idle = make(chan struct{})
	}
	live.signingIn++
	return func() {
		live.mu.Lock()
		defer live.mu.Unlock()
		live.signingIn--
		if live.signingIn == 0 {
			close(live.idle)
		}
	}
}

// signInsIdle is closed when no call of New that may save tokens is under
// way (nil: none is).
func signInsIdle() <-chan struct{} {
	live.mu.Lock()
	defer live.mu.Unlock()
	if live.signingIn == 0 {
		return nil
	}
	return live.idle
}

func track(c *anaplan.Client) {
	live.mu.Lock()
	defer live.mu.Unlock()
	if live.clients == nil {
		live.clients = map[*anaplan.Client]bool{}
	}
	live.clients[c] = true
}

func untrack(c *anaplan.Client) {
	live.mu.Lock()
	defer live.mu.Unlock()
	delete(live.clients, c)
}

// persisting returns the open clients that persist tokens when closed
// (not those whose Close logs a session out: nothing of theirs is lost).
func persisting() []*anaplan.Client {
	live.mu.Lock()
	defer live.mu.Unlock()
	var cs []*anaplan.Client
	for c := range live.clients {
		if !endsSession(c) {
			cs = append(cs, c)
		}
	}
	return cs
}

func showBar(b *bar) {
	live.mu.Lock()
	defer live.mu.Unlock()
	if live.bars == nil {
		live.bars = map[*bar]bool{}
	}
	live.bars[b] = true
}

func hideBar(b *bar) {
	live.mu.Lock()
	defer live.mu.Unlock()
	delete(live.bars, b)
}

// clearProgress erases the progress line, so that what follows starts on a
// clean line (not "in progress^Canaplan: interrupted"), and stops the bars.
func clearProgress() {
	live.mu.Lock()
	bars := make([]*bar, 0, len(live.bars))
	for b := range live.bars {
		bars = append(bars, b)
	}
	live.mu.Unlock()
	for _, b := range bars {
		b.stop()
	}
}

// interrupts handles Ctrl-C (and SIGTERM) for the whole process: the first
// cancels the command, which cleans up (a task is cancelled, the session
// logged out, the settings saved, each bounded); the second closes the
// clients that hold tokens to save, waiting at most saveWait for a refresh
// under way and its save, and then exits; the third exits at once. exit is
// os.Exit, or a test's.
func interrupts(sig <-chan os.Signal, cancel context.CancelCauseFunc, stderr io.Writer, exit func(int)) {
	<-sig
	clearProgress()
	fmt.Fprintln(stderr, "anaplan: interrupted: stopping (press Ctrl-C again to quit)")
	cancel(errInterrupted)

	<-sig
	clearProgress()
	idle := signInsIdle()
	if idle == nil && len(persisting()) == 0 {
		exit(exitInterrupted)
		return
	}
	fmt.Fprintf(stderr, "anaplan: waiting up to %s for a token refresh to be saved… (press Ctrl-C again to quit at once)\n", saveWait)
	done := make(chan error, 1)
	go func() {
		ctx, stop := context.WithTimeout(context.Background(), saveWait)
		defer stop()
		if idle != nil { // a sign-in saves what it got before New returns
			select {
			case <-idle:
			case <-ctx.Done():
			}
		}
		var errs []error
		for _, c := range persisting() {
			errs = append(errs, c.Close(ctx))
		}
		done <- errors.Join(errs...)
	}()
	select {
	case err := <-done:
		if err != nil {
			fmt.Fprintf(stderr, "anaplan: %s\n", errorText(err))
		}
	case <-sig:
	}
	exit(exitInterrupted)
}

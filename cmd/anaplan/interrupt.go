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
	cs := persisting()
	if len(cs) == 0 {
		exit(exitInterrupted)
		return
	}
	fmt.Fprintf(stderr, "anaplan: waiting up to %s for a token refresh to be saved… (press Ctrl-C again to quit at once)\n", saveWait)
	done := make(chan error, 1)
	go func() {
		ctx, stop := context.WithTimeout(context.Background(), saveWait)
		defer stop()
		var errs []error
		for _, c := range cs {
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

// Command anaplan signs in to Anaplan and moves data in and out of its
// models from the command line.
//
//	anaplan demo                                   # a guided tour against a fake Anaplan, offline
//	export ANAPLAN_CONNECTION='AuthScheme=Basic;User=ada@example.com;Password=…;Region=EU1'
//	anaplan whoami
//	anaplan workspaces
//	anaplan models --workspace Finance
//	anaplan files --workspace Finance --model Budget
//	anaplan upload sales.csv --workspace Finance --model Budget
//	anaplan run import 'Sales from sales.csv' --workspace Finance --model Budget
//	anaplan download 'Grid - Revenue.csv' --workspace Finance --model Budget -o revenue.csv
//
// The connection comes from --connection or the ANAPLAN_CONNECTION
// environment variable: a connection string as the library takes it
// (anaplan.FromConnectionString). Credentials are accepted nowhere else.
//
// Output is an aligned table, or JSON with --json. Exit status: 0 on
// success, 1 on failure, 2 on bad usage.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/go-anaplan/anaplan"
	"golang.org/x/term"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	finished := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			// The first Ctrl-C cancels the command, which then cleans up (a
			// task is cancelled, the session logged out, each bounded by a
			// timeout). Default handling is back: a second Ctrl-C ends the
			// process at once, whatever it is stuck on (a read of a
			// terminal, a server that does not answer).
			stop()
			fmt.Fprintln(os.Stderr, "anaplan: interrupted: stopping (press Ctrl-C again to quit at once)")
		case <-finished:
		}
	}()
	code := run(ctx, os.Args[1:], env{
		stdin:    os.Stdin,
		stdout:   os.Stdout,
		stderr:   os.Stderr,
		getenv:   os.Getenv,
		terminal: term.IsTerminal(int(os.Stderr.Fd())),
	})
	close(finished)
	stop()
	os.Exit(code)
}

// env is what the command reads and writes: the process's, or a test's.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
	terminal       bool // stderr is a terminal: show progress bars

	// extra options for every client (the demo trusts its fake server)
	extra []anaplan.Option
}

// Exit statuses.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

// usageError is a mistake in the command line: exit status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// run runs one command line and returns the exit status.
func run(ctx context.Context, args []string, e env) int {
	err := dispatch(ctx, args, e)
	if err == nil {
		return exitOK
	}
	var ue *usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(e.stderr, "anaplan: %s\nRun 'anaplan help' for usage.\n", scrubArgs(ue.msg, args))
		return exitUsage
	}
	if errors.Is(err, errSilent) {
		return exitFailure
	}
	fmt.Fprintf(e.stderr, "anaplan: %s\n", scrubArgs(errorText(err), args))
	return exitFailure
}

// errSilent is a failure already reported on stderr.
var errSilent = errors.New("failure already reported")

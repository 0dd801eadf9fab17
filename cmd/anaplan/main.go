// Command anaplan signs in to Anaplan and moves data in and out of its
// models from the command line.
//
//	anaplan demo                                   # a guided tour against a fake Anaplan, offline
//	anaplan fake                                   # a fake Anaplan on loopback, until Ctrl-C
//	export ANAPLAN_CONNECTION_FILE=~/.anaplan-connection   # holds 'AuthScheme=Basic;User=…;Password=…;Region=EU1'
//	anaplan whoami
//	anaplan workspaces
//	anaplan models --workspace Finance
//	anaplan files --workspace Finance --model Budget
//	anaplan upload sales.csv --workspace Finance --model Budget
//	anaplan run import 'Sales from sales.csv' --workspace Finance --model Budget
//	anaplan download 'Grid - Revenue.csv' --workspace Finance --model Budget -o exports/
//	anaplan help download                          # a command's flags: it takes those only
//
// The connection comes from --connection-file FILE (- for standard input),
// --connection, $ANAPLAN_CONNECTION_FILE or $ANAPLAN_CONNECTION, the first
// that is set: a connection string as the library takes it
// (anaplan.FromConnectionString). Credentials are accepted nowhere else.
//
// Output is an aligned table, or JSON with --json. Exit status: 0 on
// success, 1 on failure, 2 on bad usage or bad configuration, 130 after
// Ctrl-C. A second Ctrl-C waits up to 10 s for a token refresh under way to
// be saved; a third quits at once.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/term"
)

func main() {
	sig := make(chan os.Signal, 3)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	ctx, cancel := context.WithCancelCause(context.Background())
	go interrupts(sig, cancel, os.Stderr, os.Exit)
	code := run(ctx, os.Args[1:], env{
		stdin:    os.Stdin,
		stdout:   os.Stdout,
		stderr:   os.Stderr,
		getenv:   os.Getenv,
		terminal: term.IsTerminal(int(os.Stderr.Fd())),
	})
	cancel(nil)
	os.Exit(code)
}

// env is what the command reads and writes: the process's, or a test's.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
	terminal       bool // stderr is a terminal: show progress bars

	// transport, when set, sends every client's requests (the demo's
	// trusts its fake server); nil is the usual one
	transport http.RoundTripper
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
	interrupted := errors.Is(context.Cause(ctx), errInterrupted)
	if err == nil {
		if interrupted {
			return exitInterrupted
		}
		return exitOK
	}
	var ue *usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(e.stderr, "anaplan: %s\nRun 'anaplan help' for usage.\n", scrubArgs(ue.msg, args))
		return exitUsage
	}
	if !errors.Is(err, errSilent) {
		fmt.Fprintf(e.stderr, "anaplan: %s\n", scrubArgs(errorText(err), args))
	}
	if interrupted {
		return exitInterrupted
	}
	return exitFailure
}

// errSilent is a failure already reported on stderr.
var errSilent = errors.New("failure already reported")

package anaplantest

import "flag"

// fuzzWorker reports whether this process is a fuzzing worker that
// "go test -fuzz" started. A worker runs the fuzz target's body on inputs the
// coordinator sends and never reads its seed corpus, so targets skip seed
// fixtures there: generating RSA keys cost each worker seconds, most of a
// short -fuzztime (scripts/fuzz.sh). The flag is the testing package's own;
// without it (another toolchain), seeds are built as usual.
func fuzzWorker() bool {
	f := flag.Lookup("test.fuzzworker")
	return f != nil && f.Value.String() == "true"
}

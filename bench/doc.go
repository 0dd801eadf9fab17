// Package bench holds benchmarks that compare the SDK with other Go
// libraries (golang.org/x/oauth2, aws-sdk-go-v2). It is a module of its own
// so that users of github.com/go-anaplan/anaplan never inherit what only
// these comparisons need. Run: cd bench && go test -run '^$' -bench . -count 6
package bench

#!/usr/bin/env bash
# The one test command (README, CI): for every module of the repository
# (the SDK at the root, and the nested modules interop/, bench/ and, where
# present, etcdstore/): go vet, staticcheck, then every test with the race
# detector, fuzz seed corpora included. Long soak runs stay bounded unless
# ANAPLAN_SOAK is set. It checks first for what the tests need and says what
# to install.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"

missing=()
command -v go >/dev/null 2>&1 || missing+=("Go 1.26 (https://go.dev/dl, or /usr/local/go/bin on PATH)")
# -race needs cgo, so a C compiler.
command -v "${CC:-gcc}" >/dev/null 2>&1 || command -v cc >/dev/null 2>&1 || missing+=("a C compiler for -race (Debian: apt-get install gcc)")
# The PKCS#12 and encrypted-key fixtures are written by OpenSSL.
command -v openssl >/dev/null 2>&1 || missing+=("openssl for the PKCS#12 fixtures (Debian: apt-get install openssl)")
if ((${#missing[@]})); then
  printf 'scripts/test.sh: missing:\n' >&2
  printf '  - %s\n' "${missing[@]}" >&2
  exit 2
fi
export CGO_ENABLED=1
# Tests that need openssl fail loudly rather than skip.
export ANAPLAN_REQUIRE_OPENSSL=1

modules=(. interop bench)
[ -f etcdstore/go.mod ] && modules+=(etcdstore)

# staticcheck is a tool of the root module; one build serves every module.
sc="$(mktemp -d)/staticcheck"
go build -o "$sc" honnef.co/go/tools/cmd/staticcheck
for m in "${modules[@]}"; do
  echo "== module $m: go vet, staticcheck"
  (cd "$m" && go vet ./... && "$sc" ./...)
done

echo "== go test -race (root module)"
go test -race -count=1 -timeout 15m ./...
echo "== go test without -race (sync.Pool reuse, which the race detector randomises)"
go test -count=1 -run 'TestChunkStorage|TestChunkBuffers' ./anaplantest .
echo "== go test -race (interop: third-party OAuth servers)"
(cd interop && go test -race -count=1 -timeout 10m ./...)
echo "== benchmarks compile and run once (bench)"
(cd bench && go test -race -count=1 -run '^$' -bench . -benchtime=1x ./...)
if [ -f etcdstore/go.mod ]; then
  echo "== go test -race (etcdstore: a real 3-member etcd cluster)"
  (cd etcdstore && go test -race -count=1 -timeout 10m ./...)
fi

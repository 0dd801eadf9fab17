#!/usr/bin/env bash
# The one test command (README, CI): vet, staticcheck, then every test with
# the race detector, fuzz seed corpora included. Long soak runs stay bounded
# unless ANAPLAN_SOAK is set.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== go vet"
go vet ./...
echo "== staticcheck"
go tool staticcheck ./...
echo "== go test -race"
go test -race -count=1 -timeout 15m ./...

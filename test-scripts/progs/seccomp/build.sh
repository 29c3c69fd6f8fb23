#!/usr/bin/env bash
# Builds the programs the seccomp tests and bench run (static C, Go static and cgo) into
# OUTDIR (default <repo>/target/seccomp-progs). Go: standard library only, offline, with its
# cache under OUTDIR. Prints nothing on success.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../../.." && pwd)
out=${1:-$repo/target/seccomp-progs}
mkdir -p "$out"
export GOCACHE=$out/go-cache GOPATH=$out/go-path GOFLAGS=-mod=mod GO111MODULE=off GOPROXY=off
gcc -O2 -Wall -static -o "$out/raw_client" "$here/raw_client.c"
gcc -O2 -Wall -static -o "$out/uring_probe" "$here/uring_probe.c"
gcc -O2 -Wall -static -pthread -o "$out/block_probe" "$here/block_probe.c"
for p in http_server http_client http_churn udp_echo; do
    CGO_ENABLED=0 go build -o "$out/${p}_static" "$here/../go/$p.go"
done
CGO_ENABLED=1 go build -o "$out/http_server_cgo" "$here/../go/http_server.go"

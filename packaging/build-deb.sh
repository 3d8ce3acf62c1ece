#!/usr/bin/env bash
# Builds the Debian package of minimix from this repository with nfpm (a
# Go tool of this module, go.mod): the binary, the systemd unit, the
# configuration (`minimix config example` with data_dir in /var/lib) and
# the maintainer scripts. Usage: packaging/build-deb.sh [OUTDIR] (default
# dist/); prints the path of the .deb.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-dist}
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export GOARCH=${GOARCH:-$(go env GOARCH)}
export MINIMIX_VERSION=${MINIMIX_VERSION:-$(sed -n 's/^var Version = "\(.*\)"$/\1/p' internal/server/server.go)}
export MINIMIX_BUILD=$work
CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o "$work/minimix" ./cmd/minimix
"$work/minimix" config example | sed 's|^data_dir = .*|data_dir = "/var/lib/minimix"|' >"$work/minimix.toml"
grep -q '^data_dir = "/var/lib/minimix"' "$work/minimix.toml"
go tool nfpm package --config packaging/nfpm.yaml --packager deb --target "$out/" >&2
ls -t "$out"/minimix_*.deb | head -1

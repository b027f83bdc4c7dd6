#!/usr/bin/env bash
# Builds nats-server (pinned) from the Go module proxy into .run/bin, only
# when missing. Used by the NATS broker tests and by a multi-machine setup.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
bin="$root/.run/bin"
mkdir -p "$bin"
die() { echo "ops/nats/build.sh: ERROR: $*" >&2; exit 1; }
exec 9>"$bin/.nats.lock"
flock -w 300 9 || die "timed out after 300 s waiting for another build of nats-server ($bin/.nats.lock)"
if [ ! -x "$bin/nats-server" ]; then
  echo "building nats-server v2.15.2 into $bin" >&2
  GOBIN="$bin" GOFLAGS=-mod=mod go install github.com/nats-io/nats-server/v2@v2.15.2 >&2 ||
    die "go install of nats-server v2.15.2 failed (output above)"
fi
[ -x "$bin/nats-server" ] || die "$bin/nats-server missing after the build"
echo "$bin/nats-server"

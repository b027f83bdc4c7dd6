#!/usr/bin/env bash
# Builds nats-server (pinned) from the Go module proxy into .run/bin, only
# when missing. Used by the NATS broker tests and by a multi-machine setup.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
bin="$root/.run/bin"
mkdir -p "$bin"
exec 9>"$bin/.nats.lock"
flock -w 300 9
if [ ! -x "$bin/nats-server" ]; then
  echo "building nats-server v2.15.2 into $bin" >&2
  GOBIN="$bin" GOFLAGS=-mod=mod go install github.com/nats-io/nats-server/v2@v2.15.2 >&2
fi
echo "$bin/nats-server"

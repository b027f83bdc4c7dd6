#!/usr/bin/env bash
# build.sh: build the pinned Fabric binaries into ops/fabric/bin, only those missing.
# FABRIC_REBUILD=1 forces a rebuild.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
source ./common.sh

tools=(peer orderer configtxgen cryptogen osnadmin)
# Test packages start their networks at the same time: one builds, the
# others wait for it rather than writing the same binaries at once.
mkdir -p bin
exec 9>"bin/.build.lock"
flock -w 900 9 || die "timed out waiting for another build of the Fabric binaries"
missing=()
for t in "${tools[@]}"; do
  if [[ "${FABRIC_REBUILD:-0}" == 1 || ! -x "bin/$t" ]]; then missing+=("$t"); fi
done
if (( ${#missing[@]} > 0 )); then
  log "building ${missing[*]} from $(awk '/^require github.com\/hyperledger\/fabric /{print $3}' go.mod) (about 60 s cold)"
  pkgs=()
  for t in "${missing[@]}"; do pkgs+=("github.com/hyperledger/fabric/cmd/$t"); done
  go build -trimpath -o bin/ "${pkgs[@]}"
fi
# The project's own helpers: lows (low-S check of CA certificates), ccconn (chaincode TLS),
# chconfig (config updates of the BFT ordering service).
for t in lows ccconn chconfig; do
  if [[ "${FABRIC_REBUILD:-0}" == 1 || ! -x "bin/$t" ]]; then go build -o "bin/$t" "./cmd/$t"; fi
done
for t in "${tools[@]}" lows ccconn chconfig; do [[ -x "bin/$t" ]] || die "bin/$t missing after build"; done
log "binaries ready in $BIN"

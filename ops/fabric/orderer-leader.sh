#!/usr/bin/env bash
# orderer-leader.sh: the index of the orderer that leads the BFT cluster now (0 the
# operator's, i bank i's), as the running orderers' metrics say; exit 1 if none says.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
source ./common.sh
check_settings
[[ -f "$NET/network.json" ]] || die "no network in $NET; run up.sh first"
orderer_leader || die "no running orderer names a leader"

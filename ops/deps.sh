#!/usr/bin/env bash
# Installs the Debian packages the tests and the demo need, only when one is
# missing, so a fresh machine (and CI) gets them and a prepared one loses no
# time. Go itself is expected on PATH (the machine image has it).
set -euo pipefail
need=()
command -v openssl >/dev/null || need+=(openssl)
command -v sftp >/dev/null || need+=(openssh-client)
command -v sha256sum >/dev/null || need+=(coreutils)
command -v git >/dev/null || need+=(git)
[ -x /usr/bin/time ] || need+=(time)
command -v jq >/dev/null || need+=(jq)
command -v curl >/dev/null || need+=(curl)
command -v xmllint >/dev/null || need+=(libxml2-utils) # the ISO 20022 schema oracle in tests
command -v ssh-keygen >/dev/null || need+=(openssh-client)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
# The console's browser tests drive Debian's Chromium (chromedp speaks the
# DevTools protocol to it; chromedriver is there for WebDriver clients).
[ -x /usr/bin/chromium ] || need+=(chromium)
[ -x /usr/bin/chromedriver ] || need+=(chromium-driver)
die() { echo "ops/deps.sh: ERROR: $*" >&2; exit 1; }
if [ ${#need[@]} -gt 0 ]; then
  [ "$(id -u)" -eq 0 ] || die "missing ${need[*]}; only root can install them: apt-get install --no-install-recommends ${need[*]}"
  echo "ops/deps.sh: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq || die "apt-get update failed (output above)"
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null || die "apt-get install ${need[*]} failed (output above)"
fi
command -v go >/dev/null || die "Go is not on PATH (expected /usr/local/go/bin)"

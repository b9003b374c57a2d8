#!/usr/bin/env bash
# Installs Debian's Chromium for the dashboard tests (test/browser/): playwright-core drives
# /usr/bin/chromium; nothing downloads a browser of its own. Idempotent: when the package is
# installed it only prints the version.
#
#   test/browser/install.sh
#
# Runs as root (or through sudo) on Debian 12.
set -euo pipefail

say() { echo "browser/install.sh: $*"; }

installed() {
  dpkg-query -W -f='${Status}' chromium 2>/dev/null | grep -q 'install ok installed' && [ -x /usr/bin/chromium ]
}

if installed; then
  say "already installed: $(/usr/bin/chromium --version 2>/dev/null | head -n1)"
  exit 0
fi

SUDO=
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null || { say "must run as root (or with sudo available) to apt-get install chromium" >&2; exit 1; }
  SUDO=sudo
fi

t0=$SECONDS
export DEBIAN_FRONTEND=noninteractive
APT=($SUDO apt-get -o DPkg::Lock::Timeout=300 -o Dpkg::Use-Pty=0)
say "apt-get update"
"${APT[@]}" update -qq
say "apt-get install chromium (no recommends)"
"${APT[@]}" install -y -qq --no-install-recommends chromium fonts-dejavu-core

installed || { say "chromium is not installed after apt-get install" >&2; exit 1; }
say "installed in $((SECONDS - t0))s: $(/usr/bin/chromium --version 2>/dev/null | head -n1)"

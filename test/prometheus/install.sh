#!/usr/bin/env bash
# Installs the Debian package `prometheus` for the metric-gate integration tests
# (test/prometheus/harness.ts runs the binary itself, with its own config and storage).
# Idempotent: when the package is installed it only prints the version.
#
#   test/prometheus/install.sh
#
# Runs as root (or through sudo) on Debian 12, with or without systemd. The package's own
# service is never started: the tests need the binary, not a daemon on :9090.
set -euo pipefail

say() { echo "prometheus/install.sh: $*"; }

installed() {
  dpkg-query -W -f='${Status}' prometheus 2>/dev/null | grep -q 'install ok installed' && command -v prometheus >/dev/null
}

version() {
  prometheus --version 2>&1 | head -n1
}

if installed; then
  say "already installed: $(version)"
  exit 0
fi

SUDO=
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null || { say "must run as root (or with sudo available) to apt-get install prometheus" >&2; exit 1; }
  SUDO=sudo
fi

t0=$SECONDS
# invoke-rc.d asks /usr/sbin/policy-rc.d whether a service may start; 101 means "no". Put one
# in place for the install only, and restore whatever was there before (Docker images often
# ship their own).
POLICY=/usr/sbin/policy-rc.d
BACKUP=
if [ -e "$POLICY" ]; then
  BACKUP=$(mktemp /tmp/policy-rc.d.XXXXXX)
  $SUDO cp -p "$POLICY" "$BACKUP"
fi
restore() {
  if [ -n "$BACKUP" ]; then
    $SUDO cp -p "$BACKUP" "$POLICY"
    rm -f "$BACKUP"
  else
    $SUDO rm -f "$POLICY"
  fi
}
trap restore EXIT
printf '#!/bin/sh\n# written by kruise-gitops test/prometheus/install.sh for the duration of an install\nexit 101\n' | $SUDO tee "$POLICY" >/dev/null
$SUDO chmod 755 "$POLICY"

export DEBIAN_FRONTEND=noninteractive
APT=($SUDO apt-get -o DPkg::Lock::Timeout=300 -o Dpkg::Use-Pty=0)

say "apt-get update"
"${APT[@]}" update -qq
# Recommends would pull in prometheus-node-exporter, another service the tests do not need.
say "apt-get install prometheus (no recommends)"
"${APT[@]}" install -y -qq --no-install-recommends prometheus

# Without a policy-rc.d (or with systemd) the service may have started anyway; the tests run
# their own instance, so stop it rather than leave a server on :9090.
if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
  $SUDO systemctl disable --now prometheus >/dev/null 2>&1 || true
fi

installed || { say "prometheus is not installed after apt-get install" >&2; exit 1; }
say "installed in $((SECONDS - t0))s: $(version)"

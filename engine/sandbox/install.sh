#!/usr/bin/env bash
# Installs what the sandbox for repo code needs (engine/sandbox): Debian's bubblewrap, and
# util-linux (prlimit, unshare, setpriv; part of every Debian system). Idempotent: with
# everything present it only prints the versions and checks that a sandbox can be made.
#
#   engine/sandbox/install.sh
#
# Runs as root (or through sudo) on Debian or Ubuntu. kgitops itself never installs anything: it
# refuses to run repo code without a sandbox and points here.
set -euo pipefail

say() { echo "sandbox/install.sh: $*"; }

have() { command -v "$1" >/dev/null 2>&1; }

if have bwrap && have prlimit && have unshare && have setpriv; then
  say "already installed: $(bwrap --version)"
else
  SUDO=
  if [ "$(id -u)" != 0 ]; then
    have sudo || { say "must run as root (or with sudo available) to apt-get install bubblewrap" >&2; exit 1; }
    SUDO=sudo
  fi
  export DEBIAN_FRONTEND=noninteractive
  APT=($SUDO apt-get -o DPkg::Lock::Timeout=300 -o Dpkg::Use-Pty=0)
  t0=$SECONDS
  say "apt-get install bubblewrap util-linux"
  if ! "${APT[@]}" install -y -qq --no-install-recommends bubblewrap util-linux; then
    say "install failed; refreshing the package lists once"
    "${APT[@]}" update -qq
    "${APT[@]}" install -y -qq --no-install-recommends bubblewrap util-linux
  fi
  say "installed in $((SECONDS - t0))s: $(bwrap --version)"
fi

# A trial: the same namespaces the engine uses. Fails here, with bubblewrap's own words, when the
# kernel refuses unprivileged user namespaces.
if ! bwrap --unshare-all --unshare-user --disable-userns --die-with-parent --ro-bind /usr /usr \
  --symlink usr/bin /bin --symlink usr/lib /lib --symlink usr/lib64 /lib64 --proc /proc --dev /dev \
  -- /usr/bin/true; then
  say "bubblewrap is installed but cannot create a sandbox here (see its message above)" >&2
  exit 1
fi
say "a sandbox can be made here"

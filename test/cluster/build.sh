#!/usr/bin/env bash
# Builds the control-plane binaries that the test harness runs (etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler, kruise-manager, kwok) from Go modules, into a
# cache outside the repository keyed by every version that goes into them.
#
#   test/cluster/build.sh              build what is missing (warm cache: a second or two)
#   test/cluster/build.sh --print-dir  print the cache directory for these versions, build nothing
#   test/cluster/build.sh --check      exit 0 if every binary is there, 1 otherwise
#
# Environment:
#   KGITOPS_CACHE_DIR  cache root (default ~/.cache/kruise-gitops); binaries land in
#                      $KGITOPS_CACHE_DIR/controlplane/<key>/bin
#   GOCACHE/GOMODCACHE the usual Go caches; keep them to make a rebuild after a key
#                      change cheap.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
MOD="$HERE/go"
# Bump when the way binaries are built changes (flags, layout): it changes the key.
RECIPE=1
KWOK_VERSION=v0.8.0

export GOTOOLCHAIN=local CGO_ENABLED=0

modver() { # version of a module required in go/go.mod
  awk -v m="$1" '$1 == m && $2 ~ /^v/ { print $2; exit }' "$MOD/go.mod"
}
K8S_VERSION=$(modver k8s.io/kubernetes)
ETCD_VERSION=$(modver go.etcd.io/etcd/server/v3)
KRUISE_VERSION=$(modver github.com/openkruise/kruise)
GO_VERSION=$(go env GOVERSION)
HASH=$( (cat "$MOD/go.mod" "$MOD/go.sum"; echo "recipe=$RECIPE kwok=$KWOK_VERSION") | sha256sum | cut -c1-10)
KEY="k8s-${K8S_VERSION}_etcd-${ETCD_VERSION}_kruise-${KRUISE_VERSION}_kwok-${KWOK_VERSION}_${GO_VERSION}_${HASH}"
ROOT="${KGITOPS_CACHE_DIR:-$HOME/.cache/kruise-gitops}/controlplane"
OUT="$ROOT/$KEY"
BINARIES=(etcd kube-apiserver kube-controller-manager kube-scheduler kruise-manager kwok)

complete() {
  [ -f "$OUT/kwok-stages.yaml" ] || return 1
  for b in "${BINARIES[@]}"; do [ -x "$OUT/bin/$b" ] || return 1; done
}

case "${1:-}" in
  --print-dir) echo "$OUT"; exit 0 ;;
  --check) complete && exit 0; exit 1 ;;
  "") ;;
  *) echo "usage: $0 [--print-dir|--check]" >&2; exit 2 ;;
esac

mkdir -p "$OUT/bin"
# One build at a time per cache root (CI and a developer's `npm run cluster:build` may overlap).
exec 9>"$ROOT/.build.lock"
if ! flock -n 9; then
  echo "build.sh: another build holds $ROOT/.build.lock, waiting..."
  flock 9
fi

if complete; then
  echo "build.sh: all binaries present in $OUT"
  exit 0
fi

echo "build.sh: building into $OUT"
echo "build.sh: $GO_VERSION, $(nproc) cores"
START_ALL=$(date +%s)

origin_hash() { # git commit a module version was built from, as the proxy reports it
  (cd "$MOD" && go mod download -json "$1@$2" 2>/dev/null) |
    sed -n 's/.*"Hash": "\([0-9a-f]*\)".*/\1/p' | head -n1
}

build() { # name, package, ldflags: go build in the consumer module
  local name=$1 pkg=$2 ld=$3 t0
  if [ -x "$OUT/bin/$name" ]; then echo "build.sh: $name already built"; return; fi
  echo "build.sh: building $name ($pkg) ..."
  t0=$(date +%s)
  (cd "$MOD" && go build -trimpath -ldflags "$ld" -o "$OUT/bin/.$name.tmp" "$pkg")
  mv -f "$OUT/bin/.$name.tmp" "$OUT/bin/$name"
  echo "$name $(($(date +%s) - t0))" >>"$OUT/build-times.txt"
  echo "build.sh: built $name in $(($(date +%s) - t0))s"
}

(cd "$MOD" && go mod download)

BUILD_DATE=$(date -u +%Y-%m-%dT%H:%M:%SZ)
K8S_COMMIT=$(origin_hash k8s.io/kubernetes "$K8S_VERSION")
K8S_MINOR=$(echo "$K8S_VERSION" | cut -d. -f2)
K8S_LD="-s -w"
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  K8S_LD="$K8S_LD -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$K8S_MINOR"
  K8S_LD="$K8S_LD -X $p.gitCommit=$K8S_COMMIT -X $p.gitTreeState=clean -X $p.buildDate=$BUILD_DATE"
done
ETCD_SHA=$(origin_hash go.etcd.io/etcd/server/v3 "$ETCD_VERSION" | cut -c1-8)
ETCD_LD="-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=${ETCD_SHA:-$ETCD_VERSION}"

# Largest first: later ones reuse most of its compiled packages.
build kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver "$K8S_LD"
build kube-controller-manager k8s.io/kubernetes/cmd/kube-controller-manager "$K8S_LD"
build kube-scheduler k8s.io/kubernetes/cmd/kube-scheduler "$K8S_LD"
build etcd go.etcd.io/etcd/server/v3 "$ETCD_LD"
build kruise-manager github.com/openkruise/kruise "-s -w"

# kwok has no replace directives, so `go install pkg@version` works; run it outside the
# consumer module so that module's requirements do not apply.
if [ ! -x "$OUT/bin/kwok" ]; then
  echo "build.sh: building kwok (sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION) ..."
  t0=$(date +%s)
  tmp=$(mktemp -d)
  (cd "$tmp" && GOBIN="$tmp" go install -trimpath \
    -ldflags "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=${KWOK_VERSION#v}" \
    "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION")
  mv -f "$tmp/kwok" "$OUT/bin/kwok"
  rm -rf "$tmp"
  echo "kwok $(($(date +%s) - t0))" >>"$OUT/build-times.txt"
  echo "build.sh: built kwok in $(($(date +%s) - t0))s"
fi

# Standalone kwok ships no stages: take node/pod lifecycle stages from the kwok module
# itself (read at run time, never copied into this repository).
KWOK_DIR=$(cd /tmp && go mod download -json "sigs.k8s.io/kwok@$KWOK_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
{
  for f in node/fast/node-initialize.yaml node/heartbeat/node-heartbeat.yaml \
    pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
    echo "---"
    cat "$KWOK_DIR/kustomize/stage/$f"
  done
} >"$OUT/kwok-stages.yaml.tmp"
mv -f "$OUT/kwok-stages.yaml.tmp" "$OUT/kwok-stages.yaml"

for b in "${BINARIES[@]}"; do
  printf 'build.sh: %-24s %s\n' "$b" "$(du -h "$OUT/bin/$b" | cut -f1)"
done
echo "build.sh: done in $(($(date +%s) - START_ALL))s ($OUT)"

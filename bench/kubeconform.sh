#!/usr/bin/env bash
# Builds kubeconform (the reference `kgitops validate` is measured against) from the Go module
# proxy, cached outside the repo by version. Prints the binary's path.
#   bash bench/kubeconform.sh
set -euo pipefail
version=v0.8.0
dir="${XDG_CACHE_HOME:-$HOME/.cache}/kruise-gitops/kubeconform-$version-$(go env GOVERSION)"
if [[ ! -x "$dir/kubeconform" ]]; then
  mkdir -p "$dir"
  echo "kubeconform.sh: building kubeconform $version (Go module proxy) ..." >&2
  GOBIN="$dir" GOFLAGS=-mod=mod go install "github.com/yannh/kubeconform/cmd/kubeconform@$version" >&2
fi
echo "$dir/kubeconform"

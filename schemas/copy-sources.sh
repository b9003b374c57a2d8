#!/usr/bin/env bash
# Copies the reference material the project builds on from ../shared (beside the checkout) into
# its own tree, so that nothing reads ../shared at run or test time:
#   schemas/sources/   the OpenKruise v1.9.0 CRDs and webhook configurations, the Kubernetes
#                      v1.32 definitions (input of npm run schemas and npm run import; the CRDs
#                      and webhooks are also what the test control plane installs)
#   test/fixtures/kruise-samples/   Kruise's sample manifests (some are placeholders that must fail validation)
#   npm run copy-sources     (KGITOPS_SHARED_DIR overrides ../shared)
set -euo pipefail
cd "$(dirname "$0")/.."
shared=${KGITOPS_SHARED_DIR:-../shared}
[ -d "$shared/kruise/crds/v1.9.0" ] || { echo "copy-sources: no $shared/kruise/crds/v1.9.0 (set KGITOPS_SHARED_DIR)" >&2; exit 1; }
out=schemas/sources
rm -rf "$out/kruise-v1.9.0" test/fixtures/kruise-samples
mkdir -p "$out/kruise-v1.9.0/crds" test/fixtures/kruise-samples
cp "$shared"/kruise/crds/v1.9.0/*.yaml "$out/kruise-v1.9.0/crds/"
cp "$shared/kruise/webhook/manifests-v1.9.0.yaml" "$out/kruise-v1.9.0/webhook-manifests.yaml"
cp "$shared/kruise/LICENSE-kruise.md" "$out/kruise-v1.9.0/LICENSE-kruise.md"
cp "$shared/kubernetes/definitions-v1.32.0.json" "$out/kubernetes-definitions-v1.32.0.json"
cp "$shared"/kruise/samples/*.yaml test/fixtures/kruise-samples/
cp "$shared/kruise/LICENSE-kruise.md" test/fixtures/kruise-samples/LICENSE-kruise.md
echo "copy-sources: $(ls "$out/kruise-v1.9.0/crds" | wc -l) CRDs, webhooks, Kubernetes definitions -> $out; $(ls test/fixtures/kruise-samples/*.yaml | wc -l) samples -> test/fixtures/kruise-samples"

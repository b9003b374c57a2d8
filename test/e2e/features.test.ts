/**
 * The constructs for Kruise's kinds beyond the workloads, against the real kruise-manager and
 * its webhooks: the typical objects are accepted and acted on, and every broken case of the
 * shared rule table whose webhook runs here is rejected by Kruise as the DSL's rules reject it.
 * The image jobs' webhooks run too (ImagePullJobGate on, as in the Helm chart). ContainerRecreateRequest
 * and PodProbeMarker need a running kruise-daemon (there is none on kwok nodes), and
 * ResourceDistribution a gate that is off by default: those are covered by the integration test
 * (the real apiserver and CRDs) and the unit tests (the rules).
 */
import type * as k8s from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { KubeCluster } from '../../engine/cluster/kube.js';
import type { KubeObject } from '../../engine/cluster/types.js';
import { FEATURE_RULE_CASES, renderFeatures } from '../fixtures/features.js';
import { apply, ApplyError, kubeconfigPath, waitFor, withNamespace } from '../cluster/harness.js';

/** The kinds whose validating webhook runs on this cluster (see above). */
const WEBHOOKED = new Set(['WorkloadSpread', 'PersistentPodState', 'EphemeralJob', 'PodUnavailableBudget', 'ImagePullJob', 'ImageListPullJob']);

const kube = () => KubeCluster.load({ kubeconfig: kubeconfigPath() });

function typical(ns: string): KubeObject[] {
  const r = renderFeatures(ns);
  expect(r.diagnostics).toEqual([]);
  return r.objects.map((o) => o.manifest as KubeObject).filter((m) => m.metadata.namespace === ns);
}

describe('Kruise kinds beyond the workloads, with kruise-manager', () => {
  it('accepts the typical objects: the spread places new pods, the budget counts them', () => withNamespace(async (ns) => {
    const objects = typical(ns).filter((m) => WEBHOOKED.has(m.kind) || m.kind === 'CloneSet' || m.kind === 'StatefulSet');
    // Spread and budget first, as the engine applies them (stage 1), so the CloneSet's pods are placed.
    objects.sort((a, b) => Number(a.kind === 'CloneSet' || a.kind === 'StatefulSet') - Number(b.kind === 'CloneSet' || b.kind === 'StatefulSet'));
    for (const m of objects) {
      await apply(m as unknown as k8s.KubernetesObject, { fieldManager: 'kgitops' }).catch((e: ApplyError) => {
        throw new Error(`Kruise rejected ${m.kind} ${m.metadata.name}: ${e.body?.message ?? e.message}`);
      });
    }
    const c = kube();
    const placed = await waitFor(async () => {
      const pods = (await c.list('v1', 'Pod', { namespace: ns, labelSelector: 'app=web' })).items;
      return pods.length === 6 && pods.every((p) => p.metadata.annotations?.['apps.kruise.io/matched-workloadspread']) ? pods : undefined;
    }, { timeoutMs: 120_000, intervalMs: 500, message: 'six web pods placed by the WorkloadSpread' });
    const subsets = placed.map((p) => JSON.parse(p.metadata.annotations!['apps.kruise.io/matched-workloadspread']!).subset as string);
    // maxReplicas 2 in on-demand, the rest in spot.
    expect(subsets.filter((s) => s === 'on-demand')).toHaveLength(2);
    expect(subsets.filter((s) => s === 'spot')).toHaveLength(4);
    await waitFor(async () => {
      const pub = await c.get({ apiVersion: 'policy.kruise.io/v1alpha1', kind: 'PodUnavailableBudget', name: 'web', namespace: ns });
      return (pub?.status as { totalReplicas?: number } | undefined)?.totalReplicas === 6 ? pub : undefined;
    }, { timeoutMs: 60_000, intervalMs: 500, message: 'the PodUnavailableBudget counting the six pods' });
  }));

  const rejected = FEATURE_RULE_CASES.filter((c) => WEBHOOKED.has(c.kind) && (c.severity ?? 'error') === 'error');

  it.each(rejected)('Kruise rejects what the rules reject: $kind, $name', (c) => withNamespace(async (ns) => {
    const m = structuredClone(typical(ns).find((o) => o.kind === c.kind)!) as any;
    c.mutate(m);
    const e = await apply(m as k8s.KubernetesObject, { fieldManager: 'kgitops', dryRun: true }).then(() => undefined, (x: unknown) => x);
    expect(e, `${c.kind} ${c.name} was accepted by the real cluster`).toBeInstanceOf(ApplyError);
    expect([400, 403, 422]).toContain((e as ApplyError).code);
    // For the same field: the rule's JSON path ends in the field Kruise names.
    const field = c.path.split(/[.[\]]/).filter((p) => p && !/^\d+$/.test(p)).at(-1)!;
    const said = ((e as ApplyError).body?.message ?? '').toLowerCase();
    expect(said.includes(field.toLowerCase()) || said.includes(field.toLowerCase().replace(/s$/, '')), `Kruise said: ${said}`).toBe(true);
  }));
});

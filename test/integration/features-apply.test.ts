/**
 * Every construct for Kruise's kinds beyond the workloads, applied to the real apiserver with the
 * Kruise v1.9 CRDs (server-side, as the engine's field manager): each typical object is accepted,
 * and what the apiserver stores is what the DSL rendered, field for field. A field the CRD's
 * structural schema does not know would be pruned silently, and show up here as a difference.
 */
import { describe, expect, it } from 'vitest';
import { KubeCluster } from '../../engine/cluster/kube.js';
import type { KubeObject } from '../../engine/cluster/types.js';
import { renderFeatures } from '../fixtures/features.js';
import { kubeconfigPath, withNamespace } from '../cluster/harness.js';

const cluster = () => KubeCluster.load({ kubeconfig: kubeconfigPath() });

describe('Kruise kinds beyond the workloads, on a real apiserver', () => {
  it('accepts every typical object and stores every field as rendered', () =>
    withNamespace(async (ns) => {
      const c = cluster();
      const rendered = renderFeatures(ns);
      expect(rendered.diagnostics).toEqual([]);
      const kinds: string[] = [];
      for (const o of rendered.objects) {
        const m = o.manifest as KubeObject;
        // ResourceDistribution is cluster-scoped: give it a name of this test's own.
        if (m.kind === 'ResourceDistribution') m.metadata.name = `${ns}-registry-config`;
        const stored = await c.apply(m, { fieldManager: 'kgitops' }).catch((e: Error) => {
          throw new Error(`the apiserver rejected ${m.kind} ${m.metadata.name}: ${e.message}`);
        });
        try {
          expect(stored.apiVersion).toBe(m.apiVersion);
          expect(stored.metadata.namespace).toBe(m.metadata.namespace);
          // CloneSet and StatefulSet get defaults from their CRDs; the other kinds must come back as sent.
          if (m.kind !== 'CloneSet' && m.kind !== 'StatefulSet') expect(stored.spec, `${m.kind} ${m.metadata.name}`).toEqual(m.spec);
          kinds.push(m.kind);
        } finally {
          if (m.kind === 'ResourceDistribution') await c.delete({ apiVersion: m.apiVersion, kind: m.kind, name: m.metadata.name });
        }
      }
      expect(kinds.sort()).toEqual([
        'CloneSet', 'ContainerRecreateRequest', 'EphemeralJob', 'ImageListPullJob', 'ImagePullJob', 'PersistentPodState',
        'PodProbeMarker', 'PodUnavailableBudget', 'ResourceDistribution', 'StatefulSet', 'WorkloadSpread',
      ]);
    }));

  it('rejects what the CRD schema rejects, as the DSL\'s validation does', () =>
    withNamespace(async (ns) => {
      const c = cluster();
      const pull = renderFeatures(ns).objects.find((o) => o.manifest.kind === 'ImagePullJob')!.manifest as KubeObject;
      delete (pull.spec as Record<string, unknown>).completionPolicy;
      const e = await c.apply(pull, { fieldManager: 'kgitops' }).catch((x: Error) => x);
      expect(e).toBeInstanceOf(Error);
      expect((e as Error).message).toMatch(/completionPolicy: Required value/);
    }));
});

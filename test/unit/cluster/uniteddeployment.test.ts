/**
 * UnitedDeployment: Kruise's subset replica allocation (percentages rounded half up, the rest
 * spread), subset workloads run by their own controllers, per-subset manual partitions and the
 * UD status (subsetReplicas, subsetStatuses, updateStatus, currentRevision).
 */
import { describe, expect, it } from 'vitest';
import type { KubeObject } from '../../../engine/cluster/types.js';
import { unitedDeploymentAllocation as allocate } from '../../../dsl/arithmetic.js';
import { GIT, RELEASE, env, podTemplate } from './helpers.js';

const KEY = { apiVersion: 'apps.kruise.io/v1alpha1', kind: 'UnitedDeployment', name: 'cart', namespace: 'shop' };
const LABELS = { app: 'cart' };
const zone = (z: string) => ({ matchExpressions: [{ key: 'topology.kubernetes.io/zone', operator: 'In', values: [z] }] });

function ud(image: string, subsets: Record<string, unknown>[], replicas = 9, template = 'cloneSetTemplate'): KubeObject {
  return {
    apiVersion: 'apps.kruise.io/v1alpha1', kind: 'UnitedDeployment', metadata: { name: 'cart', namespace: 'shop' },
    spec: {
      replicas, selector: { matchLabels: LABELS },
      template: { [template]: { metadata: { labels: LABELS }, spec: { selector: { matchLabels: LABELS }, template: podTemplate(LABELS, image) } } },
      topology: { subsets },
    },
  };
}

const ZONES = [{ name: 'zone-a', nodeSelectorTerm: zone('zone-a') }, { name: 'zone-b', nodeSelectorTerm: zone('zone-b') }, { name: 'zone-c', nodeSelectorTerm: zone('zone-c') }];

function partitions(p: Record<string, number>): KubeObject {
  return { apiVersion: 'apps.kruise.io/v1alpha1', kind: 'UnitedDeployment', metadata: { name: 'cart', namespace: 'shop' }, spec: { updateStrategy: { manualUpdate: { partitions: p } } } };
}

describe('UnitedDeployment allocation', () => {
  it('percentages of spec.replicas round half up; the rest is spread, the remainder to the last subsets', () => {
    const none = new Map<string, number>();
    expect(allocate(9, [{ name: 'a', replicas: '50%' }, { name: 'b' }, { name: 'c' }], none)).toEqual(new Map([['a', 5], ['b', 2], ['c', 2]]));
    expect(allocate(9, [{ name: 'a' }, { name: 'b' }, { name: 'c' }], none)).toEqual(new Map([['a', 3], ['b', 3], ['c', 3]]));
    expect(allocate(10, [{ name: 'a' }, { name: 'b' }, { name: 'c' }], none)).toEqual(new Map([['a', 3], ['b', 3], ['c', 4]]));
    expect(allocate(11, [{ name: 'a', replicas: 1 }, { name: 'b' }, { name: 'c' }], none)).toEqual(new Map([['a', 1], ['b', 5], ['c', 5]]));
    expect(allocate(9, [{ name: 'a', replicas: '50%' }, { name: 'b', replicas: '50%' }, { name: 'c' }], none)).toMatch(/greater than UnitedDeployment replica/);
    // Current subset sizes decide who keeps the remainder (Kruise sorts by them first).
    expect(allocate(10, [{ name: 'a' }, { name: 'b' }, { name: 'c' }], new Map([['a', 4], ['b', 3], ['c', 3]]))).toEqual(new Map([['a', 4], ['b', 3], ['c', 3]]));
  });
});

describe('UnitedDeployment', () => {
  it('runs a CloneSet per subset: 9 replicas over 3 zones with a "50%" subset', async () => {
    const e = await env();
    await e.sim.apply(ud('cart:v1', [{ ...ZONES[0], replicas: '50%' }, ZONES[1]!, ZONES[2]!]), GIT);
    await e.until(async () => (await e.observed(KEY)).readyReplicas === 9);
    const st = (await e.get(KEY)).status;
    expect(st.subsetReplicas).toEqual({ 'zone-a': 5, 'zone-b': 2, 'zone-c': 2 });
    expect(st).toMatchObject({ replicas: 9, readyReplicas: 9, updatedReplicas: 9, updatedReadyReplicas: 9 });
    expect(st.subsetStatuses).toEqual([
      { name: 'zone-a', replicas: 5, readyReplicas: 5, partition: 0 },
      { name: 'zone-b', replicas: 2, readyReplicas: 2, partition: 0 },
      { name: 'zone-c', replicas: 2, readyReplicas: 2, partition: 0 },
    ]);
    expect(st.updateStatus).toEqual({ updatedRevision: st.currentRevision, currentPartitions: { 'zone-a': 0, 'zone-b': 0, 'zone-c': 0 } });
    const subsets = (await e.sim.list('apps.kruise.io/v1alpha1', 'CloneSet', { namespace: 'shop', labelSelector: 'apps.kruise.io/subset-name' })).items;
    expect(subsets.map((s) => [s.metadata.labels!['apps.kruise.io/subset-name'], s.spec.replicas]).sort()).toEqual([['zone-a', 5], ['zone-b', 2], ['zone-c', 2]]);
    expect(subsets[0]!.spec.template.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms).toHaveLength(1);
  });

  it('per-subset partitions: a new template reaches only the subsets released, currentRevision moves when all are', async () => {
    const e = await env();
    await e.sim.apply(ud('cart:v1', ZONES), GIT);
    await e.until(async () => (await e.observed(KEY)).readyReplicas === 9);
    const v1 = (await e.get(KEY)).status.currentRevision;
    await e.sim.apply(ud('cart:v2', ZONES), GIT);
    await e.sim.apply(partitions({ 'zone-a': 3, 'zone-b': 3, 'zone-c': 3 }), RELEASE);
    await e.tick(10_000);
    let st = (await e.get(KEY)).status;
    expect(st).toMatchObject({ updatedReplicas: 0, currentRevision: v1 });
    expect(st.updateStatus.updatedRevision).not.toBe(v1);

    await e.sim.apply(partitions({ 'zone-a': 3, 'zone-b': 3, 'zone-c': 0 }), RELEASE);
    await e.until(async () => (await e.observed(KEY)).updatedReadyReplicas === 3);
    await e.tick(10_000);
    st = (await e.get(KEY)).status;
    expect(st).toMatchObject({ updatedReplicas: 3, updatedReadyReplicas: 3, currentRevision: v1 });
    expect(st.updateStatus.currentPartitions).toEqual({ 'zone-a': 3, 'zone-b': 3, 'zone-c': 0 });
    expect(st.subsetStatuses.map((s: { partition: number }) => s.partition)).toEqual([3, 3, 0]);
    const subsetC = (await e.sim.list('apps.kruise.io/v1alpha1', 'CloneSet', { namespace: 'shop', labelSelector: 'apps.kruise.io/subset-name=zone-c' })).items[0]!;
    expect(subsetC.spec.updateStrategy.partition).toBe(0);
    expect(subsetC.status.updatedReadyReplicas).toBe(3);

    // A partition above the subset's replicas is clamped to them.
    await e.sim.apply(partitions({ 'zone-a': 1, 'zone-b': 7, 'zone-c': 0 }), RELEASE);
    await e.until(async () => (await e.observed(KEY)).updatedReadyReplicas === 5);
    expect((await e.get(KEY)).status.updateStatus.currentPartitions).toEqual({ 'zone-a': 1, 'zone-b': 3, 'zone-c': 0 });

    await e.sim.apply(partitions({ 'zone-a': 0, 'zone-b': 0, 'zone-c': 0 }), RELEASE);
    await e.until(async () => (await e.observed(KEY)).updatedReadyReplicas === 9);
    await e.tick(1000);
    st = (await e.get(KEY)).status;
    expect(st.currentRevision).toBe(st.updateStatus.updatedRevision);
    expect(st.conditions.find((c: { type: string }) => c.type === 'UnitedDeploymentUpdated')).toMatchObject({ status: 'True' });
  });

  it('Advanced StatefulSet subsets get the partition in rollingUpdate', async () => {
    const e = await env();
    await e.sim.apply(ud('cart:v1', ZONES.slice(0, 2), 4, 'advancedStatefulSetTemplate'), GIT);
    await e.until(async () => (await e.observed(KEY)).readyReplicas === 4);
    await e.sim.apply(ud('cart:v2', ZONES.slice(0, 2), 4, 'advancedStatefulSetTemplate'), GIT);
    await e.sim.apply(partitions({ 'zone-a': 1, 'zone-b': 2 }), RELEASE);
    await e.until(async () => (await e.observed(KEY)).updatedReadyReplicas === 1);
    await e.tick(10_000);
    const subsets = (await e.sim.list('apps.kruise.io/v1beta1', 'StatefulSet', { namespace: 'shop' })).items;
    expect(subsets.map((s) => s.spec.updateStrategy.rollingUpdate.partition).sort()).toEqual([1, 2]);
    expect((await e.get(KEY)).status.updatedReplicas).toBe(1);
  });

  it('rejects a CloneSet template without a selector, as the real apiserver does (the CRD requires it), with or without webhooks', async () => {
    const noSelector = ud('cart:v1', ZONES);
    delete noSelector.spec.template.cloneSetTemplate.spec.selector;
    for (const admission of [true, false]) {
      const e = await env({ admission });
      const err = await e.sim.apply(noSelector, GIT).then(() => undefined, (x: unknown) => x);
      expect(err).toMatchObject({ status: 422, reason: 'Invalid' });
      expect((err as Error).message).toContain('UnitedDeployment.apps.kruise.io "cart" is invalid: spec.template.cloneSetTemplate.spec.selector: required field "selector" is missing');
      expect(await e.sim.get(KEY)).toBeUndefined();
    }
  });

  it('each subset selects its own pods: the UnitedDeployment selector plus the subset label, as Kruise writes it', async () => {
    const e = await env();
    await e.sim.apply(ud('cart:v1', ZONES), GIT);
    await e.until(async () => (await e.observed(KEY)).readyReplicas === 9);
    const subsets = (await e.sim.list('apps.kruise.io/v1alpha1', 'CloneSet', { namespace: 'shop' })).items;
    expect(subsets.map((s) => s.spec.selector).sort((a, b) => a.matchLabels['apps.kruise.io/subset-name'].localeCompare(b.matchLabels['apps.kruise.io/subset-name']))).toEqual(
      ['zone-a', 'zone-b', 'zone-c'].map((z) => ({ matchLabels: { ...LABELS, 'apps.kruise.io/subset-name': z } })),
    );
  });

  it('replicas that do not fit: the webhook rejects them; without admission the controller reports them', async () => {
    const tooMany = ud('cart:v1', [{ ...ZONES[0], replicas: '50%' }, { ...ZONES[1], replicas: '50%' }, ZONES[2]!]);
    const e = await env();
    await expect(e.sim.apply(tooMany, GIT)).rejects.toMatchObject({ status: 422 });
    const lax = await env({ admission: false });
    await lax.sim.apply(tooMany, GIT);
    await lax.tick(1000);
    expect((await lax.get(KEY)).status.conditions.find((c: { type: string }) => c.type === 'SubsetProvisioned')).toMatchObject({
      status: 'False', message: "specified subsets' replica (10) is greater than UnitedDeployment replica (9)",
    });
    expect((await lax.sim.list('apps.kruise.io/v1alpha1', 'CloneSet', { namespace: 'shop' })).items).toEqual([]);
  });
});

/**
 * Advanced StatefulSet (and core StatefulSet): ordinal order, the integer partition (ordinals at
 * or above it updated, highest first), OrderedReady vs Parallel with maxUnavailable,
 * podUpdatePolicy, priorities in unordered mode, and the status fields each version has.
 */
import { describe, expect, it } from 'vitest';
import type { KubeObject, WatchEvent } from '../../../engine/cluster/types.js';
import { GIT, RELEASE, env, isReady, podTemplate } from './helpers.js';

const KEY = { apiVersion: 'apps.kruise.io/v1beta1', kind: 'StatefulSet', name: 'db', namespace: 'shop' };
const LABELS = { app: 'db' };

function asts(image: string, rollingUpdate: Record<string, unknown> = {}, spec: Record<string, unknown> = {}, apiVersion = 'apps.kruise.io/v1beta1'): KubeObject {
  return {
    apiVersion, kind: 'StatefulSet', metadata: { name: 'db', namespace: 'shop' },
    spec: {
      replicas: 5, serviceName: 'db', selector: { matchLabels: LABELS }, template: podTemplate(LABELS, image),
      updateStrategy: { type: 'RollingUpdate', rollingUpdate }, ...spec,
    },
  };
}

function partition(p: number, extra: Record<string, unknown> = {}): KubeObject {
  return { apiVersion: 'apps.kruise.io/v1beta1', kind: 'StatefulSet', metadata: { name: 'db', namespace: 'shop' }, spec: { updateStrategy: { rollingUpdate: { partition: p, ...extra } } } };
}

const ordinal = (p: KubeObject) => Number(p.metadata.name.split('-').pop());
const image = (p: KubeObject) => p.spec.containers[0].image;

describe('Advanced StatefulSet', () => {
  it('OrderedReady creates pods one at a time in ordinal order, each after the previous is ready', async () => {
    const e = await env();
    const created: string[] = [];
    await e.sim.watch('v1', 'Pod', { namespace: 'shop' }, (ev: WatchEvent) => { if (ev.type === 'ADDED') created.push(`${ev.object.metadata.name}@${e.clock.now()}`); });
    await e.sim.apply(asts('db:v1', {}, { replicas: 3 }), GIT);
    await e.tick(2000);
    expect(e.sim.pods(KEY).map((p) => p.metadata.name)).toEqual(['db-0']);
    await e.until(async () => (await e.get(KEY)).status?.readyReplicas === 3);
    expect(created.map((c) => c.split('@')[0])).toEqual(['db-0', 'db-1', 'db-2']);
    const times = created.map((c) => Number(c.split('@')[1]));
    expect(times[1]! - times[0]!).toBeGreaterThanOrEqual(3000); // start + readiness of the previous pod
  });

  it('updates ordinals >= partition, highest first, one at a time; no expectedUpdatedReplicas; currentRevision waits for readiness', async () => {
    const e = await env();
    await e.sim.apply(asts('db:v1'), GIT);
    await e.until(async () => (await e.get(KEY)).status?.readyReplicas === 5);
    const v1 = (await e.get(KEY)).status.currentRevision;
    await e.sim.apply(asts('db:v2'), GIT);
    await e.sim.apply(partition(5), RELEASE);
    await e.tick(5000);
    expect((await e.get(KEY)).status).toMatchObject({ updatedReplicas: 0, currentRevision: v1 });

    const order: number[] = [];
    const { resourceVersion } = await e.sim.list('v1', 'Pod', { namespace: 'shop' });
    await e.sim.watch('v1', 'Pod', { namespace: 'shop', resourceVersion }, (ev) => { if (ev.type === 'ADDED') order.push(ordinal(ev.object)); });
    await e.sim.apply(partition(3), RELEASE);
    let concurrent = 0;
    await e.until(async () => (await e.observed(KEY)).updatedReadyReplicas === 2, 60_000, 100, () => {
      concurrent = Math.max(concurrent, e.sim.pods(KEY).filter((p) => !isReady(p)).length + (5 - e.sim.pods(KEY).length));
    });
    expect(order).toEqual([4, 3]);
    expect(concurrent).toBe(1);
    let st = (await e.get(KEY)).status;
    expect(st).not.toHaveProperty('expectedUpdatedReplicas');
    expect(st).toMatchObject({ replicas: 5, updatedReplicas: 2, currentReplicas: 3, currentRevision: v1 });
    expect(e.sim.pods(KEY).filter((p) => image(p) === 'db:v2').map(ordinal).sort()).toEqual([3, 4]);

    // A pod below the partition that is deleted comes back at the current revision.
    await e.sim.delete({ apiVersion: 'v1', kind: 'Pod', name: 'db-1', namespace: 'shop' });
    await e.until(async () => e.sim.pods(KEY).length === 5 && e.sim.pods(KEY).every(isReady));
    expect(image(e.sim.pods(KEY).find((p) => ordinal(p) === 1)!)).toBe('db:v1');

    await e.sim.apply(partition(0), RELEASE);
    await e.until(async () => (await e.observed(KEY)).updatedReadyReplicas === 5);
    expect(order).toEqual([4, 3, 1, 2, 1, 0]);
    st = (await e.get(KEY)).status;
    expect(st.currentRevision).toBe(st.updateRevision);
  });

  it('Parallel with maxUnavailable updates several at once (percent rounds down)', async () => {
    const e = await env();
    const ru = { maxUnavailable: '50%' }; // 2.5 -> 2
    await e.sim.apply(asts('db:v1', ru, { podManagementPolicy: 'Parallel' }), GIT);
    await e.tick(3300);
    expect((await e.get(KEY)).status.readyReplicas).toBe(5); // all created at once
    await e.sim.apply(asts('db:v2', ru, { podManagementPolicy: 'Parallel' }), GIT);
    let most = 0;
    await e.until(async () => (await e.observed(KEY)).updatedReadyReplicas === 5, 60_000, 100, () => {
      most = Math.max(most, 5 - e.sim.pods(KEY).filter(isReady).length);
      expect(5 - e.sim.pods(KEY).filter(isReady).length).toBeLessThanOrEqual(2);
    });
    expect(most).toBe(2);
  });

  it('InPlaceIfPossible keeps the pods; unorderedUpdate orderPriority picks which pods go first', async () => {
    const e = await env();
    const ru = { podUpdatePolicy: 'InPlaceIfPossible', maxUnavailable: 1, unorderedUpdate: { priorityStrategy: { orderPriority: [{ orderedKey: 'rank' }] } } };
    const withGate = (o: KubeObject) => {
      o.spec.template.spec.readinessGates = [{ conditionType: 'InPlaceUpdateReady' }];
      return o;
    };
    await e.sim.apply(withGate(asts('db:v1', ru, { podManagementPolicy: 'Parallel' })), GIT);
    await e.until(async () => (await e.get(KEY)).status?.readyReplicas === 5);
    for (const p of e.sim.pods(KEY)) {
      await e.sim.update({ ...p, metadata: { ...p.metadata, labels: { ...p.metadata.labels, rank: `r${[3, 9, 1, 7, 5][ordinal(p)]}` } } }, 'kubectl-label');
    }
    const uids = e.sim.pods(KEY).map((p) => p.metadata.uid).sort();
    await e.sim.apply(withGate(asts('db:v2', ru, { podManagementPolicy: 'Parallel' })), GIT);
    await e.sim.apply(partition(3), RELEASE);
    await e.until(async () => (await e.observed(KEY)).updatedReadyReplicas === 2);
    // Larger rank suffix first: r9 (db-1), r7 (db-3).
    expect(e.sim.pods(KEY).filter((p) => image(p) === 'db:v2').map(ordinal).sort()).toEqual([1, 3]);
    expect(e.sim.pods(KEY).map((p) => p.metadata.uid).sort()).toEqual(uids);
  });

  it('paused stops the rolling update', async () => {
    const e = await env();
    await e.sim.apply(asts('db:v1', {}, { replicas: 2 }), GIT);
    await e.until(async () => (await e.get(KEY)).status?.readyReplicas === 2);
    await e.sim.apply(asts('db:v2', {}, { replicas: 2 }), GIT);
    await e.sim.apply(partition(0, { paused: true }), RELEASE);
    await e.tick(20_000);
    expect((await e.get(KEY)).status.updatedReplicas).toBe(0);
    await e.sim.apply(partition(0, { paused: false }), RELEASE);
    await e.until(async () => (await e.observed(KEY)).updatedReadyReplicas === 2);
  });

  it('status per version: v1beta1 has updatedReadyReplicas, v1alpha1 does not; defaults as the webhook sets them', async () => {
    const e = await env();
    await e.sim.apply(asts('db:v1', {}, { replicas: 1 }, 'apps.kruise.io/v1alpha1'), GIT);
    await e.until(async () => (await e.get(KEY)).status?.readyReplicas === 1);
    const alpha = await e.get({ ...KEY, apiVersion: 'apps.kruise.io/v1alpha1' });
    expect(alpha.status).not.toHaveProperty('updatedReadyReplicas');
    const e2 = await env();
    await e2.sim.apply(asts('db:v1', {}, { replicas: 1 }), GIT);
    await e2.until(async () => (await e2.get(KEY)).status?.readyReplicas === 1);
    const beta = await e2.get(KEY);
    expect(Object.keys(beta.status).sort()).toEqual([
      'availableReplicas', 'collisionCount', 'currentReplicas', 'currentRevision', 'labelSelector', 'observedGeneration',
      'readyReplicas', 'replicas', 'updateRevision', 'updatedAvailableReplicas', 'updatedReadyReplicas', 'updatedReplicas',
    ]);
    expect(beta.spec.updateStrategy.rollingUpdate).toEqual({ partition: 0, maxUnavailable: 1, podUpdatePolicy: 'ReCreate', minReadySeconds: 0 });
    expect(beta.spec.podManagementPolicy).toBe('OrderedReady');
  });

  it('scales down highest ordinal first; reserveOrdinals are skipped', async () => {
    const e = await env();
    await e.sim.apply(asts('db:v1', {}, { replicas: 3, reserveOrdinals: [1], podManagementPolicy: 'Parallel' }), GIT);
    await e.until(async () => (await e.get(KEY)).status?.readyReplicas === 3);
    expect(e.sim.pods(KEY).map(ordinal).sort()).toEqual([0, 2, 3]);
    await e.sim.apply(asts('db:v1', {}, { replicas: 2, reserveOrdinals: [1], podManagementPolicy: 'Parallel' }), GIT);
    await e.until(async () => (await e.get(KEY)).status?.replicas === 2);
    expect(e.sim.pods(KEY).map(ordinal).sort()).toEqual([0, 2]);
  });
});

describe('core StatefulSet (apps/v1)', () => {
  it('rolls with its partition and reports the upstream status fields', async () => {
    const e = await env();
    const key = { apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'db', namespace: 'shop' };
    const sts = (image: string, p: number) => ({ ...asts(image, { partition: p }, { replicas: 3 }, 'apps/v1') });
    await e.sim.apply(sts('db:v1', 0), GIT);
    await e.until(async () => (await e.get(key)).status?.readyReplicas === 3);
    await e.sim.apply(sts('db:v2', 2), GIT);
    await e.until(async () => (await e.get(key)).status.updatedReplicas === 1 && (await e.get(key)).status.readyReplicas === 3);
    const st = (await e.get(key)).status;
    expect(st).not.toHaveProperty('updatedReadyReplicas');
    expect(st).toMatchObject({ replicas: 3, currentReplicas: 2, updatedReplicas: 1 });
    expect(image(e.sim.pods(key).find((p) => ordinal(p) === 2)!)).toBe('db:v2');
  });
});

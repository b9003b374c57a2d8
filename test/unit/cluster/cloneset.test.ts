/**
 * The simulated CloneSet controller against Kruise v1.9 semantics (API-NOTES §3): a partition
 * rollout step by step with maxUnavailable never exceeded, expectedUpdatedReplicas by Kruise's
 * rounding, observedGeneration lagging, in-place vs recreate, a stuck step, no rollback when the
 * partition goes up, surge, priorities and the Progressing condition.
 */
import { describe, expect, it } from 'vitest';
import { cloneSetPartitionKeep } from '../../../dsl/arithmetic.js';
import type { KubeObject } from '../../../engine/cluster/types.js';
import { GIT, RELEASE, env, isReady, podTemplate } from './helpers.js';

const KEY = { apiVersion: 'apps.kruise.io/v1alpha1', kind: 'CloneSet', name: 'web', namespace: 'shop' };
const LABELS = { app: 'web' };

function cloneSet(image: string, strategy: Record<string, unknown> = {}, spec: Record<string, unknown> = {}): KubeObject {
  return {
    apiVersion: 'apps.kruise.io/v1alpha1', kind: 'CloneSet', metadata: { name: 'web', namespace: 'shop' },
    spec: { replicas: 10, selector: { matchLabels: LABELS }, template: podTemplate(LABELS, image), updateStrategy: strategy, ...spec },
  };
}

/** What the release engine applies as its own field manager: just the partition (and paused). */
function partition(p: number | string, paused?: boolean): KubeObject {
  return { apiVersion: 'apps.kruise.io/v1alpha1', kind: 'CloneSet', metadata: { name: 'web', namespace: 'shop' }, spec: { updateStrategy: { partition: p, ...(paused === undefined ? {} : { paused }) } } };
}

const image = (p: KubeObject) => p.spec.containers.find((c: { name: string }) => c.name === 'main').image;

describe('CloneSet', () => {
  it('rolls 10 pods through partition 90% -> 50% -> 0, never exceeding maxUnavailable, with Kruise expectedUpdatedReplicas', async () => {
    const e = await env();
    await e.sim.apply(cloneSet('app:v1'), GIT);
    await e.until(async () => (await e.get(KEY)).status?.availableReplicas === 10);
    const v1 = (await e.get(KEY)).status.updateRevision;

    // The release applies the new template with the partition holding every pod back.
    await e.sim.apply(cloneSet('app:v2'), GIT);
    await e.sim.apply(partition('100%'), RELEASE);
    let cs = await e.get(KEY);
    expect(cs.metadata.generation).toBe(3);
    expect(cs.status.observedGeneration).toBe(1); // the controller has not run yet
    await e.tick(100);
    cs = await e.get(KEY);
    expect(cs.status.observedGeneration).toBe(3);
    expect(cs.status).toMatchObject({ updatedReplicas: 0, expectedUpdatedReplicas: 0, currentRevision: v1 });
    expect(cs.status.updateRevision).not.toBe(v1);

    const maxUnavailable = 2; // default "20%" of 10, rounded up
    let worst = 0;
    const check = () => {
      const pods = e.sim.pods(KEY);
      const available = pods.filter(isReady).length;
      worst = Math.max(worst, 10 - available);
      expect(10 - available).toBeLessThanOrEqual(maxUnavailable);
    };
    for (const [p, expected] of [['90%', 1], ['50%', 5], [0, 10]] as const) {
      expect(10 - cloneSetPartitionKeep(p, 10)).toBe(expected);
      const before = (await e.get(KEY)).metadata.generation!;
      await e.sim.apply(partition(p), RELEASE);
      const lagging = await e.get(KEY);
      expect(lagging.metadata.generation).toBe(before + 1);
      expect(lagging.status.observedGeneration).toBe(before);
      await e.until(async () => {
        const s = (await e.get(KEY)).status;
        return s.observedGeneration === before + 1 && s.updatedReadyReplicas >= s.expectedUpdatedReplicas;
      }, 120_000, 100, check);
      cs = await e.get(KEY);
      expect(cs.status.expectedUpdatedReplicas).toBe(expected);
      expect(cs.status.updatedReplicas).toBe(expected);
      // The partition is respected: no extra pod moves while the step bakes.
      await e.tick(10_000, 500, check);
      expect((await e.get(KEY)).status.updatedReplicas).toBe(expected);
    }
    expect(worst).toBe(maxUnavailable); // the budget was used, not exceeded
    cs = await e.get(KEY);
    expect(cs.status.currentRevision).toBe(cs.status.updateRevision);
    expect(e.sim.pods(KEY).map(image)).toEqual(Array(10).fill('app:v2'));
    expect(e.sim.controllerErrors).toEqual([]);
  });

  it('recreate replaces pods; in-place keeps them (same name and uid) and they go unready for the restart', async () => {
    for (const type of ['ReCreate', 'InPlaceIfPossible'] as const) {
      const e = await env({ timing: { inPlaceUpdateMs: 1500 } });
      await e.sim.apply(cloneSet('app:v1', { type, maxUnavailable: 1, inPlaceUpdateStrategy: type === 'ReCreate' ? undefined : { gracePeriodSeconds: 2 } }, { replicas: 2 }), GIT);
      await e.until(async () => (await e.get(KEY)).status?.availableReplicas === 2);
      const before = e.sim.pods(KEY).map((p) => `${p.metadata.name}/${p.metadata.uid}`).sort();
      await e.sim.apply(cloneSet('app:v2', { type, maxUnavailable: 1, inPlaceUpdateStrategy: type === 'ReCreate' ? undefined : { gracePeriodSeconds: 2 } }, { replicas: 2 }), GIT);
      await e.tick(200);
      const during = e.sim.pods(KEY);
      expect(during.filter((p) => !isReady(p)).length).toBe(1);
      const waited = await e.until(async () => (await e.get(KEY)).status.updatedReadyReplicas === 2);
      const after = e.sim.pods(KEY).map((p) => `${p.metadata.name}/${p.metadata.uid}`).sort();
      if (type === 'ReCreate') {
        expect(after.filter((x) => before.includes(x))).toEqual([]);
      } else {
        expect(after).toEqual(before);
        // Grace (2 s) plus restart (1.5 s) per pod, one at a time.
        expect(waited).toBeGreaterThanOrEqual(2 * 3500 - 200);
        const pod = e.sim.pods(KEY)[0]!;
        expect(pod.status.containerStatuses[0]).toMatchObject({ image: 'app:v2', restartCount: 1, ready: true });
      }
      expect(e.sim.pods(KEY).map(image)).toEqual(['app:v2', 'app:v2']);
    }
  });

  it('InPlaceIfPossible recreates when more than the image changed', async () => {
    const e = await env();
    await e.sim.apply(cloneSet('app:v1', { type: 'InPlaceIfPossible' }, { replicas: 2 }), GIT);
    await e.until(async () => (await e.get(KEY)).status?.availableReplicas === 2);
    const names = e.sim.pods(KEY).map((p) => p.metadata.name);
    const changed = cloneSet('app:v1', { type: 'InPlaceIfPossible' }, { replicas: 2 });
    changed.spec.template.spec.containers[0].env = [{ name: 'X', value: '1' }];
    await e.sim.apply(changed, GIT);
    await e.until(async () => {
      const cs = await e.get(KEY);
      return cs.status.observedGeneration === cs.metadata.generation && cs.status.updatedReadyReplicas === 2;
    });
    expect(e.sim.pods(KEY).map((p) => p.metadata.name).filter((n) => names.includes(n))).toEqual([]);
  });

  it('a step whose new pods never become ready stays stuck, within maxUnavailable, and the deadline is exceeded', async () => {
    const e = await env();
    await e.sim.apply(cloneSet('app:v1', {}, { progressDeadlineSeconds: 30 }), GIT);
    await e.until(async () => (await e.get(KEY)).status?.availableReplicas === 10);
    expect((await e.get(KEY)).status.conditions).toEqual([expect.objectContaining({ type: 'Progressing', status: 'True', reason: 'CloneSetAvailable' })]);
    await e.sim.apply(cloneSet('app:v2-crashloop', {}, { progressDeadlineSeconds: 30 }), GIT);
    await e.sim.apply(partition('90%'), RELEASE);
    await e.tick(20_000);
    let cs = await e.get(KEY);
    expect(cs.status).toMatchObject({ expectedUpdatedReplicas: 1, updatedReplicas: 1, updatedReadyReplicas: 0, readyReplicas: 9 });
    const crashing = e.sim.pods(KEY).find((p) => image(p) === 'app:v2-crashloop')!;
    expect(crashing.status.containerStatuses[0].state.waiting.reason).toBe('CrashLoopBackOff');
    expect(cs.status.conditions.find((c: { type: string }) => c.type === 'Progressing').reason).toBe('CloneSetUpdated');
    await e.tick(20_000);
    cs = await e.get(KEY);
    expect(cs.status.conditions.find((c: { type: string }) => c.type === 'Progressing')).toMatchObject({
      status: 'False', reason: 'ProgressDeadlineExceeded', message: `CloneSet revision ${cs.status.updateRevision} has timed out progressing`,
    });
    // Without a partition, the controller takes down no more than maxUnavailable pods.
    await e.sim.apply(partition(0), RELEASE);
    await e.tick(30_000);
    cs = await e.get(KEY);
    expect(cs.status).toMatchObject({ updatedReplicas: 2, updatedReadyReplicas: 0, readyReplicas: 8 });
  });

  it('raising the partition does not roll updated pods back; paused stops updates, scaling still happens', async () => {
    const e = await env();
    await e.sim.apply(cloneSet('app:v1'), GIT);
    await e.until(async () => (await e.get(KEY)).status?.availableReplicas === 10);
    await e.sim.apply(cloneSet('app:v2'), GIT);
    await e.sim.apply(partition('50%'), RELEASE);
    await e.until(async () => (await e.get(KEY)).status.updatedReadyReplicas === 5);
    await e.sim.apply(partition('100%'), RELEASE);
    await e.tick(20_000);
    expect((await e.get(KEY)).status).toMatchObject({ updatedReplicas: 5, expectedUpdatedReplicas: 0 });

    await e.sim.apply(partition(0, true), RELEASE);
    await e.tick(20_000);
    let cs = await e.get(KEY);
    expect(cs.status).toMatchObject({ updatedReplicas: 5, expectedUpdatedReplicas: 10 });
    // Scale-up while paused and partitioned: "50%" of 12 keeps 6 old, so one old and one new pod.
    await e.sim.apply(cloneSet('app:v2', {}, { replicas: 12 }), GIT);
    await e.sim.apply(partition('50%', true), RELEASE);
    await e.until(async () => (await e.get(KEY)).status.availableReplicas === 12);
    cs = await e.get(KEY);
    expect(cs.status).toMatchObject({ replicas: 12, updatedReplicas: 6, expectedUpdatedReplicas: 6 });
    await e.sim.apply(partition(0, false), RELEASE);
    await e.until(async () => (await e.get(KEY)).status.updatedAvailableReplicas === 12);
    expect((await e.get(KEY)).status.currentRevision).toBe((await e.get(KEY)).status.updateRevision);
  });

  it('maxSurge adds new pods before old ones go (maxUnavailable 0: never fewer than replicas available)', async () => {
    const e = await env();
    await e.sim.apply(cloneSet('app:v1', { maxSurge: 2, maxUnavailable: 0 }), GIT);
    await e.until(async () => (await e.get(KEY)).status?.availableReplicas === 10);
    await e.sim.apply(cloneSet('app:v2', { maxSurge: 2, maxUnavailable: 0 }), GIT);
    let most = 0;
    await e.until(async () => {
      const cs = await e.get(KEY);
      const s = cs.status;
      return s.observedGeneration === cs.metadata.generation && s.updatedAvailableReplicas === 10 && s.replicas === 10;
    }, 300_000, 100, () => {
      const pods = e.sim.pods(KEY);
      most = Math.max(most, pods.length);
      expect(pods.filter(isReady).length).toBeGreaterThanOrEqual(10);
      expect(pods.length).toBeLessThanOrEqual(12);
    });
    expect(most).toBe(12);
  });

  it('updates by weight priority first', async () => {
    const e = await env();
    const strategy = { priorityStrategy: { weightPriority: [{ weight: 50, matchSelector: { matchLabels: { canary: 'true' } } }] } };
    await e.sim.apply(cloneSet('app:v1', strategy), GIT);
    await e.until(async () => (await e.get(KEY)).status?.availableReplicas === 10);
    // Label two pods by hand (kubectl label) as canaries.
    const chosen = e.sim.pods(KEY).slice(3, 5);
    for (const p of chosen) await e.sim.update({ ...p, metadata: { ...p.metadata, labels: { ...p.metadata.labels, canary: 'true' } } }, 'kubectl-label');
    await e.sim.apply(cloneSet('app:v2', { ...strategy, type: 'InPlaceIfPossible' }), GIT);
    await e.sim.apply(partition('80%'), RELEASE);
    await e.until(async () => (await e.get(KEY)).status.updatedReadyReplicas === 2);
    const updated = e.sim.pods(KEY).filter((p) => image(p) === 'app:v2').map((p) => p.metadata.name).sort();
    expect(updated).toEqual(chosen.map((p) => p.metadata.name).sort());
  });

  it('writes only the status fields Kruise has, with the labelSelector string, and pods carry the revision label', async () => {
    const e = await env();
    await e.sim.apply(cloneSet('app:v1', {}, { replicas: 3, minReadySeconds: 5 }), GIT);
    await e.tick(3300);
    let cs = await e.get(KEY);
    expect(cs.status).toMatchObject({ readyReplicas: 3, availableReplicas: 0 }); // ready, not yet for minReadySeconds
    await e.tick(5000);
    cs = await e.get(KEY);
    expect(Object.keys(cs.status).sort()).toEqual([
      'availableReplicas', 'currentRevision', 'expectedUpdatedReplicas', 'labelSelector', 'observedGeneration', 'readyReplicas',
      'replicas', 'updateRevision', 'updatedAvailableReplicas', 'updatedReadyReplicas', 'updatedReplicas',
    ]);
    expect(cs.status.labelSelector).toBe('app=web');
    expect(cs.status.availableReplicas).toBe(3);
    for (const p of e.sim.pods(KEY)) {
      expect(p.metadata.labels?.['controller-revision-hash']).toBe(cs.status.updateRevision);
      expect(p.metadata.labels?.['apps.kruise.io/cloneset-instance-id']).toBe(p.metadata.name.slice('web-'.length));
    }
    expect(cs.metadata.managedFields!.find((m) => m.manager === 'kruise-manager')).toMatchObject({ operation: 'Update', subresource: 'status' });
  });
});

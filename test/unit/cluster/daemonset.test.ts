/**
 * Advanced DaemonSet: one pod per simulated node, the partition rounded DOWN (unlike CloneSet),
 * nodes updated by name descending, maxUnavailable, paused, surge, nodes coming and going, and
 * the status fields of each version.
 */
import { describe, expect, it } from 'vitest';
import { daemonSetPartitionKeep, cloneSetPartitionKeep } from '../../../dsl/arithmetic.js';
import type { KubeObject } from '../../../engine/cluster/types.js';
import { GIT, RELEASE, env, isReady, podTemplate } from './helpers.js';

const KEY = { apiVersion: 'apps.kruise.io/v1alpha1', kind: 'DaemonSet', name: 'agent', namespace: 'shop' };
const LABELS = { app: 'agent' };

function ds(image: string, rollingUpdate: Record<string, unknown> = {}, apiVersion = 'apps.kruise.io/v1alpha1', extra: Record<string, unknown> = {}): KubeObject {
  return {
    apiVersion, kind: 'DaemonSet', metadata: { name: 'agent', namespace: 'shop' },
    spec: { selector: { matchLabels: LABELS }, template: podTemplate(LABELS, image, extra), updateStrategy: { type: 'RollingUpdate', rollingUpdate } },
  };
}

function partition(p: number | string, paused?: boolean): KubeObject {
  return { apiVersion: 'apps.kruise.io/v1alpha1', kind: 'DaemonSet', metadata: { name: 'agent', namespace: 'shop' }, spec: { updateStrategy: { rollingUpdate: { partition: p, ...(paused === undefined ? {} : { paused }) } } } };
}

const image = (p: KubeObject) => p.spec.containers[0].image;

describe('Advanced DaemonSet', () => {
  it('runs one pod per node (3 simulated nodes by default) with the DaemonSet status fields', async () => {
    const e = await env();
    await e.sim.apply(ds('agent:v1'), GIT);
    await e.until(async () => (await e.observed(KEY)).numberAvailable === 3);
    const st = (await e.get(KEY)).status;
    expect(st).toMatchObject({ desiredNumberScheduled: 3, currentNumberScheduled: 3, numberReady: 3, numberAvailable: 3, numberUnavailable: 0, updatedNumberScheduled: 3, numberMisscheduled: 0 });
    expect(st.daemonSetHash).toMatch(/^[a-z0-9]{10}$/);
    expect(st).not.toHaveProperty('updateRevision');
    expect(new Set(e.sim.pods(KEY).map((p) => p.spec.nodeName))).toEqual(new Set(['sim-node-1', 'sim-node-2', 'sim-node-3']));
  });

  it('v1beta1 reports the hash as updateRevision', async () => {
    const e = await env();
    await e.sim.apply(ds('agent:v1', {}, 'apps.kruise.io/v1beta1'), GIT);
    await e.until(async () => (await e.observed({ ...KEY, apiVersion: 'apps.kruise.io/v1beta1' })).numberAvailable === 3);
    const st = (await e.get({ ...KEY, apiVersion: 'apps.kruise.io/v1beta1' })).status;
    expect(st.updateRevision).toMatch(/^[a-z0-9]{10}$/);
    expect(st).not.toHaveProperty('daemonSetHash');
  });

  it('rounds a percent partition DOWN over desiredNumberScheduled and updates nodes by name descending', async () => {
    const e = await env({ nodes: 5 });
    expect(daemonSetPartitionKeep('50%', 5)).toBe(2);
    expect(cloneSetPartitionKeep('50%', 5)).toBe(3); // the CloneSet rule would keep one more
    await e.sim.apply(ds('agent:v1'), GIT);
    await e.until(async () => (await e.observed(KEY)).numberAvailable === 5);
    await e.sim.apply(ds('agent:v2'), GIT);
    await e.sim.apply(partition('50%'), RELEASE);
    await e.until(async () => {
      const s = await e.observed(KEY);
      return s.updatedNumberScheduled === 3 && s.numberAvailable === 5;
    }, 60_000, 100, () => {
      expect(e.sim.pods(KEY).filter(isReady).length).toBeGreaterThanOrEqual(4); // maxUnavailable 1
    });
    await e.tick(10_000);
    expect((await e.get(KEY)).status.updatedNumberScheduled).toBe(3);
    const updatedNodes = e.sim.pods(KEY).filter((p) => image(p) === 'agent:v2').map((p) => p.spec.nodeName).sort();
    expect(updatedNodes).toEqual(['sim-node-3', 'sim-node-4', 'sim-node-5']);
  });

  it('maxUnavailable bounds the nodes updating at once; paused holds', async () => {
    const e = await env({ nodes: 6 });
    await e.sim.apply(ds('agent:v1', { maxUnavailable: '50%' }), GIT);
    await e.until(async () => (await e.observed(KEY)).numberAvailable === 6);
    await e.sim.apply(ds('agent:v2', { maxUnavailable: '50%' }), GIT);
    await e.sim.apply(partition(0, true), RELEASE);
    await e.tick(10_000);
    expect((await e.get(KEY)).status.updatedNumberScheduled).toBe(0);
    await e.sim.apply(partition(0, false), RELEASE);
    let most = 0;
    await e.until(async () => (await e.observed(KEY)).updatedNumberScheduled === 6 && (await e.observed(KEY)).numberAvailable === 6, 60_000, 100, () => {
      most = Math.max(most, 6 - e.sim.pods(KEY).filter(isReady).length);
    });
    expect(most).toBe(3);
  });

  it('surge starts the new pod beside the old one before removing it', async () => {
    const e = await env();
    await e.sim.apply(ds('agent:v1', { maxSurge: 1, maxUnavailable: 0 }), GIT);
    await e.until(async () => (await e.observed(KEY)).numberAvailable === 3);
    await e.sim.apply(ds('agent:v2', { maxSurge: 1, maxUnavailable: 0 }), GIT);
    let most = 0;
    await e.until(async () => {
      const s = await e.observed(KEY);
      return s.updatedNumberScheduled === 3 && e.sim.pods(KEY).length === 3 && e.sim.pods(KEY).every(isReady);
    }, 60_000, 100, () => {
      most = Math.max(most, e.sim.pods(KEY).length);
      expect(e.sim.pods(KEY).filter(isReady).length).toBeGreaterThanOrEqual(3);
    });
    expect(most).toBe(4);
  });

  it('follows nodes: a new node gets a pod, a removed node takes its pod along; nodeSelector narrows', async () => {
    const e = await env();
    await e.sim.apply(ds('agent:v1'), GIT);
    await e.until(async () => (await e.observed(KEY)).numberAvailable === 3);
    e.sim.addNode('sim-node-4', { 'topology.kubernetes.io/zone': 'zone-a', gpu: 'true' });
    await e.until(async () => (await e.observed(KEY)).numberAvailable === 4);
    e.sim.removeNode('sim-node-1');
    await e.until(async () => (await e.observed(KEY)).desiredNumberScheduled === 3 && e.sim.pods(KEY).length === 3);
    await e.sim.apply(ds('agent:v1', {}, undefined, { nodeSelector: { gpu: 'true' } }), GIT);
    await e.until(async () => (await e.observed(KEY)).desiredNumberScheduled === 1 && e.sim.pods(KEY).length === 1);
    expect(e.sim.pods(KEY)[0]!.spec.nodeName).toBe('sim-node-4');
  });
});

/**
 * SidecarSet: injection into new pods of any workload, matchedPods across namespaces, the
 * partition counted with the CloneSet ceil rule and taken off the not-yet-updated pods,
 * maxUnavailable, and pods that cannot be upgraded in place.
 */
import { describe, expect, it } from 'vitest';
import { cloneSetPartitionKeep } from '../../../dsl/arithmetic.js';
import type { KubeObject } from '../../../engine/cluster/types.js';
import { GIT, RELEASE, env, isReady, podTemplate } from './helpers.js';

const KEY = { apiVersion: 'apps.kruise.io/v1alpha1', kind: 'SidecarSet', name: 'log' };

function sidecarSet(image: string, updateStrategy: Record<string, unknown> = {}, spec: Record<string, unknown> = {}): KubeObject {
  return {
    apiVersion: 'apps.kruise.io/v1alpha1', kind: 'SidecarSet', metadata: { name: 'log' },
    spec: { selector: { matchLabels: { logging: 'on' } }, containers: [{ name: 'log', image }], updateStrategy, ...spec },
  };
}

function partition(p: number | string, extra: Record<string, unknown> = {}): KubeObject {
  return { apiVersion: 'apps.kruise.io/v1alpha1', kind: 'SidecarSet', metadata: { name: 'log' }, spec: { updateStrategy: { partition: p, ...extra } } };
}

function cloneSet(name: string, replicas: number, namespace = 'shop', labels: Record<string, string> = { logging: 'on' }): KubeObject {
  return {
    apiVersion: 'apps.kruise.io/v1alpha1', kind: 'CloneSet', metadata: { name, namespace },
    spec: { replicas, selector: { matchLabels: { app: name } }, template: podTemplate({ app: name, ...labels }, `${name}:v1`) },
  };
}

const sidecarImage = (p: KubeObject) => p.spec.containers.find((c: { name: string }) => c.name === 'log')?.image;

describe('SidecarSet', () => {
  it('injects into new matching pods of any workload and namespace; pods created before it are not matched', async () => {
    const e = await env({}, ['shop', 'pay']);
    await e.sim.apply(cloneSet('early', 2), GIT);
    await e.tick(500);
    await e.sim.apply(sidecarSet('fluent:1'), GIT);
    await e.sim.apply(cloneSet('web', 3), GIT);
    await e.sim.apply(cloneSet('api', 2, 'pay'), GIT);
    await e.sim.apply(cloneSet('quiet', 2, 'shop', { logging: 'off' }), GIT);
    await e.until(async () => (await e.observed(KEY)).readyPods === 5);
    const st = (await e.get(KEY)).status;
    expect(st).toMatchObject({ matchedPods: 5, updatedPods: 5, readyPods: 5, updatedReadyPods: 5 });
    expect(st.latestRevision).toMatch(/^log-/);
    const web = e.sim.pods({ apiVersion: 'apps.kruise.io/v1alpha1', kind: 'CloneSet', name: 'web', namespace: 'shop' })[0]!;
    expect(web.spec.containers.map((c: { name: string }) => c.name)).toEqual(['log', 'main']); // BeforeAppContainer
    expect(JSON.parse(web.metadata.annotations!['kruise.io/sidecarset-hash']!).log.sidecarList).toEqual(['log']);
    expect(e.sim.pods({ apiVersion: 'apps.kruise.io/v1alpha1', kind: 'CloneSet', name: 'early', namespace: 'shop' })[0]!.spec.containers.length).toBe(1);
  });

  it('namespace narrows the match', async () => {
    const e = await env({}, ['shop', 'pay']);
    await e.sim.apply(sidecarSet('fluent:1', {}, { namespace: 'pay' }), GIT);
    await e.sim.apply(cloneSet('web', 3), GIT);
    await e.sim.apply(cloneSet('api', 2, 'pay'), GIT);
    await e.until(async () => (await e.observed(KEY)).readyPods === 2);
    expect((await e.get(KEY)).status.matchedPods).toBe(2);
  });

  it('partition: ceil rule on matched pods, taken off the not-yet-updated ones; maxUnavailable 1 at a time', async () => {
    const e = await env();
    await e.sim.apply(sidecarSet('fluent:1'), GIT);
    await e.sim.apply(cloneSet('web', 5), GIT);
    await e.until(async () => (await e.observed(KEY)).readyPods === 5);
    await e.sim.apply(sidecarSet('fluent:2'), GIT);
    await e.sim.apply(partition('100%'), RELEASE);
    await e.tick(5000);
    expect((await e.get(KEY)).status).toMatchObject({ matchedPods: 5, updatedPods: 0 });

    expect(cloneSetPartitionKeep('50%', 5)).toBe(3);
    await e.sim.apply(partition('50%'), RELEASE);
    let most = 0;
    const check = () => { most = Math.max(most, 5 - e.sim.pods().filter(isReady).length); };
    await e.until(async () => (await e.observed(KEY)).updatedReadyPods === 2, 60_000, 100, check);
    await e.tick(10_000, 100, check);
    expect((await e.get(KEY)).status).toMatchObject({ matchedPods: 5, updatedPods: 2, updatedReadyPods: 2, readyPods: 5 });
    expect(most).toBe(1);
    // In place: same pods, the sidecar restarted with the new image.
    const updated = e.sim.pods().filter((p) => sidecarImage(p) === 'fluent:2');
    expect(updated.length).toBe(2);
    expect(updated[0]!.status.containerStatuses.find((c: { name: string }) => c.name === 'log')).toMatchObject({ image: 'fluent:2', restartCount: 1 });

    await e.sim.apply(partition(0, { maxUnavailable: '40%' }), RELEASE);
    most = 0;
    await e.until(async () => (await e.observed(KEY)).updatedReadyPods === 5, 60_000, 100, check);
    expect(most).toBe(2);
  });

  it('a change beyond images is not upgraded in place: only new pods get it', async () => {
    const e = await env();
    await e.sim.apply(sidecarSet('fluent:1'), GIT);
    await e.sim.apply(cloneSet('web', 2), GIT);
    await e.until(async () => (await e.observed(KEY)).readyPods === 2);
    const changed = sidecarSet('fluent:1');
    changed.spec.containers[0].env = [{ name: 'LEVEL', value: 'debug' }];
    await e.sim.apply(changed, GIT);
    await e.tick(20_000);
    expect((await e.get(KEY)).status).toMatchObject({ matchedPods: 2, updatedPods: 0 });
    await e.sim.apply(cloneSet('web', 3), GIT);
    await e.until(async () => (await e.observed(KEY)).matchedPods === 3 && (await e.observed(KEY)).readyPods === 3);
    expect((await e.get(KEY)).status.updatedPods).toBe(1);
  });

  it('paused holds the update; a crash-looping sidecar stops it within maxUnavailable', async () => {
    const e = await env();
    await e.sim.apply(sidecarSet('fluent:1'), GIT);
    await e.sim.apply(cloneSet('web', 4), GIT);
    await e.until(async () => (await e.observed(KEY)).readyPods === 4);
    await e.sim.apply(sidecarSet('fluent:2-crashloop'), GIT);
    await e.sim.apply(partition(0, { paused: true }), RELEASE);
    await e.tick(10_000);
    expect((await e.get(KEY)).status.updatedPods).toBe(0);
    await e.sim.apply(partition(0, { paused: false }), RELEASE);
    await e.tick(30_000);
    expect((await e.get(KEY)).status).toMatchObject({ updatedPods: 1, updatedReadyPods: 0, readyPods: 3 });
    // The owning CloneSet sees its pod go unready too.
    expect((await e.get({ apiVersion: 'apps.kruise.io/v1alpha1', kind: 'CloneSet', name: 'web', namespace: 'shop' })).status.readyReplicas).toBe(3);
  });
});

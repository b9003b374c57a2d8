/**
 * SimCluster as an apiserver: namespaces, scope, label selectors, deletion and garbage
 * collection, watches (and resuming them), Events, discovery, fault injection.
 */
import { describe, expect, it } from 'vitest';
import { FakeClock, flushPromises } from '../../../engine/clock.js';
import { ConflictError, ForbiddenError, NotServedError, RequestError, TransientError, withRetry } from '../../../engine/cluster/errors.js';
import type { KubeObject, WatchEvent } from '../../../engine/cluster/types.js';
import { SimCluster } from '../../../engine/cluster/sim/index.js';
import { parseSelector, matchesRequirements } from '../../../engine/cluster/sim/selector.js';

const M = { fieldManager: 'kgitops' };

function cm(name: string, labels: Record<string, string> = {}, namespace = 'default'): KubeObject {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace, labels }, data: { k: name } };
}

function cloneSet(name: string, replicas = 2, namespace = 'shop'): KubeObject {
  return {
    apiVersion: 'apps.kruise.io/v1alpha1', kind: 'CloneSet', metadata: { name, namespace },
    spec: { replicas, selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'c', image: 'nginx:1' }] } } },
  };
}

async function withNamespace(sim: SimCluster, name = 'shop'): Promise<void> {
  await sim.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } }, M);
}

describe('namespaces and scope', () => {
  it('refuses a namespaced object in a namespace that does not exist (404, as NamespaceLifecycle does)', async () => {
    const sim = new SimCluster({ clock: new FakeClock() });
    const err = await sim.apply(cm('a', {}, 'nope'), M).catch((e) => e);
    expect(err).toBeInstanceOf(RequestError);
    expect(err.status).toBe(404);
    expect(err.message).toContain('namespaces "nope" not found');
  });

  it('creates namespaces Active and labelled with their name; cluster-scoped objects have no namespace', async () => {
    const sim = new SimCluster({ clock: new FakeClock() });
    const ns = await sim.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop', namespace: 'ignored' } }, M);
    expect(ns.metadata.namespace).toBeUndefined();
    expect(ns.status).toEqual({ phase: 'Active' });
    expect(ns.metadata.labels).toEqual({ 'kubernetes.io/metadata.name': 'shop' });
    const ss = await sim.apply({
      apiVersion: 'apps.kruise.io/v1alpha1', kind: 'SidecarSet', metadata: { name: 'log', namespace: 'shop' },
      spec: { selector: { matchLabels: { a: 'b' } }, containers: [{ name: 'log', image: 'fluent:1' }] },
    }, M);
    expect(ss.metadata.namespace).toBeUndefined();
    expect(await sim.get({ apiVersion: 'apps.kruise.io/v1alpha1', kind: 'SidecarSet', name: 'log' })).toBeTruthy();
  });

  it('deleting a namespace deletes what is in it', async () => {
    const sim = new SimCluster({ clock: new FakeClock() });
    await withNamespace(sim);
    await sim.apply(cm('a', {}, 'shop'), M);
    expect(await sim.delete({ apiVersion: 'v1', kind: 'Namespace', name: 'shop' })).toBe(true);
    expect((await sim.list('v1', 'ConfigMap', { namespace: 'shop' })).items).toEqual([]);
  });
});

describe('list and label selectors', () => {
  it('parses equality and set-based selectors', () => {
    const reqs = parseSelector('a=b,c in (x, y),!d,e,f!=g,h notin (i)');
    expect(matchesRequirements(reqs, { a: 'b', c: 'y', e: '1' })).toBe(true);
    expect(matchesRequirements(reqs, { a: 'b', c: 'z', e: '1' })).toBe(false);
    expect(matchesRequirements(reqs, { a: 'b', c: 'x', e: '1', d: '' })).toBe(false);
    expect(matchesRequirements(reqs, { a: 'b', c: 'x', e: '1', f: 'g' })).toBe(false);
    expect(matchesRequirements(reqs, { a: 'b', c: 'x', e: '1', h: 'i' })).toBe(false);
    expect(matchesRequirements(reqs, { a: 'b', c: 'x' })).toBe(false);
    expect(() => parseSelector('a in ()')).toThrow(RequestError);
    expect(() => parseSelector('a==,=')).toThrow(RequestError);
  });

  it('lists by namespace and selector, with a resourceVersion', async () => {
    const sim = new SimCluster({ clock: new FakeClock() });
    await withNamespace(sim);
    await sim.apply(cm('a', { tier: 'web', env: 'prod' }), M);
    await sim.apply(cm('b', { tier: 'db', env: 'prod' }), M);
    await sim.apply(cm('c', { tier: 'web' }, 'shop'), M);
    const names = async (opts: object) => (await sim.list('v1', 'ConfigMap', opts)).items.map((o) => o.metadata.name);
    expect(await names({})).toEqual(['a', 'b', 'c']);
    expect(await names({ namespace: 'default' })).toEqual(['a', 'b']);
    expect(await names({ labelSelector: 'tier in (web),env' })).toEqual(['a']);
    expect(await names({ labelSelector: '!env' })).toEqual(['c']);
    const r = await sim.list('v1', 'ConfigMap');
    expect(r.items[0]!.kind).toBe('ConfigMap');
    expect(Number(r.resourceVersion)).toBeGreaterThan(0);
  });
});

describe('delete', () => {
  it('deleting a workload deletes its pods (background propagation); orphan keeps them', async () => {
    const clock = new FakeClock();
    const sim = new SimCluster({ clock });
    await withNamespace(sim);
    await sim.apply(cloneSet('web', 3), M);
    await sim.apply(cloneSet('api', 2), M);
    await clock.advance(5000);
    expect(sim.pods().length).toBe(5);
    expect(await sim.delete({ apiVersion: 'apps.kruise.io/v1alpha1', kind: 'CloneSet', name: 'web', namespace: 'shop' })).toBe(true);
    expect(sim.pods().map((p) => p.metadata.ownerReferences![0]!.name)).toEqual(['api', 'api']);
    await sim.delete({ apiVersion: 'apps.kruise.io/v1alpha1', kind: 'CloneSet', name: 'api', namespace: 'shop' }, { propagationPolicy: 'Orphan' });
    expect(sim.pods().length).toBe(2);
    expect(sim.pods()[0]!.metadata.ownerReferences).toBeUndefined();
    expect(await sim.delete({ apiVersion: 'apps.kruise.io/v1alpha1', kind: 'CloneSet', name: 'api', namespace: 'shop' })).toBe(false);
  });

  it('honours the uid precondition and dry run', async () => {
    const sim = new SimCluster({ clock: new FakeClock() });
    const a = await sim.apply(cm('a'), M);
    const key = { apiVersion: 'v1', kind: 'ConfigMap', name: 'a', namespace: 'default' };
    await expect(sim.delete(key, { uid: 'other' })).rejects.toBeInstanceOf(ConflictError);
    expect(await sim.delete(key, { dryRun: true })).toBe(true);
    expect(await sim.get(key)).toBeTruthy();
    expect(await sim.delete(key, { uid: a.metadata.uid })).toBe(true);
    expect(await sim.get(key)).toBeUndefined();
  });

  it('an object with finalizers gets a deletionTimestamp and goes when they are removed', async () => {
    const sim = new SimCluster({ clock: new FakeClock() });
    await sim.apply({ ...cm('a'), metadata: { ...cm('a').metadata, finalizers: ['x/y'] } }, M);
    const key = { apiVersion: 'v1', kind: 'ConfigMap', name: 'a', namespace: 'default' };
    await sim.delete(key);
    expect((await sim.get(key))!.metadata.deletionTimestamp).toBeTruthy();
    await sim.apply(cm('a'), M);
    expect(await sim.get(key)).toBeUndefined();
  });
});

describe('watch', () => {
  it('delivers ADDED, MODIFIED, DELETED in order, and the current state first when no resourceVersion is given', async () => {
    const sim = new SimCluster({ clock: new FakeClock() });
    await sim.apply(cm('old'), M);
    const seen: string[] = [];
    const w = await sim.watch('v1', 'ConfigMap', { namespace: 'default' }, (e) => seen.push(`${e.type} ${e.object.metadata.name} ${e.object.data?.k}`));
    await sim.apply(cm('a'), M);
    await sim.apply({ ...cm('a'), data: { k: 'changed' } }, M);
    await sim.delete({ apiVersion: 'v1', kind: 'ConfigMap', name: 'a', namespace: 'default' });
    await flushPromises();
    expect(seen).toEqual(['ADDED old old', 'ADDED a a', 'MODIFIED a changed', 'DELETED a changed']);
    w.stop();
    await w.done;
    await sim.apply(cm('b'), M);
    await flushPromises();
    expect(seen.length).toBe(4);
  });

  it('resumes from a resourceVersion (as an informer does after a list), and a too old one gets 410', async () => {
    const sim = new SimCluster({ clock: new FakeClock() });
    await sim.apply(cm('a'), M);
    const { resourceVersion } = await sim.list('v1', 'ConfigMap');
    await sim.apply(cm('b'), M);
    const seen: WatchEvent[] = [];
    const w = await sim.watch('v1', 'ConfigMap', { resourceVersion }, (e) => seen.push(e));
    await flushPromises();
    expect(seen.map((e) => `${e.type} ${e.object.metadata.name}`)).toEqual(['ADDED b']);
    w.stop();
    sim.compact();
    const gone = await sim.watch('v1', 'ConfigMap', { resourceVersion }, () => undefined);
    const err = await gone.done.catch((e) => e);
    expect(err).toBeInstanceOf(RequestError);
    expect(err.status).toBe(410);
  });

  it('with a label selector, an object that stops matching is DELETED and one that starts is ADDED', async () => {
    const sim = new SimCluster({ clock: new FakeClock() });
    const seen: string[] = [];
    await sim.watch('v1', 'ConfigMap', { labelSelector: 'app=x' }, (e) => seen.push(`${e.type} ${e.object.metadata.name}`));
    await sim.apply(cm('a', { app: 'x' }), M);
    await sim.apply(cm('a', { app: 'y' }), M);
    await sim.apply(cm('a', { app: 'x' }), M);
    await flushPromises();
    expect(seen).toEqual(['ADDED a', 'DELETED a', 'ADDED a']);
  });

  it('sees status written by the simulated controllers; dropWatches ends watches with an error', async () => {
    const clock = new FakeClock();
    const sim = new SimCluster({ clock });
    await withNamespace(sim);
    const seen: KubeObject[] = [];
    const w = await sim.watch('apps.kruise.io/v1alpha1', 'CloneSet', { namespace: 'shop' }, (e) => seen.push(e.object));
    await sim.apply(cloneSet('web', 1), M);
    await clock.advance(5000);
    expect(seen.at(-1)!.status).toMatchObject({ observedGeneration: 1, readyReplicas: 1 });
    sim.dropWatches(new TransientError({ verb: 'watch' }, 0, 'connection reset'));
    await expect(w.done).rejects.toBeInstanceOf(TransientError);
  });
});

describe('events', () => {
  it('records Events on the involved object, counting repeats, readable back by object', async () => {
    const clock = new FakeClock();
    const sim = new SimCluster({ clock });
    await withNamespace(sim);
    const cs = await sim.apply(cloneSet('web'), M);
    await sim.event(cs, { type: 'Normal', reason: 'ReleaseStepAdvanced', message: 'step 1' });
    await sim.event(cs, { type: 'Normal', reason: 'ReleaseStepAdvanced', message: 'step 1' });
    await sim.event(cs, { type: 'Warning', reason: 'GateFailed', message: 'metric' }, 'kgitops-release');
    const evs = sim.events({ apiVersion: 'apps.kruise.io/v1alpha1', kind: 'CloneSet', name: 'web', namespace: 'shop' });
    expect(evs.map((e) => [e.reason, e.count, e.source.component])).toEqual([['ReleaseStepAdvanced', 2, 'kgitops'], ['GateFailed', 1, 'kgitops-release']]);
    expect(evs[0]!.involvedObject).toMatchObject({ kind: 'CloneSet', name: 'web', namespace: 'shop', uid: cs.metadata.uid });
    expect(evs[0]!.metadata.namespace).toBe('shop');
    expect((await sim.list('v1', 'Event', { namespace: 'shop' })).items.length).toBe(2);
  });

  it('never throws, even when the request fails', async () => {
    const sim = new SimCluster({ clock: new FakeClock() });
    sim.failNext({ verb: 'event', error: new TransientError({ verb: 'create' }, 500, 'boom') });
    await expect(sim.event(cm('a'), { type: 'Normal', reason: 'X', message: 'y' })).resolves.toBeUndefined();
    expect(sim.events()).toEqual([]);
  });
});

describe('discovery', () => {
  it('serves core and Kruise v1.9 kinds, with plural and scope', async () => {
    const sim = new SimCluster({ clock: new FakeClock() });
    expect(await sim.resource('apps.kruise.io/v1alpha1', 'CloneSet')).toEqual({ apiVersion: 'apps.kruise.io/v1alpha1', kind: 'CloneSet', plural: 'clonesets', namespaced: true });
    expect(await sim.resource('apps.kruise.io/v1beta1', 'SidecarSet')).toMatchObject({ namespaced: false });
    expect(await sim.resource('networking.k8s.io/v1', 'NetworkPolicy')).toMatchObject({ plural: 'networkpolicies' });
    expect(await sim.resource('networking.k8s.io/v1', 'Ingress')).toMatchObject({ plural: 'ingresses' });
    expect(await sim.resource('v1', 'Namespace')).toMatchObject({ plural: 'namespaces', namespaced: false });
  });

  it('without Kruise, every verb on a Kruise kind is NotServedError', async () => {
    const sim = new SimCluster({ clock: new FakeClock(), kruise: false });
    const err = await sim.resource('apps.kruise.io/v1beta1', 'StatefulSet').catch((e) => e);
    expect(err).toBeInstanceOf(NotServedError);
    expect(err.message).toBe('OpenKruise is not installed or too old: apps.kruise.io/v1beta1 StatefulSet is not served');
    await expect(sim.apply(cloneSet('web'), M)).rejects.toBeInstanceOf(NotServedError);
    await expect(sim.list('apps.kruise.io/v1alpha1', 'CloneSet')).rejects.toBeInstanceOf(NotServedError);
    await expect(sim.get({ apiVersion: 'apps.kruise.io/v1alpha1', kind: 'CloneSet', name: 'x', namespace: 'default' })).rejects.toBeInstanceOf(NotServedError);
    await expect(sim.watch('apps.kruise.io/v1alpha1', 'CloneSet', {}, () => undefined)).rejects.toBeInstanceOf(NotServedError);
  });

  it('an unserved version names the served ones; apiVersions Kruise v1.9 does not serve are not served', async () => {
    const sim = new SimCluster({ clock: new FakeClock(), notServed: ['apps.kruise.io/v1beta1/DaemonSet'] });
    const err = await sim.resource('apps.kruise.io/v1beta1', 'DaemonSet').catch((e) => e);
    expect(err).toBeInstanceOf(NotServedError);
    expect(err.hint).toContain('apps.kruise.io/v1alpha1');
    await expect(sim.resource('apps.kruise.io/v1beta1', 'CloneSet')).rejects.toBeInstanceOf(NotServedError);
  });

  it('serves the kinds of an applied CustomResourceDefinition until it is deleted', async () => {
    const sim = new SimCluster({ clock: new FakeClock() });
    await expect(sim.resource('example.com/v1', 'Widget')).rejects.toBeInstanceOf(NotServedError);
    await sim.apply({
      apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', metadata: { name: 'widgets.example.com' },
      spec: { group: 'example.com', scope: 'Namespaced', names: { kind: 'Widget', plural: 'widgets' }, versions: [{ name: 'v1', served: true, storage: true }] },
    }, M);
    expect(await sim.resource('example.com/v1', 'Widget')).toEqual({ apiVersion: 'example.com/v1', kind: 'Widget', plural: 'widgets', namespaced: true });
    await sim.apply({ apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w', namespace: 'default' }, spec: { size: 1 } }, M);
    await sim.delete({ apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', name: 'widgets.example.com' });
    await expect(sim.resource('example.com/v1', 'Widget')).rejects.toBeInstanceOf(NotServedError);
  });
});

describe('fault injection', () => {
  it('fails the next matching requests with the given error, then recovers', async () => {
    const sim = new SimCluster({ clock: new FakeClock() });
    await withNamespace(sim);
    const forbidden = new ForbiddenError({ verb: 'patch', resource: 'apps.kruise.io/clonesets', namespace: 'shop' }, 'RBAC: access denied');
    const h = sim.failNext({ verb: 'apply', kind: 'CloneSet', error: forbidden, times: 2 });
    await expect(sim.apply(cm('a'), M)).resolves.toBeTruthy(); // another kind: not affected
    await expect(sim.apply(cloneSet('web'), M)).rejects.toBe(forbidden);
    expect(h.remaining).toBe(1);
    await expect(sim.apply(cloneSet('web'), M)).rejects.toBe(forbidden);
    await expect(sim.apply(cloneSet('web'), M)).resolves.toBeTruthy();
    expect(sim.requests.filter((r) => r.kind === 'CloneSet').map((r) => r.error ?? 'ok')).toEqual(['ForbiddenError', 'ForbiddenError', 'ok']);
  });

  it('transient errors are retried by withRetry; a conflict can be injected for one field manager', async () => {
    const sim = new SimCluster({ clock: new FakeClock() });
    sim.failNext({ verb: 'get', error: (req, info) => new TransientError(info, 503, `unavailable (${req.name})`), times: 2 });
    const retries: number[] = [];
    const got = await withRetry(() => sim.get({ apiVersion: 'v1', kind: 'Namespace', name: 'default' }), { sleep: async () => undefined, onRetry: (_e, n) => retries.push(n) });
    expect(got!.metadata.name).toBe('default');
    expect(retries).toEqual([1, 2]);
    sim.failNext({ verb: 'apply', fieldManager: 'kgitops-release', error: new ConflictError({ verb: 'apply' }, [{ field: '.spec.updateStrategy.partition', manager: 'someone' }], 'x') });
    await expect(sim.apply(cm('a'), M)).resolves.toBeTruthy();
    await expect(sim.apply(cm('a'), { fieldManager: 'kgitops-release' })).rejects.toMatchObject({ conflicts: [{ field: '.spec.updateStrategy.partition', manager: 'someone' }] });
  });

  it('an error builder gets the request and the resource it is about', async () => {
    const sim = new SimCluster({ clock: new FakeClock() });
    await withNamespace(sim);
    sim.failNext({ verb: 'delete', error: (req, info) => new ForbiddenError({ ...info, verb: req.verb }, 'RBAC') });
    const err = await sim.delete({ apiVersion: 'apps.kruise.io/v1alpha1', kind: 'CloneSet', name: 'web', namespace: 'shop' }).catch((e) => e);
    expect(err.request).toEqual({ verb: 'delete', resource: 'apps.kruise.io/clonesets', name: 'web', namespace: 'shop' });
    expect(err.message).toContain('delete apps.kruise.io/clonesets web in namespace shop is forbidden');
  });

  it('times: Infinity fails until cancelled', async () => {
    const sim = new SimCluster({ clock: new FakeClock() });
    const h = sim.failNext({ verb: ['list', 'watch'], error: new TransientError({ verb: 'list' }, 429, 'slow down'), times: Infinity });
    for (let i = 0; i < 3; i++) await expect(sim.list('v1', 'ConfigMap')).rejects.toBeInstanceOf(TransientError);
    await expect(sim.watch('v1', 'ConfigMap', {}, () => undefined)).rejects.toBeInstanceOf(TransientError);
    h.cancel();
    await expect(sim.list('v1', 'ConfigMap')).resolves.toBeTruthy();
  });
});

it('says it is a simulation', () => {
  const sim = new SimCluster({ clock: new FakeClock() });
  expect(sim.name).toBe('simulation');
  expect(sim.simulated).toBe(true);
});

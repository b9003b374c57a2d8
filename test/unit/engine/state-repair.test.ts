/**
 * The engine's state on its ApplySet parent, damaged: readParent names each damaged key, what is
 * wrong and the fix; the reconciler (on the simulated cluster) reports each problem once, not on
 * every reconcile while it lasts, never crashes, and never prunes on an inventory it could not
 * read (a damaged key, or a parent deleted while its members live on). Also the apply order:
 * objects that need a Namespace or CRD of the same commit are dry-run after it exists.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { parentManifest, readParent } from '../../../engine/apply/applyset.js';
import { gitSource } from '../../../engine/cli/sync.js';
import { ForbiddenError, RequestError } from '../../../engine/cluster/errors.js';
import { SimCluster } from '../../../engine/cluster/sim/index.js';
import type { KubeObject } from '../../../engine/cluster/types.js';
import { realClock } from '../../../engine/clock.js';
import { loadConfig } from '../../../engine/config.js';
import { createLogger } from '../../../engine/log.js';
import { Reconciler } from '../../../engine/reconciler.js';
import { configMap, GitApp } from '../../fixtures/git-app.js';

const CACHE = mkdtempSync(join(tmpdir(), 'kgitops-sim-cache-'));
const cleanups: (() => void)[] = [];
afterAll(() => {
  for (const c of cleanups) c();
  rmSync(CACHE, { recursive: true, force: true });
});

function setup() {
  const repo = new GitApp();
  const sim = new SimCluster({ clock: realClock, namespaces: ['default', 'shop'] });
  const config = loadConfig({ repo: repo.dir, app: 'shop', namespace: 'shop', cacheDir: CACHE });
  const lines: { level: number; msg: string }[] = [];
  const stream = new Writable({ write(chunk, _e, cb) { for (const l of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(l)); cb(); } });
  const reconciler = new Reconciler(config, sim, gitSource(config), realClock, createLogger({ format: 'json', stream }));
  cleanups.push(() => { repo.remove(); sim.stop(); reconciler.close(); });
  return { repo, sim, reconciler, lines };
}

const parentKey = { apiVersion: 'v1', kind: 'ConfigMap', namespace: 'shop', name: 'kgitops-shop' };
const cm = (name: string) => ({ apiVersion: 'v1', kind: 'ConfigMap', namespace: 'shop', name });
const damagedLines = (lines: { msg: string }[]) => lines.filter((l) => l.msg.startsWith('damaged engine state:'));

function parentWith(data: Record<string, unknown>): KubeObject {
  const p = parentManifest({ name: 'kgitops-shop', namespace: 'shop' }, { groupKinds: ['ConfigMap'], namespaces: [], data: { inventory: {}, status: undefined, history: [] } });
  return { ...p, data: data as Record<string, string> };
}

describe('readParent on a damaged parent', () => {
  it('reads a sound parent without problems, and a missing one as a new app', () => {
    const sound = parentWith({ 'inventory.json': JSON.stringify({ 'ConfigMap/shop/a': { apiVersion: 'v1', hash: 'h', resourceVersion: '1' } }), 'history.json': '[]' });
    expect(readParent(sound)).toMatchObject({ exists: true, problems: [], inventoryReadable: true, data: { inventory: { 'ConfigMap/shop/a': { hash: 'h' } } } });
    expect(readParent(undefined)).toMatchObject({ exists: false, problems: [], inventoryReadable: true });
  });

  it('names each damaged key, what is wrong and the fix; the inventory then counts as unreadable', () => {
    const cases: [Record<string, unknown>, string, RegExp][] = [
      [{ 'inventory.json': '{"ConfigMap/' }, 'inventory.json', /^ConfigMap shop\/kgitops-shop: inventory\.json is not valid JSON \(/],
      [{ 'inventory.json': 'null' }, 'inventory.json', /: inventory\.json is null, not an object of members$/],
      [{ 'inventory.json': '[1]' }, 'inventory.json', /: inventory\.json is an array, not an object of members$/],
      [{ 'inventory.json': '{"ConfigMap/shop/a":{"hash":1,"apiVersion":"v1"}}' }, 'inventory.json', /has 1 malformed entry \("ConfigMap\/shop\/a"\.hash is not a string\)$/],
      [{}, 'inventory.json', /^ConfigMap shop\/kgitops-shop has no key inventory\.json$/],
    ];
    for (const [data, key, message] of cases) {
      const s = readParent(parentWith(data));
      expect(s.inventoryReadable).toBe(false);
      expect(s.data.inventory).toEqual({});
      const p = s.problems.find((x) => x.key === key)!;
      expect(p.message).toMatch(message);
      expect(p.fix).toMatch(/^the engine rebuilds it from the live objects labelled applyset\.kubernetes\.io\/part-of=applyset-.*-v1 and prunes nothing in that reconcile; by hand: delete the key inventory\.json \(or the whole ConfigMap\)/);
    }
  });

  it('keeps the readable history entries, drops a status of the wrong shape, and never throws', () => {
    const entry = { commit: 'abc1234', time: 't', result: 'Succeeded', message: 'm', changes: {}, durationMs: 1 };
    const s = readParent(parentWith({ 'inventory.json': '{}', 'history.json': JSON.stringify([entry, 7, { commit: 1 }]), 'status.json': JSON.stringify({ sync: 'Synced', message: 'x', objects: 'all' }) }));
    expect(s.inventoryReadable).toBe(true);
    expect(s.data.history).toEqual([entry]);
    expect(s.data.status).toBeUndefined();
    expect(s.problems.map((p) => `${p.key}: ${p.message.replace(/^ConfigMap shop\/kgitops-shop: /, '')}`)).toEqual([
      'status.json: status.json is invalid: .objects is a string, not an array',
      'history.json: history.json has 2 malformed entries (each needs commit, time, result, message and changes)',
    ]);
    expect(readParent(parentWith({ 'inventory.json': '{}', 'history.json': '{"a":1}' })).problems[0].message).toMatch(/history\.json is an object, not a list of reconciles$/);
    expect(readParent(parentWith({ 'inventory.json': '{}', 'status.json': JSON.stringify({ sync: 'Synced', message: 'x', objects: [], appliedCommit: '$(rm -rf)' }) })).problems[0].message)
      .toMatch(/\.appliedCommit is "\$\(rm -rf\)", not a commit$/);
  });
});

describe('the reconciler on a damaged parent (simulated cluster)', () => {
  it('reports each problem once, even while the parent cannot be written to repair it, and never crashes', async () => {
    const { repo, sim, reconciler, lines } = setup();
    repo.commit({ namespace: 'shop', objects: [configMap('a', { v: '1' })] });
    expect((await reconciler.reconcile()).result).toBe('Succeeded');
    const live = (await sim.get(parentKey))!;
    await sim.update({ ...live, data: { ...live.data, 'inventory.json': 'null', 'history.json': '5' } }, 'kubectl-edit');
    const fault = sim.failNext({ verb: 'apply', kind: 'ConfigMap', name: 'kgitops-shop', error: new ForbiddenError({ verb: 'patch', resource: 'configmaps', namespace: 'shop', name: 'kgitops-shop' }, 'no'), times: Infinity });
    repo.commit({ namespace: 'shop', objects: [configMap('a', { v: '2' })] });
    for (let i = 0; i < 3; i++) {
      const r = await reconciler.reconcile();
      expect(r.result).toBe('Failed');
      expect(r.repairs?.map((p) => p.key).sort()).toEqual(['history.json', 'inventory.json']);
    }
    expect(damagedLines(lines).map((l) => l.msg)).toEqual([
      expect.stringContaining('inventory.json is null'), expect.stringContaining('history.json is a number'),
    ]);
    // Writable again: repaired in one reconcile, and the repair is in the history.
    fault.cancel();
    const r = await reconciler.reconcile();
    expect(r.result).toBe('Succeeded');
    const state = readParent(await sim.get(parentKey));
    expect(state.problems).toEqual([]);
    expect(state.data.history[0].repairs?.map((p) => p.key).sort()).toEqual(['history.json', 'inventory.json']);
    expect(damagedLines(lines)).toHaveLength(2);
  });

  it('repairs a damaged history in a reconcile with nothing to apply, and records it', async () => {
    const { repo, sim, reconciler } = setup();
    repo.commit({ namespace: 'shop', objects: [configMap('a', { v: '1' })] });
    await reconciler.reconcile();
    const live = (await sim.get(parentKey))!;
    await sim.update({ ...live, data: { ...live.data, 'history.json': '{"x":' } }, 'kubectl-edit');
    const r = await reconciler.reconcile();
    expect(r).toMatchObject({ result: 'NoChange', repairs: [expect.objectContaining({ key: 'history.json' })] });
    const state = readParent(await sim.get(parentKey));
    expect(state.problems).toEqual([]);
    expect(state.data.history).toEqual([expect.objectContaining({ result: 'Succeeded', message: 'in sync; repaired the engine state (history.json)' })]);
    expect(await reconciler.reconcile()).toMatchObject({ result: 'NoChange', writes: 0 });
  });

  it('does not prune when the parent was deleted while its members live on; prunes on the next reconcile', async () => {
    const { repo, sim, reconciler } = setup();
    repo.commit({ namespace: 'shop', objects: ['a', 'b', 'c'].map((n) => configMap(n, { v: '1' })) });
    await reconciler.reconcile();
    await sim.delete(parentKey);
    repo.commit({ namespace: 'shop', objects: ['a', 'b'].map((n) => configMap(n, { v: '1' })) });
    const r = await reconciler.reconcile();
    expect(r).toMatchObject({ result: 'Succeeded', changes: { pruned: 0 } });
    expect(r.repairs).toEqual([expect.objectContaining({ key: 'ConfigMap', message: 'ConfigMap shop/kgitops-shop is missing, but 3 object(s) carry its ApplySet label' })]);
    expect(await sim.get(cm('c'))).toBeDefined();
    expect(Object.keys(readParent(await sim.get(parentKey)).data.inventory).sort()).toEqual(['ConfigMap/shop/a', 'ConfigMap/shop/b', 'ConfigMap/shop/c']);
    expect(await reconciler.reconcile()).toMatchObject({ result: 'Succeeded', changes: { pruned: 1 } });
    expect(await sim.get(cm('c'))).toBeUndefined();
  });
});

describe('apply order (simulated cluster)', () => {
  it('applies a CRD and a custom resource of it in one reconcile, cluster-scoped as the CRD says', async () => {
    const { repo, sim, reconciler } = setup();
    const crd = {
      apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', metadata: { name: 'gadgets.example.com' },
      spec: { group: 'example.com', scope: 'Cluster', names: { kind: 'Gadget', plural: 'gadgets' }, versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } }] },
    };
    repo.commit({ namespace: 'shop', objects: [crd, { apiVersion: 'example.com/v1', kind: 'Gadget', metadata: { name: 'g' }, spec: { size: 1 } }] });
    const r = await reconciler.reconcile();
    expect(r.errors).toEqual([]);
    expect(r).toMatchObject({ result: 'Succeeded', changes: { created: 2 } });
    expect(r.order).toEqual([
      '1. dry-run 1 change(s) (stage 0 included); nothing is written if one fails',
      '2. write CustomResourceDefinition gadgets.example.com and wait until ready: later dry-runs need them',
      '3. dry-run 1 change(s) that need them (Gadget g); if one fails, what step 2 created is deleted again',
      '4. write stage 2 (the rest): 1 object(s), dependencies first',
    ]);
    expect((await sim.get({ apiVersion: 'example.com/v1', kind: 'Gadget', name: 'g' }))?.metadata.namespace).toBeUndefined();
    expect(await reconciler.reconcile()).toMatchObject({ result: 'NoChange' });
  });

  it('deletes the namespace it created when an object in it then fails its dry-run; nothing else is written', async () => {
    const { repo, sim, reconciler } = setup();
    repo.commit({ namespace: 'shop', objects: [
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'extra' } }, configMap('outside', { v: '1' }),
      configMap('good', { v: '1' }, { namespace: 'extra' }), configMap('bad', { v: '1' }, { namespace: 'extra' }),
    ] });
    sim.failNext({ verb: 'apply', kind: 'ConfigMap', name: 'bad', error: (req, info) => new RequestError(info, 422, 'Invalid', `ConfigMap "bad" is invalid (dry run: ${req.dryRun})`) });
    const r = await reconciler.reconcile();
    expect(r.result).toBe('Failed');
    expect(r.message).toMatch(/^nothing applied: .* configmaps bad in namespace extra failed \(422 Invalid\): ConfigMap "bad" is invalid \(dry run: true\); created for the dry-run and deleted again: Namespace\/\/extra$/);
    expect(await sim.get({ apiVersion: 'v1', kind: 'Namespace', name: 'extra' })).toBeUndefined();
    expect(await sim.get(cm('outside'))).toBeUndefined();
    expect(sim.requests.filter((q) => q.wrote && q.kind === 'ConfigMap' && q.name !== 'kgitops-shop')).toEqual([]);
    // The next reconcile applies it all (the fault was for one request).
    expect(await reconciler.reconcile()).toMatchObject({ result: 'Succeeded', changes: { created: 4 } });
  });
});

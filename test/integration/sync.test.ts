/**
 * The sync engine against the real kube-apiserver, each test in its own namespace, with real
 * git repos: a pushed commit is applied; a change writes only the changed object; a removed
 * object is pruned (with the mass-deletion guard and the opt-out annotation); a bad commit
 * changes nothing, is reported, and the next good commit applies; hand edits are drift and are
 * corrected; conflicts with other managers, kinds that are not served and missing permissions
 * are reported without touching the cluster.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { applySetId, parentName, readParent } from '../../engine/apply/applyset.js';
import { KubeCluster } from '../../engine/cluster/kube.js';
import type { Cluster, KubeObject } from '../../engine/cluster/types.js';
import { realClock } from '../../engine/clock.js';
import { type EngineConfig, loadConfig } from '../../engine/config.js';
import { createLogger } from '../../engine/log.js';
import { Reconciler } from '../../engine/reconciler.js';
import { gitSource } from '../../engine/cli/sync.js';
import { configMap, GitApp } from '../fixtures/git-app.js';
import { kubeconfigPath, withNamespace } from '../cluster/harness.js';

const CACHE = mkdtempSync(join(tmpdir(), 'kgitops-engine-cache-'));
afterAll(() => rmSync(CACHE, { recursive: true, force: true }));

const quiet = createLogger({ level: 'silent' });

function engine(ns: string, repo: GitApp, extra: Partial<EngineConfig> = {}, cluster: Cluster = KubeCluster.load({ kubeconfig: kubeconfigPath() })) {
  const config = { ...loadConfig({ repo: repo.dir, app: 'shop', namespace: ns, cacheDir: CACHE }), ...extra };
  return { config, cluster, reconciler: new Reconciler(config, cluster, gitSource(config), realClock, quiet) };
}

async function parentState(cluster: Cluster, ns: string) {
  return readParent(await cluster.get({ apiVersion: 'v1', kind: 'ConfigMap', namespace: ns, name: parentName('shop') }));
}

const cmKey = (ns: string, name: string) => ({ apiVersion: 'v1', kind: 'ConfigMap', namespace: ns, name });

describe('sync engine on a real apiserver', () => {
  it('applies a pushed commit, records it, and a change writes only the changed object', () =>
    withNamespace(async (ns) => {
      const repo = new GitApp();
      const { cluster, reconciler } = engine(ns, repo);
      const first = repo.commit({ namespace: ns, objects: [configMap('a', { v: '1' }), configMap('b', { v: '1' })], clonesets: [{ name: 'web', replicas: 2, image: 'registry.example.com/web:1' }] });
      const r1 = await reconciler.reconcile();
      expect(r1).toMatchObject({ result: 'Succeeded', commit: first, changes: { created: 3, updated: 0, pruned: 0 } });
      const a = (await cluster.get(cmKey(ns, 'a')))!;
      expect(a.metadata.labels?.['applyset.kubernetes.io/part-of']).toBe(reconciler.applySetId);
      const cs = await cluster.get({ apiVersion: 'apps.kruise.io/v1alpha1', kind: 'CloneSet', namespace: ns, name: 'web' });
      expect(cs?.spec.replicas).toBe(2);
      const state = await parentState(cluster, ns);
      expect(state.data.status).toMatchObject({ sync: 'Synced', appliedCommit: first });
      expect(state.groupKinds).toEqual(['CloneSet.apps.kruise.io', 'ConfigMap']);
      expect(state.data.history).toHaveLength(1);

      // The same commit again: nothing to do, no write at all.
      const again = await reconciler.reconcile();
      expect(again).toMatchObject({ result: 'NoChange', writes: 0 });

      // Change one object: only it (and our parent) is written.
      const bBefore = (await cluster.get(cmKey(ns, 'b')))!.metadata.resourceVersion;
      const second = repo.commit({ namespace: ns, objects: [configMap('a', { v: '2' }), configMap('b', { v: '1' })], clonesets: [{ name: 'web', replicas: 2, image: 'registry.example.com/web:1' }] });
      const r2 = await reconciler.reconcile();
      expect(r2).toMatchObject({ result: 'Succeeded', commit: second, changes: { created: 0, updated: 1, pruned: 0, unchanged: 2 } });
      expect(r2.writes).toBe(3); // the ConfigMap, and the parent before and after
      expect((await cluster.get(cmKey(ns, 'a')))!.data).toEqual({ v: '2' });
      expect((await cluster.get(cmKey(ns, 'b')))!.metadata.resourceVersion).toBe(bBefore);
      repo.remove();
    }));

  it('prunes an object removed from git, but not one that opts out, and guards against mass deletion', () =>
    withNamespace(async (ns) => {
      const repo = new GitApp();
      const { cluster, reconciler } = engine(ns, repo);
      const objs = ['a', 'b', 'c', 'd'].map((n) => configMap(n, { v: n }));
      repo.commit({ namespace: ns, objects: objs });
      expect((await reconciler.reconcile()).result).toBe('Succeeded');
      // d is kept by hand: an annotation forbids pruning it.
      const d = (await cluster.get(cmKey(ns, 'd')))!;
      await cluster.apply({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'd', namespace: ns, annotations: { 'kgitops.io/prune': 'disabled' } } }, { fieldManager: 'ops' });
      expect(d).toBeDefined();
      repo.commit({ namespace: ns, objects: objs.slice(0, 2) });
      const r = await reconciler.reconcile();
      expect(r).toMatchObject({ result: 'Succeeded', changes: { pruned: 1 } });
      expect(await cluster.get(cmKey(ns, 'c'))).toBeUndefined();
      expect(await cluster.get(cmKey(ns, 'd'))).toBeDefined();

      // Removing everything is refused (more than 50%, and git declares nothing).
      repo.commit({ namespace: ns, objects: [] });
      const guarded = await reconciler.reconcile();
      expect(guarded.result).toBe('Failed');
      expect(guarded.errors[0]).toMatchObject({ rule: 'prune/mass-deletion', message: 'refusing to delete 2 of 3 managed objects (git now declares none)' });
      expect(await cluster.get(cmKey(ns, 'a'))).toBeDefined();
      repo.remove();
    }));

  it('a bad commit changes nothing and is reported; the next good commit applies', () =>
    withNamespace(async (ns) => {
      const repo = new GitApp();
      const { cluster, reconciler } = engine(ns, repo);
      const good = repo.commit({ namespace: ns, objects: [configMap('a', { v: '1' })] });
      await reconciler.reconcile();
      // A CloneSet the webhook would reject (InPlaceOnly + maxSurge) next to a harmless change.
      const bad = repo.commit({ namespace: ns, objects: [configMap('a', { v: 'bad' }), {
        apiVersion: 'apps.kruise.io/v1alpha1', kind: 'CloneSet', metadata: { name: 'web' },
        spec: { selector: { matchLabels: { a: 'b' } }, template: { metadata: { labels: { a: 'b' } }, spec: { containers: [{ name: 'c', image: 'x:1' }] } }, updateStrategy: { type: 'InPlaceOnly', maxSurge: 1 } },
      }] });
      const r = await reconciler.reconcile();
      expect(r.result).toBe('Failed');
      expect(r.errors[0]).toMatchObject({ rule: 'cloneset/in-place-only-max-surge', path: 'spec.updateStrategy.maxSurge', constructPath: 'app/o1-web' });
      expect((await cluster.get(cmKey(ns, 'a')))!.data).toEqual({ v: '1' });
      const state = await parentState(cluster, ns);
      expect(state.data.status).toMatchObject({ sync: 'Failed', appliedCommit: good, attemptedCommit: bad });
      expect(state.data.history[0]).toMatchObject({ commit: bad, result: 'Failed' });
      // A TypeScript error in the next commit: reported with file and line, nothing applied.
      const broken = repo.commit({ namespace: ns, objects: [configMap('a', { v: 'x' })] }, 'broken', { 'main.ts': 'const x: = 1;\n' });
      const rb = await reconciler.reconcile();
      expect(rb).toMatchObject({ result: 'Failed', commit: broken });
      expect(rb.errors[0].source).toMatch(/main\.ts:1:\d+$/);
      // Fixed: applies.
      repo.git('checkout', '-q', good, '--', 'main.ts');
      const fixed = repo.commit({ namespace: ns, objects: [configMap('a', { v: '3' })] }, 'fix');
      expect(await reconciler.reconcile()).toMatchObject({ result: 'Succeeded', commit: fixed });
      expect((await cluster.get(cmKey(ns, 'a')))!.data).toEqual({ v: '3' });
      repo.remove();
    }));

  it('corrects a hand edit (drift) and reports who made it', () =>
    withNamespace(async (ns) => {
      const repo = new GitApp();
      const { cluster, reconciler } = engine(ns, repo);
      repo.commit({ namespace: ns, objects: [configMap('a', { v: '1', w: '1' })] });
      await reconciler.reconcile();
      const live = (await cluster.get(cmKey(ns, 'a')))!;
      // kubectl edit: an Update (PUT) by field manager kubectl-edit.
      await (cluster as KubeCluster)['json']({
        method: 'PUT', path: `/api/v1/namespaces/${ns}/configmaps/a?fieldManager=kubectl-edit`,
        body: { ...live, data: { v: 'edited', w: '1' } }, info: { verb: 'update', resource: 'configmaps' },
      });
      const r = await reconciler.reconcile();
      expect(r.result).toBe('Succeeded');
      expect(r.drift).toEqual([{ id: `ConfigMap/${ns}/a`, fields: ['.data.v'], managers: ['kubectl-edit'] }]);
      expect(r.changes.driftCorrected).toBe(1);
      expect((await cluster.get(cmKey(ns, 'a')))!.data).toEqual({ v: '1', w: '1' });
      const state = await parentState(cluster, ns);
      expect(state.data.history[0].drift?.[0].managers).toEqual(['kubectl-edit']);
      repo.remove();
    }));

  it('does not force a field another controller owns: reports the conflict naming it', () =>
    withNamespace(async (ns) => {
      const repo = new GitApp();
      const { cluster, reconciler } = engine(ns, repo);
      repo.commit({ namespace: ns, objects: [configMap('a', { v: '1' })] });
      await reconciler.reconcile();
      await cluster.apply({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'a', namespace: ns }, data: { v: 'helm' } }, { fieldManager: 'helm', force: true });
      repo.commit({ namespace: ns, objects: [configMap('a', { v: '2' })] });
      const r = await reconciler.reconcile();
      expect(r.result).toBe('Failed');
      expect(r.errors[0]).toMatchObject({ rule: 'apply/conflict', message: `apply conflict on patch (dry run) configmaps a in namespace ${ns}: .data.v is owned by "helm"` });
      expect((await cluster.get(cmKey(ns, 'a')))!.data).toEqual({ v: 'helm' });
      repo.remove();
    }));

  it('fails closed when a kind is not served: nothing is applied', () =>
    withNamespace(async (ns) => {
      const repo = new GitApp();
      const { cluster, reconciler } = engine(ns, repo);
      repo.commit({ namespace: ns, objects: [configMap('a', { v: '1' }), {
        apiVersion: 'rollouts.kruise.io/v1beta1', kind: 'Rollout', metadata: { name: 'r' }, spec: {},
      }] });
      const r = await reconciler.reconcile();
      expect(r.result).toBe('Failed');
      expect(r.errors.map((e) => e.rule)).toContain('cluster/not-served');
      expect(await cluster.get(cmKey(ns, 'a'))).toBeUndefined();
      repo.remove();
    }));

  it('reports an unreachable remote without crashing', () =>
    withNamespace(async (ns) => {
      const repo = new GitApp();
      repo.commit({ namespace: ns, objects: [] });
      const { reconciler } = engine(ns, repo, { repo: 'http://127.0.0.1:9/nothing.git' });
      const r = await reconciler.reconcile();
      expect(r.result).toBe('Failed');
      expect(r.errors[0].rule).toBe('source/fetch');
      repo.remove();
    }));
});

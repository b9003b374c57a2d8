/**
 * One app, one identity, on the real apiserver. Two repos that share a basename (both called
 * `deploy`) synced into one namespace get two ApplySet parents and never prune each other's
 * objects; each parent records its app (repo, path). An engine given the name of another app
 * (`--app`) refuses that app's parent, changing nothing; a parent that records no app yet (an
 * earlier kgitops) is adopted with one warning; objects of the parent an earlier kgitops named
 * after the repo basename are refused with a hint naming `--app <basename>`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { ANNOTATION_SOURCE_PATH, ANNOTATION_SOURCE_REPO, parentName, readParent } from '../../engine/apply/applyset.js';
import { gitSource } from '../../engine/cli/sync.js';
import { formatStatus, readStatus } from '../../engine/cli/status.js';
import { KubeCluster } from '../../engine/cluster/kube.js';
import { realClock } from '../../engine/clock.js';
import { type ConfigFlags, loadConfig } from '../../engine/config.js';
import { createLogger } from '../../engine/log.js';
import { Reconciler } from '../../engine/reconciler.js';
import { configMap, GitApp } from '../fixtures/git-app.js';
import { kubeconfigPath, withNamespace } from '../cluster/harness.js';

const CACHE = mkdtempSync(join(tmpdir(), 'kgitops-engine-cache-'));
afterAll(() => rmSync(CACHE, { recursive: true, force: true }));

function engine(ns: string, repo: GitApp, flags: ConfigFlags = {}) {
  const cluster = KubeCluster.load({ kubeconfig: kubeconfigPath() });
  const config = loadConfig({ repo: repo.dir, namespace: ns, cacheDir: CACHE, ...flags });
  const warnings: string[] = [];
  const stream = new Writable({ write(chunk, _e, cb) { for (const l of String(chunk).split('\n').filter(Boolean)) { const j = JSON.parse(l); if (j.level >= 40) warnings.push(j.msg); } cb(); } });
  const reconciler = new Reconciler(config, cluster, gitSource(config), realClock, createLogger({ format: 'json', stream }));
  return { cluster, config, reconciler, warnings };
}

const cm = (ns: string, name: string) => ({ apiVersion: 'v1', kind: 'ConfigMap', namespace: ns, name });
const names = async (cluster: KubeCluster, ns: string) =>
  (await cluster.list('v1', 'ConfigMap', { namespace: ns })).items.map((i) => i.metadata.name).filter((n) => !n.startsWith('kgitops-') && n !== 'kube-root-ca.crt').sort();

describe('app identity on a real apiserver', () => {
  it('two repos called deploy in one namespace get their own parents and never prune each other', () =>
    withNamespace(async (ns) => {
      const repoA = new GitApp(undefined, { name: 'deploy' });
      const repoB = new GitApp(undefined, { name: 'deploy' });
      const a = engine(ns, repoA);
      const b = engine(ns, repoB);
      expect(a.config.app).toMatch(/^deploy-[0-9a-f]{8}$/);
      expect(b.config.app).toMatch(/^deploy-[0-9a-f]{8}$/);
      expect(a.config.app).not.toBe(b.config.app);
      repoA.commit({ namespace: ns, objects: [configMap('a1', { v: '1' }), configMap('a2', { v: '1' })] });
      repoB.commit({ namespace: ns, objects: [configMap('b1', { v: '1' }), configMap('b2', { v: '1' })] });
      for (const e of [a, b, a, b]) {
        const r = await e.reconciler.reconcile();
        expect(r.errors).toEqual([]);
        expect(r.changes.pruned).toBe(0);
      }
      expect(await names(a.cluster, ns)).toEqual(['a1', 'a2', 'b1', 'b2']);
      for (const e of [a, b]) {
        const parent = await e.cluster.get(cm(ns, parentName(e.config.app)));
        expect(parent?.metadata.annotations?.[ANNOTATION_SOURCE_REPO]).toBe(e.config.source.repo);
        expect(parent?.metadata.annotations?.[ANNOTATION_SOURCE_PATH]).toBe('.');
      }
      // A removes an object of its own: only that one goes.
      repoA.commit({ namespace: ns, objects: [configMap('a1', { v: '1' })] });
      expect(await a.reconciler.reconcile()).toMatchObject({ result: 'Succeeded', changes: { pruned: 1 } });
      expect(await b.reconciler.reconcile()).toMatchObject({ result: 'NoChange' });
      expect(await names(a.cluster, ns)).toEqual(['a1', 'b1', 'b2']);
      // kgitops status shows the recorded source.
      expect(formatStatus(await readStatus(a.cluster, a.config.app, ns))).toContain(`source: repo ${a.config.source.repo}\n`);
      repoA.remove();
      repoB.remove();
    }), 90_000);

  it('refuses the parent of another app given by --app, and adopts a parent that records no app yet', () =>
    withNamespace(async (ns) => {
      const repoA = new GitApp(undefined, { name: 'deploy' });
      const repoB = new GitApp(undefined, { name: 'deploy' });
      const a = engine(ns, repoA, { app: 'shop' });
      repoA.commit({ namespace: ns, objects: [configMap('a1', { v: '1' })] });
      expect((await a.reconciler.reconcile()).result).toBe('Succeeded');
      const before = (await a.cluster.get(cm(ns, 'kgitops-shop')))!;

      // Another repo, told to be "shop" too: refused, nothing written, not even its failure.
      const b = engine(ns, repoB, { app: 'shop' });
      repoB.commit({ namespace: ns, objects: [configMap('b1', { v: '1' })] });
      const r = await b.reconciler.reconcile();
      expect(r.result).toBe('Failed');
      expect(r.writes).toBe(0);
      expect(r.errors[0]).toMatchObject({ rule: 'state/other-app' });
      expect(r.errors[0].message).toBe(`ConfigMap ${ns}/kgitops-shop is the ApplySet parent of another app (repo ${a.config.source.repo}), not of this one (repo ${b.config.source.repo}): two apps sharing one parent would prune each other's objects, so this engine does not use it`);
      expect(r.errors[0].hint).toContain('--app <other name>');
      expect((await b.cluster.get(cm(ns, 'kgitops-shop')))!.metadata.resourceVersion).toBe(before.metadata.resourceVersion);
      expect(await names(a.cluster, ns)).toEqual(['a1']);

      // A parent written by an earlier kgitops records no app: adopted (one warning), then recorded.
      const { [ANNOTATION_SOURCE_REPO]: _r, [ANNOTATION_SOURCE_PATH]: _p, ...annotations } = before.metadata.annotations!;
      await (a.cluster as unknown as { json(r: unknown): Promise<unknown> }).json({
        method: 'PUT', path: `/api/v1/namespaces/${ns}/configmaps/kgitops-shop?fieldManager=kubectl-edit`,
        body: { ...(await a.cluster.get(cm(ns, 'kgitops-shop')))!, metadata: { ...before.metadata, resourceVersion: undefined, annotations } }, info: { verb: 'update', resource: 'configmaps' },
      });
      expect(readParent(await a.cluster.get(cm(ns, 'kgitops-shop'))).source).toBeUndefined();
      repoA.commit({ namespace: ns, objects: [configMap('a1', { v: '2' })] });
      expect((await a.reconciler.reconcile()).result).toBe('Succeeded');
      expect(a.warnings.filter((w) => w.includes('records no app yet'))).toHaveLength(1);
      expect(readParent(await a.cluster.get(cm(ns, 'kgitops-shop'))).source).toEqual(a.config.source);
      repoA.remove();
      repoB.remove();
    }), 90_000);

  it('says how to keep the parent an earlier kgitops named after the repo basename', () =>
    withNamespace(async (ns) => {
      const repo = new GitApp(undefined, { name: 'storefront' });
      // What an earlier kgitops did by default: app = the repo basename.
      const old = engine(ns, repo, { app: 'storefront' });
      repo.commit({ namespace: ns, objects: [configMap('a', { v: '1' })] });
      expect((await old.reconciler.reconcile()).result).toBe('Succeeded');
      const upgraded = engine(ns, repo);
      expect(upgraded.config.app).not.toBe('storefront');
      const r = await upgraded.reconciler.reconcile();
      expect(r.result).toBe('Failed');
      expect(r.errors[0]).toMatchObject({ rule: 'apply/foreign-owner' });
      expect(r.errors[0].hint).toBe(`it belongs to ConfigMap ${ns}/kgitops-storefront, the parent an earlier kgitops named after the repo basename; to keep managing these objects, run with --app storefront (or app: storefront in kgitops.yaml)`);
      expect((await old.cluster.get(cm(ns, 'a')))?.metadata.labels?.['applyset.kubernetes.io/part-of']).toBe(old.reconciler.applySetId);
      repo.remove();
    }), 90_000);
});

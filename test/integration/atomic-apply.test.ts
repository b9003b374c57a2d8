/**
 * All or nothing, on the real apiserver: a commit is written only once every object of it has
 * passed its dry-run, stage 0 (Namespaces, CRDs, cluster RBAC) included; objects that need a
 * Namespace or a CRD of the same commit are dry-run once those exist, and when that dry-run
 * fails the definitions are deleted again. A commit with a CRD and its custom resources applies
 * on its first reconcile. A write that fails after the dry-runs passed (a ResourceQuota the
 * objects exceed together) names what was written and what was not, with the API's reason.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parentName, readParent } from '../../engine/apply/applyset.js';
import { gitSource } from '../../engine/cli/sync.js';
import { KubeCluster } from '../../engine/cluster/kube.js';
import type { ObjectKey } from '../../engine/cluster/types.js';
import { realClock } from '../../engine/clock.js';
import { loadConfig } from '../../engine/config.js';
import { createLogger } from '../../engine/log.js';
import { Reconciler } from '../../engine/reconciler.js';
import { configMap, GitApp } from '../fixtures/git-app.js';
import { kubeconfigPath, waitFor, withNamespace } from '../cluster/harness.js';

const CACHE = mkdtempSync(join(tmpdir(), 'kgitops-engine-cache-'));
afterAll(() => rmSync(CACHE, { recursive: true, force: true }));

function engine(ns: string, repo: GitApp) {
  const cluster = KubeCluster.load({ kubeconfig: kubeconfigPath() });
  const config = loadConfig({ repo: repo.dir, app: 'shop', namespace: ns, cacheDir: CACHE });
  return { cluster, reconciler: new Reconciler(config, cluster, gitSource(config), realClock, createLogger({ level: 'silent' })) };
}

/** A ConfigMap the schema accepts but the apiserver rejects (keys must be alphanumeric, -, _ or .). */
const badConfigMap = (name: string, namespace?: string) => ({
  apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, ...(namespace ? { namespace } : {}) }, data: { 'not a valid key!': 'x' },
});

const nsObject = (name: string) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
const key = (kind: string, name: string, namespace?: string, apiVersion = 'v1'): ObjectKey => ({ apiVersion, kind, name, ...(namespace ? { namespace } : {}) });

/** Deletes cluster-scoped leftovers of a test (namespaces, CRDs, bindings), whatever happened. */
async function cleanup(cluster: KubeCluster, keys: ObjectKey[]): Promise<void> {
  for (const k of keys) await cluster.delete(k).catch(() => undefined);
}

const crd = (group: string, kind: string, scope: 'Namespaced' | 'Cluster') => {
  const plural = `${kind.toLowerCase()}s`;
  return {
    apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', metadata: { name: `${plural}.${group}` },
    spec: {
      group, scope, names: { kind, plural, singular: kind.toLowerCase(), listKind: `${kind}List` },
      versions: [{
        name: 'v1', served: true, storage: true,
        schema: { openAPIV3Schema: { type: 'object', properties: { spec: { type: 'object', properties: { size: { type: 'integer', minimum: 1 } } } } } },
      }],
    },
  };
};

describe('all or nothing on a real apiserver', () => {
  it('writes nothing, stage 0 included, when a later object fails its dry-run', () =>
    withNamespace(async (ns) => {
      const repo = new GitApp();
      const { cluster, reconciler } = engine(ns, repo);
      const extraNs = `${ns}-extra`;
      const binding = {
        apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: `${ns}-view` },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'view' },
        subjects: [{ kind: 'ServiceAccount', name: 'default', namespace: ns }],
      };
      try {
        repo.commit({ namespace: ns, objects: [nsObject(extraNs), binding, configMap('good', { v: '1' }), badConfigMap('bad')] });
        const r = await reconciler.reconcile();
        expect(r.result).toBe('Failed');
        expect(r.message).toMatch(/^nothing applied: /);
        expect(r.errors).toEqual([expect.objectContaining({ rule: 'apply/invalid', object: expect.objectContaining({ kind: 'ConfigMap', name: 'bad' }) })]);
        expect(r.order?.[0]).toMatch(/^1\. dry-run 4 change\(s\) \(stage 0 included\)/);
        expect(await cluster.get(key('Namespace', extraNs))).toBeUndefined();
        expect(await cluster.get(key('ClusterRoleBinding', `${ns}-view`, undefined, 'rbac.authorization.k8s.io/v1'))).toBeUndefined();
        expect(await cluster.get(key('ConfigMap', 'good', ns))).toBeUndefined();
        // Fixed: everything applies, stage 0 first.
        repo.commit({ namespace: ns, objects: [nsObject(extraNs), binding, configMap('good', { v: '1' })] });
        expect(await reconciler.reconcile()).toMatchObject({ result: 'Succeeded', changes: { created: 3 } });
        expect(await cluster.get(key('Namespace', extraNs))).toBeDefined();
      } finally {
        await cleanup(cluster, [key('Namespace', extraNs), key('ClusterRoleBinding', `${ns}-view`, undefined, 'rbac.authorization.k8s.io/v1')]);
        repo.remove();
      }
    }), 90_000);

  it('creates a namespace the commit needs for its dry-runs, and deletes it again when one fails', () =>
    withNamespace(async (ns) => {
      const repo = new GitApp();
      const { cluster, reconciler } = engine(ns, repo);
      const appNs = `${ns}-app`;
      try {
        repo.commit({ namespace: ns, objects: [nsObject(appNs), configMap('settings', { v: '1' }, { namespace: appNs }), badConfigMap('bad', appNs)] });
        const r = await reconciler.reconcile();
        expect(r.result).toBe('Failed');
        expect(r.message).toMatch(/^nothing applied: .*; created for the dry-run and deleted again: Namespace\/\/.*-app$/);
        expect(r.order).toEqual([
          '1. dry-run 1 change(s) (stage 0 included); nothing is written if one fails',
          `2. write Namespace ${appNs} and wait until ready: later dry-runs need them`,
          `3. dry-run 2 change(s) that need them (ConfigMap ${appNs}/settings, ConfigMap ${appNs}/bad); if one fails, what step 2 created is deleted again`,
          '4. write stage 2 (the rest): 2 object(s), dependencies first',
        ]);
        // Deleted again: gone, or on its way out (the namespace controller empties it first).
        const left = await cluster.get(key('Namespace', appNs));
        expect(left === undefined || !!left.metadata.deletionTimestamp).toBe(true);
        expect(await cluster.get(key('ConfigMap', 'settings', appNs))).toBeUndefined();
        await waitFor(async () => (await cluster.get(key('Namespace', appNs))) === undefined || undefined, { timeoutMs: 45_000 });

        repo.commit({ namespace: ns, objects: [nsObject(appNs), configMap('settings', { v: '1' }, { namespace: appNs })] });
        expect(await reconciler.reconcile()).toMatchObject({ result: 'Succeeded', changes: { created: 2 } });
        expect((await cluster.get(key('ConfigMap', 'settings', appNs)))?.data).toEqual({ v: '1' });
      } finally {
        await cleanup(cluster, [key('Namespace', appNs)]);
        repo.remove();
      }
    }), 120_000);

  it('applies a CRD and its custom resources on the first reconcile, with the scope the CRD declares', () =>
    withNamespace(async (ns) => {
      const repo = new GitApp();
      const { cluster, reconciler } = engine(ns, repo);
      const group = `${ns}.kgitops.test`;
      const crds = [crd(group, 'Widget', 'Namespaced'), crd(group, 'Gadget', 'Cluster')];
      const gadgetName = `${ns}-gadget`;
      try {
        repo.commit({ namespace: ns, objects: [
          ...crds,
          { apiVersion: `${group}/v1`, kind: 'Widget', metadata: { name: 'w' }, spec: { size: 2 } },
          { apiVersion: `${group}/v1`, kind: 'Gadget', metadata: { name: gadgetName }, spec: { size: 3 } },
        ] });
        const r = await reconciler.reconcile();
        expect(r.errors).toEqual([]);
        expect(r).toMatchObject({ result: 'Succeeded', changes: { created: 4 } });
        expect(r.order?.[2]).toMatch(/^3\. dry-run 2 change\(s\) that need them/);
        const widget = await cluster.get(key('Widget', 'w', ns, `${group}/v1`));
        expect(widget?.spec).toEqual({ size: 2 });
        const gadget = await cluster.get(key('Gadget', gadgetName, undefined, `${group}/v1`));
        expect(gadget?.metadata.namespace).toBeUndefined();
        expect(gadget?.metadata.labels?.['applyset.kubernetes.io/part-of']).toBe(reconciler.applySetId);
        // The same commit again: nothing to apply (the hash recorded for them is the one applied);
        // at most the status is rewritten once, as health settles; then no write at all.
        expect(await reconciler.reconcile()).toMatchObject({ result: 'NoChange', changes: { unchanged: 4 } });
        expect(await reconciler.reconcile()).toMatchObject({ result: 'NoChange', writes: 0 });
        // A custom resource the CRD's schema rejects: nothing written.
        repo.commit({ namespace: ns, objects: [
          ...crds,
          { apiVersion: `${group}/v1`, kind: 'Widget', metadata: { name: 'w' }, spec: { size: 0 } },
          { apiVersion: `${group}/v1`, kind: 'Gadget', metadata: { name: gadgetName }, spec: { size: 3 } },
        ] });
        const bad = await reconciler.reconcile();
        expect(bad).toMatchObject({ result: 'Failed' });
        expect(bad.message).toMatch(/^nothing applied: .*spec\.size/);
        expect((await cluster.get(key('Widget', 'w', ns, `${group}/v1`)))?.spec).toEqual({ size: 2 });
      } finally {
        await cleanup(cluster, [key('Gadget', gadgetName, undefined, `${group}/v1`), ...crds.map((c) => key('CustomResourceDefinition', c.metadata.name, undefined, 'apiextensions.k8s.io/v1'))]);
        repo.remove();
      }
    }), 90_000);

  it('deletes a CRD it created for a dry-run that then failed', () =>
    withNamespace(async (ns) => {
      const repo = new GitApp();
      const { cluster, reconciler } = engine(ns, repo);
      const group = `${ns}.kgitops.test`;
      const widgets = crd(group, 'Widget', 'Namespaced');
      const crdKey = key('CustomResourceDefinition', widgets.metadata.name, undefined, 'apiextensions.k8s.io/v1');
      try {
        repo.commit({ namespace: ns, objects: [widgets, { apiVersion: `${group}/v1`, kind: 'Widget', metadata: { name: 'w' }, spec: { size: -1 } }] });
        const r = await reconciler.reconcile();
        expect(r.result).toBe('Failed');
        expect(r.message).toContain(`created for the dry-run and deleted again: CustomResourceDefinition.apiextensions.k8s.io//${widgets.metadata.name}`);
        const left = await cluster.get(crdKey);
        expect(left === undefined || !!left.metadata.deletionTimestamp).toBe(true);
      } finally {
        await cleanup(cluster, [crdKey]);
        repo.remove();
      }
    }), 90_000);

  it('names what was written and what not when a ResourceQuota refuses objects that passed their dry-runs one by one', () =>
    withNamespace(async (ns) => {
      const repo = new GitApp();
      const { cluster, reconciler } = engine(ns, repo);
      repo.commit({ namespace: ns, objects: [configMap('cm-0', { v: '1' })] });
      expect((await reconciler.reconcile()).result).toBe('Succeeded');
      // Room for two more ConfigMaps (kube-root-ca.crt, the parent and cm-0 exist).
      const used = async () => (await cluster.list('v1', 'ConfigMap', { namespace: ns })).items.length;
      const hard = (await used()) + 2;
      await cluster.apply({ apiVersion: 'v1', kind: 'ResourceQuota', metadata: { name: 'configmaps', namespace: ns }, spec: { hard: { 'count/configmaps': String(hard) } } }, { fieldManager: 'ops' });
      // Admission counts against the quota's status, which the quota controller fills in.
      await waitFor(async () => (await cluster.get(key('ResourceQuota', 'configmaps', ns)))?.status?.used?.['count/configmaps'] === String(hard - 2) || undefined, { timeoutMs: 30_000 });

      repo.commit({ namespace: ns, objects: [0, 1, 2, 3, 4, 5].map((i) => configMap(`cm-${i}`, { v: '1' })) });
      const r = await reconciler.reconcile();
      expect(r.result).toBe('Failed');
      expect(r.message).toMatch(/^partly applied: 2 written \(ConfigMap\/.*\), 3 not written \(.*\): ResourceQuota configmaps exceeded/);
      expect(r.notWritten).toHaveLength(3);
      expect(r.errors).toHaveLength(3);
      for (const e of r.errors) {
        expect(e.rule).toBe('apply/quotaexceeded');
        expect(e.message).toMatch(/^ResourceQuota configmaps exceeded: patch configmaps cm-\d in namespace .*: .*exceeded quota: configmaps/);
        expect(e.message).not.toContain('missing permission');
        expect(e.hint).toContain('raise the quota');
      }
      const written = (await cluster.list('v1', 'ConfigMap', { namespace: ns })).items.filter((i) => i.metadata.name.startsWith('cm-')).map((i) => i.metadata.name).sort();
      expect(written).toHaveLength(3); // cm-0 and the two that fitted
      for (const n of r.notWritten!) expect(written).not.toContain(n.id.split('/').pop());
      // The parent records the same (its own write is an update: the quota does not count it).
      const state = readParent(await cluster.get(key('ConfigMap', parentName('shop'), ns)));
      expect(state.data.status).toMatchObject({ sync: 'Failed', message: r.message });
      expect(state.data.history[0].notWritten?.map((n) => n.id).sort()).toEqual(r.notWritten!.map((n) => n.id).sort());
      repo.remove();
    }), 90_000);
});


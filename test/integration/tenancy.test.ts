/**
 * One app as one tenant, on the real apiserver (RBAC on): every read and write of the reconcile
 * goes through the app's ServiceAccount (KubeCluster.impersonating), so RBAC is the boundary.
 * A commit with objects its identity may not read or write fails per object, naming the object,
 * the verb and the ServiceAccount, and nothing of it is applied (a Namespace created for the
 * dry-run is deleted again); a commit of its own objects applies. An existing object the app did
 * not create is refused and left as it was, until its owner opts it in with kgitops.io/adopt.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ANNOTATION_ADOPT, LABEL_PART_OF } from '../../engine/apply/applyset.js';
import { gitSource } from '../../engine/cli/sync.js';
import { KubeCluster, serviceAccountUser } from '../../engine/cluster/kube.js';
import type { KubeObject, ObjectKey } from '../../engine/cluster/types.js';
import { realClock } from '../../engine/clock.js';
import { loadConfig } from '../../engine/config.js';
import { createLogger } from '../../engine/log.js';
import { Reconciler } from '../../engine/reconciler.js';
import { configMap, GitApp } from '../fixtures/git-app.js';
import { kubeconfigPath, waitFor, withNamespace } from '../cluster/harness.js';

const CACHE = mkdtempSync(join(tmpdir(), 'kgitops-tenancy-cache-'));
const repos: GitApp[] = [];
const reconcilers: Reconciler[] = [];
afterAll(() => {
  for (const r of reconcilers) r.close();
  for (const r of repos) r.remove();
  rmSync(CACHE, { recursive: true, force: true });
});

const RBAC = 'rbac.authorization.k8s.io/v1';
const cm = (namespace: string, name: string): ObjectKey => ({ apiVersion: 'v1', kind: 'ConfigMap', namespace, name });
const crbKey = (name: string): ObjectKey => ({ apiVersion: RBAC, kind: 'ClusterRoleBinding', name });

function admin(): KubeCluster {
  return KubeCluster.load({ kubeconfig: kubeconfigPath() });
}

/** ServiceAccount `name` in `ns`, bound to the ClusterRole admin in `ns` only. */
async function tenantAccount(ns: string, name: string): Promise<void> {
  const c = admin();
  await c.apply({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name, namespace: ns } }, { fieldManager: 'test' });
  await c.apply({
    apiVersion: RBAC, kind: 'RoleBinding', metadata: { name: `${name}-admin`, namespace: ns },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'admin' },
    subjects: [{ kind: 'ServiceAccount', name, namespace: ns }],
  }, { fieldManager: 'test' });
}

/** The app's engine: every request as the ServiceAccount, its parent in the tenant's namespace. */
function tenantEngine(ns: string, sa: string) {
  const repo = new GitApp();
  repos.push(repo);
  const cluster = admin().impersonating({ user: serviceAccountUser(ns, sa) });
  const config = { ...loadConfig({ repo: repo.dir, app: 'shop', namespace: ns, cacheDir: CACHE }), parentNamespace: ns };
  const reconciler = new Reconciler(config, cluster, gitSource(config), realClock, createLogger({ level: 'silent' }));
  reconcilers.push(reconciler);
  return { repo, reconciler, user: serviceAccountUser(ns, sa) };
}

/** A ClusterRoleBinding that would make the ServiceAccount cluster-admin. */
const escalation = (name: string, ns: string, sa: string) => ({
  apiVersion: RBAC, kind: 'ClusterRoleBinding', metadata: { name },
  roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' },
  subjects: [{ kind: 'ServiceAccount', name: sa, namespace: ns }],
});

const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe('an app as a tenant: its ServiceAccount is the boundary', () => {
  it('fails a commit with objects outside its namespace per object, applies nothing of it, and applies a commit of its own objects', () =>
    withNamespace(async (ns) => {
      await tenantAccount(ns, 'deployer');
      const { repo, reconciler, user } = tenantEngine(ns, 'deployer');
      const crb = `tenancy-${ns}-root`;
      const foreignCm = `tenancy-${ns}`;
      repo.commit({ namespace: ns, objects: [
        configMap('settings', { v: '1' }),
        escalation(crb, ns, 'deployer'),
        configMap(foreignCm, { v: '1' }, { namespace: 'kube-system' }),
      ] });
      const r = await reconciler.reconcile();
      expect(r.result).toBe('Failed');
      expect(r.message).toMatch(/needs 2 read\(s\) this app's identity may not do; nothing applied$/);
      // Its identity may not even read them: whether they exist, and whose they are, is unknown.
      expect(r.errors.map((e) => [e.rule, e.object?.kind, e.object?.namespace, e.object?.name])).toEqual([
        ['apply/forbidden', 'ClusterRoleBinding', undefined, crb],
        ['apply/forbidden', 'ConfigMap', 'kube-system', foreignCm],
      ]);
      expect(r.errors[0].message).toMatch(new RegExp(`^ClusterRoleBinding ${esc(crb)} \\(construct app/o1-${esc(crb)}\\) cannot be planned: .*User "${esc(user)}" cannot get resource "clusterrolebindings" in API group "rbac.authorization.k8s.io" at the cluster scope`));
      expect(r.errors[1].message).toMatch(new RegExp(`^ConfigMap kube-system/${esc(foreignCm)} .*User "${esc(user)}" cannot get resource "configmaps" in API group "" in the namespace "kube-system"`));
      const c = admin();
      expect(await c.get(cm(ns, 'settings'))).toBeUndefined();
      expect(await c.get(crbKey(crb))).toBeUndefined();
      expect(await c.get(cm('kube-system', foreignCm))).toBeUndefined();

      // Only its own namespace's objects: applied, as the ServiceAccount.
      repo.commit({ namespace: ns, objects: [configMap('settings', { v: '1' })] });
      expect(await reconciler.reconcile()).toMatchObject({ result: 'Succeeded', changes: { created: 1 } });
      const settings = (await c.get(cm(ns, 'settings')))!;
      expect(settings.metadata.labels?.[LABEL_PART_OF]).toBe(reconciler.applySetId);
      expect(settings.metadata.managedFields?.map((f) => f.manager)).toEqual(['kgitops']);
    }, { prefix: 'team-a' }), 120_000);

  it('fails the dry-run of objects it may read but not write, per object, and deletes again a Namespace it created for the dry-run', () =>
    withNamespace(async (ns) => {
      await tenantAccount(ns, 'reader');
      // Reads across the cluster, and Namespaces: the plan passes, the dry-run decides.
      const role = `tenancy-${ns}-reader`;
      const extra = `${ns}-extra`;
      const c = admin();
      await c.apply({
        apiVersion: RBAC, kind: 'ClusterRole', metadata: { name: role },
        rules: [
          { apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'list'] },
          { apiGroups: ['rbac.authorization.k8s.io'], resources: ['clusterrolebindings'], verbs: ['get', 'list'] },
          { apiGroups: [''], resources: ['namespaces'], verbs: ['get', 'list', 'create', 'patch', 'delete'] },
        ],
      }, { fieldManager: 'test' });
      await c.apply({
        apiVersion: RBAC, kind: 'ClusterRoleBinding', metadata: { name: role },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role },
        subjects: [{ kind: 'ServiceAccount', name: 'reader', namespace: ns }],
      }, { fieldManager: 'test' });
      try {
        const { repo, reconciler, user } = tenantEngine(ns, 'reader');
        const crb = `tenancy-${ns}-root`;
        const foreignCm = `tenancy-${ns}`;
        repo.commit({ namespace: ns, objects: [
          configMap('settings', { v: '1' }),
          escalation(crb, ns, 'reader'),
          configMap(foreignCm, { v: '1' }, { namespace: 'kube-system' }),
        ] });
        const r = await reconciler.reconcile();
        expect(r.result).toBe('Failed');
        expect(r.message).toMatch(/^nothing applied: /);
        const byName = new Map(r.errors.map((e) => [e.object?.name, e]));
        expect([...byName.keys()].sort()).toEqual([crb, foreignCm].sort());
        expect(byName.get(crb)).toMatchObject({ rule: 'apply/forbidden', object: { kind: 'ClusterRoleBinding', name: crb }, constructPath: `app/o1-${crb}` });
        expect(byName.get(crb)!.message).toMatch(new RegExp(`^missing permission: patch \\(dry run\\) rbac.authorization.k8s.io/clusterrolebindings ${esc(crb)} is forbidden \\(403\\): .*User "${esc(user)}" cannot (patch|create) resource "clusterrolebindings"`));
        expect(byName.get(foreignCm)).toMatchObject({ rule: 'apply/forbidden', object: { kind: 'ConfigMap', namespace: 'kube-system', name: foreignCm } });
        expect(byName.get(foreignCm)!.message).toMatch(new RegExp(`^missing permission: patch \\(dry run\\) configmaps ${esc(foreignCm)} in namespace kube-system is forbidden \\(403\\): .*User "${esc(user)}" cannot (patch|create) resource "configmaps" in API group "" in the namespace "kube-system"`));
        expect(byName.get(foreignCm)!.hint).toMatch(new RegExp(`^remove it from git if this app should not manage it \\(user "${esc(user)}" may not (patch|create) it\\); otherwise grant the verb "(patch|create)" on configmaps`));
        expect(await c.get(cm(ns, 'settings'))).toBeUndefined();
        expect(await c.get(crbKey(crb))).toBeUndefined();
        expect(await c.get(cm('kube-system', foreignCm))).toBeUndefined();

        // A Namespace of the commit is created so that what lives in it can be dry-run; that
        // dry-run is refused, so the Namespace is deleted again and nothing else is written.
        repo.commit({ namespace: ns, objects: [
          configMap('settings', { v: '1' }),
          { apiVersion: 'v1', kind: 'Namespace', metadata: { name: extra } },
          configMap('inside', { v: '1' }, { namespace: extra }),
        ] });
        const r2 = await reconciler.reconcile();
        expect(r2.result).toBe('Failed');
        expect(r2.errors.map((e) => [e.rule, e.object?.namespace, e.object?.name])).toEqual([['apply/forbidden', extra, 'inside']]);
        expect(r2.errors[0].message).toContain(`User "${user}" cannot`);
        expect(r2.message).toMatch(new RegExp(`^nothing applied: .*; created for the dry-run and deleted again: Namespace//${esc(extra)}$`));
        await waitFor(async () => {
          const live = await c.get({ apiVersion: 'v1', kind: 'Namespace', name: extra });
          return !live || !!live.metadata.deletionTimestamp;
        }, { timeoutMs: 30_000, message: `namespace ${extra} deleted again` });
        expect(await c.get(cm(ns, 'settings'))).toBeUndefined();
      } finally {
        await c.delete({ apiVersion: RBAC, kind: 'ClusterRoleBinding', name: role });
        await c.delete({ apiVersion: RBAC, kind: 'ClusterRole', name: role });
        await c.delete({ apiVersion: 'v1', kind: 'Namespace', name: extra });
      }
    }, { prefix: 'team-a' }), 120_000);

  it('refuses an existing object it did not create and leaves it as it was, until its owner opts it in', () =>
    withNamespace(async (ns) => {
      await tenantAccount(ns, 'deployer');
      const { repo, reconciler } = tenantEngine(ns, 'deployer');
      const c = admin();
      // Made by hand (kubectl create), not by the app.
      await c.apply({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'handmade', namespace: ns }, data: { v: 'hand' } }, { fieldManager: 'kubectl-create' });
      const before = (await c.get(cm(ns, 'handmade')))!;
      repo.commit({ namespace: ns, objects: [configMap('settings', { v: '1' }), configMap('handmade', { v: 'git' })] });
      const r = await reconciler.reconcile();
      expect(r.result).toBe('Failed');
      expect(r.message).toMatch(/declares 1 existing object\(s\) this app does not own; nothing applied$/);
      expect(r.errors).toHaveLength(1);
      expect(r.errors[0]).toMatchObject({
        rule: 'apply/not-owned', constructPath: 'app/o1-handmade', object: { kind: 'ConfigMap', namespace: ns, name: 'handmade' },
        message: `ConfigMap ${ns}/handmade (construct app/o1-handmade) already exists and is not managed by this app (no label ${LABEL_PART_OF}=${reconciler.applySetId}): kgitops does not take over objects it did not create`,
      });
      expect(r.errors[0].hint).toContain(`kubectl annotate configmap/handmade -n ${ns} ${ANNOTATION_ADOPT}=${reconciler.applySetId}`);
      const after = (await c.get(cm(ns, 'handmade')))!;
      expect(after.metadata.resourceVersion).toBe(before.metadata.resourceVersion);
      expect(after.data).toEqual({ v: 'hand' });
      expect(after.metadata.labels?.[LABEL_PART_OF]).toBeUndefined();
      expect(await c.get(cm(ns, 'settings'))).toBeUndefined();

      // Opted in for another app: still refused.
      const annotate = (value: string) => c.apply({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'handmade', namespace: ns, annotations: { [ANNOTATION_ADOPT]: value } } } as KubeObject, { fieldManager: 'kubectl-annotate' });
      await annotate('applyset-someone-else-v1');
      expect((await reconciler.reconcile()).errors.map((e) => e.rule)).toEqual(['apply/not-owned']);
      // Opted in for this app: adopted, and git's data wins over the hand-made one.
      await annotate(reconciler.applySetId);
      expect(await reconciler.reconcile()).toMatchObject({ result: 'Succeeded' });
      const adopted = (await c.get(cm(ns, 'handmade')))!;
      expect(adopted.data).toEqual({ v: 'git' });
      expect(adopted.metadata.labels?.[LABEL_PART_OF]).toBe(reconciler.applySetId);
      expect((await c.get(cm(ns, 'settings')))?.data).toEqual({ v: '1' });
    }, { prefix: 'team-a' }), 120_000);
});

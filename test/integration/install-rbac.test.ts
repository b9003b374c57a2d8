/**
 * `kgitops install` is enough: its manifests apply to the real apiserver, and a controller with
 * exactly their RBAC (a token of its ServiceAccount from the TokenRequest API, in a kubeconfig
 * the way a pod is configured: server, CA, token) reconciles two tenants' Apps and prunes one
 * when it is deleted. A permission missing from the ClusterRole fails this test: the controller
 * logs the 403 and the App never becomes Ready.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { afterAll, describe, expect, it } from 'vitest';
import { KubeCluster } from '../../engine/cluster/kube.js';
import type { KubeObject } from '../../engine/cluster/types.js';
import { realClock } from '../../engine/clock.js';
import { APP_API_VERSION, APP_KIND, type AppObject } from '../../engine/controller/app-resource.js';
import { Controller } from '../../engine/controller/controller.js';
import { CONTROLLER_NAME, CONTROLLER_RULES, installObjects } from '../../engine/install/manifests.js';
import { createLogger } from '../../engine/log.js';
import { clusterAuth } from '../../engine/ui/auth.js';
import { createNamespace, deleteNamespace, kubeConfig, kubeconfigPath, waitFor } from '../cluster/harness.js';
import { git, initRepo } from '../fixtures/git.js';

const MAIN = `import { readFileSync } from 'node:fs';
import { ApiObject, Chart } from 'cdk8s';
import { App } from 'kruise-gitops';
const spec = JSON.parse(readFileSync(new URL('./objects.json', import.meta.url), 'utf8'));
const app = new App();
const chart = new Chart(app, 'app', { namespace: spec.namespace });
spec.objects.forEach((o: any, i: number) => new ApiObject(chart, \`o\${i}\`, o));
app.synth();
`;

const admin = KubeCluster.load({ kubeconfig: kubeconfigPath() });
const dirs: string[] = [];
const namespaces: string[] = [];
afterAll(async () => {
  for (const ns of namespaces) {
    await admin.apply({ apiVersion: APP_API_VERSION, kind: APP_KIND, metadata: { name: 'app', namespace: ns, finalizers: [] } } as unknown as KubeObject, { fieldManager: 'kgitops-finalizer' }).catch(() => {});
    await deleteNamespace(ns);
  }
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('kgitops install', () => {
  it('the ClusterRole holds no wildcard and nothing of a tenant\'s', () => {
    const { objects, diagnostics } = installObjects({ image: 'registry.example.com/kgitops:0.1.0' });
    expect(diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    expect(objects.map((o) => o.manifest.kind)).toEqual(['CustomResourceDefinition', 'Namespace', 'ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding', 'Deployment', 'Service']);
    const text = JSON.stringify(CONTROLLER_RULES);
    expect(text).not.toContain('*');
    expect(text).not.toMatch(/secrets|configmaps|"create","delete"|escalate|bind/);
    // Secrets only in its own namespace: the fleets' cluster Secrets.
    const role = objects.find((o) => o.manifest.kind === 'Role')!.manifest;
    expect(role.metadata.namespace).toBe('kgitops-system');
    expect(role.rules).toEqual([{ apiGroups: [''], resources: ['secrets'], verbs: ['get', 'list'] }]);
  });

  it('applies, and a controller with exactly its RBAC syncs two tenants and prunes a deleted App', async () => {
    const { objects } = installObjects({ image: 'registry.example.com/kgitops:0.1.0' });
    for (const o of objects) await admin.apply(o.manifest as KubeObject, { fieldManager: 'kgitops-install' });
    await waitFor(async () => admin.resource(APP_API_VERSION, APP_KIND).then(() => true, () => { admin.invalidateDiscovery(); return false; }), { message: 'the App CRD' });

    // The controller's token, as a pod would get it (TokenRequest), in an in-cluster-style kubeconfig.
    const kc = kubeConfig();
    const core = kc.makeApiClient(k8s.CoreV1Api);
    const token = (await core.createNamespacedServiceAccountToken({ name: CONTROLLER_NAME, namespace: 'kgitops-system', body: { spec: { audiences: [], expirationSeconds: 3600 } } })).status?.token;
    expect(token).toBeTruthy();
    const cluster = kc.getCurrentCluster()!;
    const dir = mkdtempSync(join(tmpdir(), 'kgitops-install-'));
    dirs.push(dir);
    const controllerKubeconfig = join(dir, 'kubeconfig');
    writeFileSync(controllerKubeconfig, JSON.stringify({
      apiVersion: 'v1', kind: 'Config', 'current-context': 'in-cluster',
      clusters: [{ name: 'in-cluster', cluster: { server: cluster.server, ...(cluster.caData ? { 'certificate-authority-data': cluster.caData } : { 'certificate-authority': cluster.caFile }) } }],
      users: [{ name: 'kgitops-controller', user: { token } }],
      contexts: [{ name: 'in-cluster', context: { cluster: 'in-cluster', user: 'kgitops-controller' } }],
    }), { mode: 0o600 });
    const asController = KubeCluster.load({ kubeconfig: controllerKubeconfig, component: 'kgitops-controller' });
    expect((await asController.whoAmI()).username).toBe(`system:serviceaccount:kgitops-system:${CONTROLLER_NAME}`);

    const repo = mkdtempSync(join(tmpdir(), 'kgitops-install-repo-'));
    dirs.push(repo);
    initRepo(repo);
    for (let i = 0; i < 2; i++) {
      const ns = await createNamespace(`installed${i}`);
      namespaces.push(ns);
      await admin.apply({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'deployer', namespace: ns } }, { fieldManager: 'test' });
      await admin.apply({
        apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'deployer', namespace: ns },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'admin' }, subjects: [{ kind: 'ServiceAccount', name: 'deployer', namespace: ns }],
      }, { fieldManager: 'test' });
      const d = join(repo, ns);
      mkdirSync(d, { recursive: true });
      writeFileSync(join(d, 'cdk8s.yaml'), 'app: npx tsx main.ts\n');
      writeFileSync(join(d, 'main.ts'), MAIN);
      writeFileSync(join(d, 'objects.json'), JSON.stringify({ namespace: ns, objects: [{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'settings' }, data: { ns } }] }));
    }
    git(repo, 'add', '-A');
    git(repo, 'commit', '-q', '-m', 'two tenants');
    const head = git(repo, 'rev-parse', 'HEAD');
    for (const ns of namespaces) {
      await admin.apply({ apiVersion: APP_API_VERSION, kind: APP_KIND, metadata: { name: 'app', namespace: ns }, spec: { source: { repo, path: ns, interval: '1h' }, serviceAccountName: 'deployer' } } as unknown as KubeObject, { fieldManager: 'test' });
    }
    const problems: string[] = [];
    const log = createLogger({ level: 'silent' });
    const controller = new Controller({
      cluster: asController, clock: realClock, log, cacheDir: join(dir, 'cache'), allowLocalRepos: true,
      sandbox: { unsafe: false, limits: {} }, concurrency: 2, onReconciled: (key, r) => {
        // Its own tenants' only: other files' Apps on the shared apiserver (their repos gone) fail too.
        if (r.result === 'Failed' && namespaces.includes(key.split('/')[0]!)) problems.push(`${key}: ${r.message}`);
      },
    });
    const running = controller.run();
    try {
      for (const ns of namespaces) {
        await waitFor(async () => {
          const a = (await admin.get({ apiVersion: APP_API_VERSION, kind: APP_KIND, namespace: ns, name: 'app' })) as unknown as AppObject;
          return a?.status?.appliedCommit === head && a.status.conditions?.find((c) => c.type === 'Ready')?.status === 'True' ? a : undefined;
        }, { timeoutMs: 90_000, message: `App ${ns}/app Ready with only the install RBAC (failures: ${problems.join('; ')})` });
        expect((await admin.get({ apiVersion: 'v1', kind: 'ConfigMap', namespace: ns, name: 'settings' }))?.data).toEqual({ ns });
      }
      // The controller's own identity writes Events on the Apps.
      const events = await admin.list('v1', 'Event', { namespace: namespaces[0] });
      expect(events.items.some((e) => e.involvedObject?.kind === 'App' && e.reason === 'Applied')).toBe(true);
      // Deleting an App prunes its objects, with the finalizer removed by the controller.
      await admin.delete({ apiVersion: APP_API_VERSION, kind: APP_KIND, namespace: namespaces[0]!, name: 'app' });
      await waitFor(async () => ((await admin.get({ apiVersion: APP_API_VERSION, kind: APP_KIND, namespace: namespaces[0]!, name: 'app' })) ? undefined : true), { timeoutMs: 60_000, message: 'the deleted App to go' });
      expect(await admin.get({ apiVersion: 'v1', kind: 'ConfigMap', namespace: namespaces[0]!, name: 'settings' })).toBeUndefined();
      expect(problems).toEqual([]);

      // The dashboard checks a person's token with the controller's own credentials: a
      // TokenReview says who it is, a SubjectAccessReview what they may do (engine/ui/auth.ts).
      const auth = clusterAuth(asController);
      const tenantToken = (await core.createNamespacedServiceAccountToken({ name: 'deployer', namespace: namespaces[1]!, body: { spec: { audiences: [], expirationSeconds: 600 } } })).status!.token!;
      const who = await auth.authenticate(tenantToken);
      expect(who?.username).toBe(`system:serviceaccount:${namespaces[1]}:deployer`);
      expect(await auth.authenticate('not-a-token')).toBeUndefined();
      // (A built-in kind: this apiserver serves no Kruise CRDs, and the admin role covers only what it aggregates.)
      const patch = (namespace: string) => auth.authorize(who!, { verb: 'patch', group: '', resource: 'configmaps', namespace, name: 'settings' });
      expect((await patch(namespaces[1]!)).allowed).toBe(true); // admin of its own namespace
      expect((await patch('kgitops-system')).allowed).toBe(false);
    } finally {
      await controller.stop();
      await running.catch(() => {});
    }
  }, 180_000);
});

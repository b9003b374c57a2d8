/**
 * `kgitops controller` on the real apiserver with RBAC on: three tenants' Apps in three
 * namespaces from one monorepo, each acting as its own ServiceAccount (bound to `admin` in its
 * namespace only). What each App may do is what RBAC lets its ServiceAccount do; the state
 * lives in the App's status; deleting an App prunes its objects; suspend stops it.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { tmpdir } from 'node:os';
import { Writable } from 'node:stream';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeCluster } from '../../engine/cluster/kube.js';
import type { KubeObject } from '../../engine/cluster/types.js';
import { realClock } from '../../engine/clock.js';
import { APP_API_VERSION, APP_KIND, type AppObject, appApplySetId, appCrd } from '../../engine/controller/app-resource.js';
import { Controller } from '../../engine/controller/controller.js';
import { createLogger } from '../../engine/log.js';
import type { ReconcileResult } from '../../engine/reconciler.js';
import { createNamespace, deleteNamespace, kubeconfigPath, waitFor } from '../cluster/harness.js';
import { git, initRepo } from '../fixtures/git.js';

const MAIN = `import { readFileSync } from 'node:fs';
import { ApiObject, Chart } from 'cdk8s';
import { App } from 'kruise-gitops';

const spec = JSON.parse(readFileSync(new URL('./objects.json', import.meta.url), 'utf8'));
const app = new App();
const chart = new Chart(app, 'app', { namespace: spec.namespace });
spec.objects.forEach((o: any, i: number) => new ApiObject(chart, \`o\${i}-\${o.metadata.name}\`, o));
app.synth();
`;

const cm = (name: string, data: Record<string, string>, namespace?: string) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, ...(namespace ? { namespace } : {}) }, data });

/** A monorepo with one app directory per tenant (apps/<tenant>), each rendering its objects.json. */
class MonoRepo {
  readonly dir = mkdtempSync(join(tmpdir(), 'kgitops-monorepo-'));
  constructor() {
    initRepo(this.dir);
  }
  write(app: string, spec: unknown, main = MAIN): void {
    const d = join(this.dir, 'apps', app);
    mkdirSync(d, { recursive: true });
    writeFileSync(join(d, 'cdk8s.yaml'), 'app: npx tsx main.ts\n');
    writeFileSync(join(d, 'main.ts'), main);
    writeFileSync(join(d, 'objects.json'), JSON.stringify(spec, null, 2));
  }
  commit(message: string): string {
    git(this.dir, 'add', '-A');
    git(this.dir, 'commit', '-q', '-m', message);
    return git(this.dir, 'rev-parse', 'HEAD');
  }
}

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const admin = KubeCluster.load({ kubeconfig: kubeconfigPath() });
const CACHE = mkdtempSync(join(tmpdir(), 'kgitops-controller-cache-'));
const tenants: string[] = [];
const repo = new MonoRepo();
const results: { key: string; r: ReconcileResult }[] = [];
/** Which App synthesized which commit (the reconciler logs `synthesizing` with the App and commit). */
const synthesized: { app: string; commit: string }[] = [];
/** Everything the controller logged (secrets must never be in it). */
let logged = '';
const logStream = new Writable({
  write(chunk, _enc, done) {
    logged += String(chunk);
    for (const line of String(chunk).split('\n')) {
      if (!line.includes('"synthesizing"')) continue;
      const j = JSON.parse(line) as { app?: string; commit?: string };
      synthesized.push({ app: j.app ?? '?', commit: j.commit ?? '?' });
    }
    done();
  },
});
let controller: Controller;
let running: Promise<void>;

const appKeyOf = (ns: string) => ({ apiVersion: APP_API_VERSION, kind: APP_KIND, namespace: ns, name: 'shop' });
const getApp = async (ns: string) => (await admin.get(appKeyOf(ns))) as unknown as AppObject | undefined;
const condition = (app: AppObject | undefined, type: string) => app?.status?.conditions?.find((c) => c.type === type);

async function declareApp(ns: string, spec: Record<string, unknown> = {}): Promise<void> {
  await admin.apply({
    apiVersion: APP_API_VERSION, kind: APP_KIND, metadata: { name: 'shop', namespace: ns },
    spec: { source: { repo: repo.dir, path: `apps/${ns}`, interval: '1h' }, serviceAccountName: 'deployer', ...spec },
  } as KubeObject, { fieldManager: 'test' });
}

/** One more tenant: a namespace with ServiceAccount `deployer` bound to `admin` there, and to `extra` ClusterRoles. */
async function addTenant(prefix: string, extra: string[] = []): Promise<string> {
  const ns = await createNamespace(prefix);
  tenants.push(ns);
  await admin.apply({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'deployer', namespace: ns } }, { fieldManager: 'test' });
  for (const role of ['admin', ...extra]) {
    await admin.apply({
      apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: `deployer-${role}`, namespace: ns },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role },
      subjects: [{ kind: 'ServiceAccount', name: 'deployer', namespace: ns }],
    }, { fieldManager: 'test' });
  }
  return ns;
}

const RELEASE_MAIN = `import { readFileSync } from 'node:fs';
import { Chart } from 'cdk8s';
import { App, CloneSet, Gate, Release, Step } from 'kruise-gitops';
const p = JSON.parse(readFileSync(new URL('./objects.json', import.meta.url), 'utf8'));
const app = new App();
const chart = new Chart(app, 'app', { namespace: p.namespace });
new CloneSet(chart, 'web', {
  metadata: { name: 'web' }, replicas: 4,
  release: Release.steps(Step.to('25%').gate(Gate.approval()), Step.to('100%').gate(Gate.approval())),
  containers: [{ name: 'main', image: p.image }],
});
app.synth();
`;

function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [join(ROOT, 'bin/kgitops.mjs'), ...args], { cwd: ROOT }, (e, out, err) => resolve({ code: e ? Number((e as { code?: number }).code ?? 1) : 0, out, err }));
  });
}

async function waitApplied(ns: string, sha: string, timeoutMs = 90_000): Promise<AppObject> {
  let last: AppObject | undefined;
  try {
    return await waitFor(async () => {
      const app = last = await getApp(ns);
      return app?.status?.appliedCommit === sha && condition(app, 'Ready')?.status === 'True' ? app : undefined;
    }, { timeoutMs, message: `App ${ns}/shop to apply ${sha.slice(0, 12)}` });
  } catch (e) {
    const mine = results.filter((x) => x.key === `${ns}/shop`).map((x) => `${x.r.result}: ${x.r.message}`);
    throw new Error(`${(e as Error).message}; the App says ${JSON.stringify(last?.status?.message)}; its reconciles: ${mine.join(' | ')}`);
  }
}

beforeAll(async () => {
  await admin.apply(appCrd() as KubeObject, { fieldManager: 'test' });
  await waitFor(async () => admin.resource(APP_API_VERSION, APP_KIND).then(() => true, () => { admin.invalidateDiscovery(); return false; }), { message: 'the App CRD to be served' });
  for (let i = 0; i < 3; i++) {
    const ns = await createNamespace(`tenant${i}`);
    tenants.push(ns);
    await admin.apply({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'deployer', namespace: ns } }, { fieldManager: 'test' });
    await admin.apply({
      apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'deployer-admin', namespace: ns },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'admin' },
      subjects: [{ kind: 'ServiceAccount', name: 'deployer', namespace: ns }],
    }, { fieldManager: 'test' });
    repo.write(ns, { namespace: ns, objects: [cm('settings', { tenant: ns, v: '1' })] });
  }
  repo.commit('three tenants');
  controller = new Controller({
    cluster: admin, clock: realClock, log: createLogger({ level: 'info', format: 'json', stream: logStream }), cacheDir: CACHE, allowLocalRepos: true,
    sandbox: { unsafe: false, limits: {} }, concurrency: 2, backoff: { baseMs: 500, maxMs: 4_000 },
    onReconciled: (key, r) => results.push({ key, r }),
  });
  running = controller.run();
  for (const ns of tenants) await declareApp(ns);
}, 120_000);

afterAll(async () => {
  await controller?.stop();
  await running?.catch(() => {});
  for (const ns of tenants) {
    // The finalizer would wait for a controller that is gone.
    await admin.apply({ ...appKeyOf(ns), metadata: { name: 'shop', namespace: ns, finalizers: [] } } as unknown as KubeObject, { fieldManager: 'kgitops-finalizer' }).catch(() => {});
    await deleteNamespace(ns);
  }
  rmSync(CACHE, { recursive: true, force: true });
  rmSync(repo.dir, { recursive: true, force: true });
});

describe('kgitops controller on a real apiserver with RBAC', () => {
  it('reconciles three tenants\' Apps of one monorepo, each as its ServiceAccount, with its state in the App\'s status', async () => {
    const head = git(repo.dir, 'rev-parse', 'HEAD');
    for (const ns of tenants) {
      const app = await waitApplied(ns, head);
      expect(app.status).toMatchObject({ sync: 'Synced', serviceAccount: `ServiceAccount ${ns}/deployer`, commit: head.slice(0, 12), inventory: { size: 1 } });
      expect(app.metadata.finalizers).toContain('kgitops.io/prune');
      const settings = await admin.get({ apiVersion: 'v1', kind: 'ConfigMap', namespace: ns, name: 'settings' });
      expect(settings?.data).toEqual({ tenant: ns, v: '1' });
      expect(settings?.metadata.labels?.['applyset.kubernetes.io/part-of']).toBe(appApplySetId(ns, 'shop'));
      // The tenant's identity wrote it, not the controller's.
      expect(settings?.metadata.managedFields?.map((f) => f.manager)).toContain('kgitops');
      // No state ConfigMap: the App's status is the state.
      expect(await admin.get({ apiVersion: 'v1', kind: 'ConfigMap', namespace: ns, name: 'kgitops-shop' })).toBeUndefined();
    }
  }, 180_000);

  it('in steady state an App writes nothing: reconciles of the commit it runs leave its status and its Events as they were', async () => {
    const ns = tenants[0]!;
    const key = `${ns}/shop`;
    await waitApplied(ns, git(repo.dir, 'rev-parse', 'HEAD'));
    const reconcile = async () => {
      const n = results.length;
      controller.trigger(key);
      await waitFor(async () => results.slice(n).some((x) => x.key === key) || undefined, { timeoutMs: 30_000, message: `a reconcile of ${key}` });
    };
    await reconcile();
    const before = (await getApp(ns))!.metadata.resourceVersion;
    const events = (await admin.list('v1', 'Event', { namespace: ns })).items.length;
    await reconcile();
    await reconcile();
    expect(results.filter((x) => x.key === key).at(-1)!.r.result).toBe('NoChange');
    expect((await getApp(ns))!.metadata.resourceVersion).toBe(before);
    expect((await admin.list('v1', 'Event', { namespace: ns })).items.length).toBe(events);
  }, 120_000);

  it('a push touching one App\'s path is fetched once, puts that App first and re-renders only it; the others move to the commit as they are', async () => {
    const [t1, t2, t3] = tenants as [string, string, string];
    repo.write(t2, { namespace: t2, objects: [cm('settings', { tenant: t2, v: '2' })] });
    const sha = repo.commit('tenant 2 only');
    const fetchesBefore = controller.fetches;
    const synthBefore = synthesized.length;
    // The App the push touched comes first; the others follow (to record the commit, without a synth).
    const before = await Promise.all([t1, t3].map(getApp));
    // Each App's status says what its render read outside its path, at which commit (a replica
    // that does not hold it judges a push by this).
    for (const app of before) expect(app?.status?.dependencies?.commit).toBe(app?.status?.appliedCommit);
    expect(await controller.onPush({ provider: 'generic', ref: 'refs/heads/main', sha, repository: repo.dir })).toEqual([t2, ...[t1, t3].sort()].map((t) => `${t}/shop`));
    await waitApplied(t2, sha);
    // The others record the commit a few seconds after the App it changed, not before it.
    for (const ns of [t1, t3]) expect((await getApp(ns))?.status?.appliedCommit).not.toBe(sha);
    for (const ns of tenants) await waitApplied(ns, sha);
    expect((await admin.get({ apiVersion: 'v1', kind: 'ConfigMap', namespace: t2, name: 'settings' }))?.data?.v).toBe('2');
    const now = synthesized.slice(synthBefore).filter((x) => x.commit === sha.slice(0, 12)).map((x) => x.app);
    expect(now).toEqual([`${t2}/shop`]);
    expect(controller.fetches - fetchesBefore).toBe(1);
  }, 120_000);

  it('fails a commit whose objects the tenant may not create, naming object, verb and ServiceAccount, and applies none of it', async () => {
    const [, , t3] = tenants as [string, string, string];
    repo.write(t3, {
      namespace: t3,
      objects: [
        cm('settings', { tenant: t3, v: '2' }),
        { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: `${t3}-takeover` }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' }, subjects: [{ kind: 'ServiceAccount', name: 'deployer', namespace: t3 }] },
        cm(`${t3}-planted`, { x: '1' }, 'kube-system'),
      ],
    });
    const bad = repo.commit('tenant 3 reaches out');
    controller.trigger(`${t3}/shop`);
    const app = await waitFor(async () => {
      const a = await getApp(t3);
      return a?.status?.attemptedCommit === bad && a.status.sync === 'Failed' ? a : undefined;
    }, { timeoutMs: 90_000, message: 'tenant 3\'s commit to fail' });
    const text = JSON.stringify(app.status?.lastReconcile?.errors ?? []);
    expect(text).toContain(`system:serviceaccount:${t3}:deployer`);
    expect(text).toMatch(/clusterrolebindings/);
    expect(condition(app, 'Ready')).toMatchObject({ status: 'False' });
    expect((await admin.get({ apiVersion: 'v1', kind: 'ConfigMap', namespace: t3, name: 'settings' }))?.data?.v).toBe('1');
    expect(await admin.get({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', name: `${t3}-takeover` })).toBeUndefined();
    expect(await admin.get({ apiVersion: 'v1', kind: 'ConfigMap', namespace: 'kube-system', name: `${t3}-planted` })).toBeUndefined();
  }, 120_000);

  it('suspend stops reconciles and says so; resuming applies what was pushed meanwhile', async () => {
    const [, t2] = tenants as [string, string];
    await declareApp(t2, { suspend: true });
    await waitFor(async () => ((await getApp(t2))?.status?.sync === 'Suspended' ? true : undefined), { message: 'App to say Suspended' });
    repo.write(t2, { namespace: t2, objects: [cm('settings', { tenant: t2, v: '3' })] });
    const sha = repo.commit('tenant 2 v3');
    controller.trigger(`${t2}/shop`);
    await new Promise((r) => setTimeout(r, 3_000));
    expect((await admin.get({ apiVersion: 'v1', kind: 'ConfigMap', namespace: t2, name: 'settings' }))?.data?.v).toBe('2');
    await declareApp(t2, { suspend: false });
    await waitApplied(t2, sha);
    expect((await admin.get({ apiVersion: 'v1', kind: 'ConfigMap', namespace: t2, name: 'settings' }))?.data?.v).toBe('3');
  }, 120_000);

  it('a slow App holds one worker: another App\'s commit applies meanwhile; results are Events on the App', async () => {
    const [t1, t2] = tenants as [string, string];
    repo.write(t1, { namespace: t1, objects: [cm('settings', { tenant: t1, v: 'slow' })] }, MAIN.replace('app.synth();', 'Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 25_000);\napp.synth();'));
    const slow = repo.commit('tenant 1 is slow');
    controller.trigger(`${t1}/shop`);
    await new Promise((r) => setTimeout(r, 1_000));
    repo.write(t2, { namespace: t2, objects: [cm('settings', { tenant: t2, v: '4' })] });
    const quick = repo.commit('tenant 2 v4');
    const started = Date.now();
    void controller.onPush({ provider: 'generic', ref: 'refs/heads/main', sha: quick, repository: repo.dir });
    await waitApplied(t2, quick, 60_000);
    const tookMs = Date.now() - started;
    // The slow synth takes 25 s; tenant 2 did not wait for it.
    expect((await getApp(t1))?.status?.appliedCommit).not.toBe(quick);
    expect(tookMs).toBeLessThan(20_000);
    await waitApplied(t1, git(repo.dir, 'rev-parse', 'HEAD'), 90_000);
    expect(slow).toBeTruthy();
    const events = await admin.list('v1', 'Event', { namespace: t2 });
    const reasons = events.items.filter((e) => e.involvedObject?.kind === 'App').map((e) => e.reason);
    expect(reasons).toContain('Applied');
    expect(reasons).toContain('Suspended');
  }, 180_000);

  it('deleting an App prunes its objects, then the App goes', async () => {
    const [t1] = tenants as [string];
    expect(await admin.get({ apiVersion: 'v1', kind: 'ConfigMap', namespace: t1, name: 'settings' })).toBeDefined();
    await admin.delete(appKeyOf(t1));
    await waitFor(async () => ((await getApp(t1)) === undefined ? true : undefined), { timeoutMs: 60_000, message: 'the App to be gone' });
    expect(await admin.get({ apiVersion: 'v1', kind: 'ConfigMap', namespace: t1, name: 'settings' })).toBeUndefined();
  }, 90_000);

  it('prune.enabled false: deleting the App orphans its objects; an App of the same name takes them back', async () => {
    const ns = await addTenant('orphan');
    repo.write(ns, { namespace: ns, objects: [cm('settings', { tenant: ns, v: '1' })] });
    const sha = repo.commit('orphaning tenant');
    await declareApp(ns, { prune: { enabled: false } });
    await waitApplied(ns, sha);
    await admin.delete(appKeyOf(ns));
    await waitFor(async () => ((await getApp(ns)) === undefined ? true : undefined), { timeoutMs: 60_000, message: 'the App to be gone' });
    const kept = await admin.get({ apiVersion: 'v1', kind: 'ConfigMap', namespace: ns, name: 'settings' });
    expect(kept?.data).toEqual({ tenant: ns, v: '1' });
    await declareApp(ns);
    const back = await waitApplied(ns, sha);
    expect(back.status?.inventory?.size).toBe(1);
    expect((await admin.get({ apiVersion: 'v1', kind: 'ConfigMap', namespace: ns, name: 'settings' }))?.metadata.uid).toBe(kept?.metadata.uid);
  }, 120_000);

  it('spec.source.secretRef: read as the tenant from its namespace; a missing Secret stalls the App naming it; the token is never logged', async () => {
    const ns = await addTenant('creds');
    repo.write(ns, { namespace: ns, objects: [cm('settings', { tenant: ns })] });
    const sha = repo.commit('tenant with credentials');
    await declareApp(ns, { source: { repo: repo.dir, path: `apps/${ns}`, interval: '1h', secretRef: { name: 'git-token' } } });
    const stalled = await waitFor(async () => {
      const a = await getApp(ns);
      return condition(a, 'Stalled')?.status === 'True' ? a : undefined;
    }, { timeoutMs: 60_000, message: 'the App to stall on its missing Secret' });
    expect(condition(stalled, 'Ready')?.message).toContain(`Secret ${ns}/git-token (spec.source.secretRef) does not exist`);
    const token = `ghp_${'s3cr3t'.repeat(6)}`;
    await admin.apply({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'git-token', namespace: ns }, stringData: { token } } as KubeObject, { fieldManager: 'test' });
    controller.trigger(`${ns}/shop`);
    await waitApplied(ns, sha);
    expect(logged).not.toContain(token);
    expect(JSON.stringify(await getApp(ns))).not.toContain(token);
  }, 120_000);

  it('a release in progress is in the App\'s status (id, step, what it waits on), and kgitops approve|pause <namespace>/<app>/<workload> reaches it', async () => {
    await admin.apply({
      apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'kgitops-test-kruise' },
      rules: [{ apiGroups: ['apps.kruise.io'], resources: ['*'], verbs: ['*'] }],
    }, { fieldManager: 'test' });
    const ns = await addTenant('release', ['kgitops-test-kruise']);
    repo.write(ns, { namespace: ns, image: 'registry.example.com/web:1' }, RELEASE_MAIN);
    const first = repo.commit('release tenant v1');
    await declareApp(ns);
    await waitFor(async () => ((await getApp(ns))?.status?.appliedCommit === first ? true : undefined), { timeoutMs: 90_000, message: 'v1 applied' });
    repo.write(ns, { namespace: ns, image: 'registry.example.com/web:2' }, RELEASE_MAIN);
    const second = repo.commit('release tenant v2');
    void controller.onPush({ provider: 'generic', ref: 'refs/heads/main', sha: second, repository: repo.dir });
    const releasesOf = async () => (await getApp(ns))?.status?.releases ?? [];
    const [r] = await waitFor(async () => { const l = await releasesOf(); return l[0]?.phase === 'Progressing' ? l : undefined; }, { timeoutMs: 90_000, message: 'the release in the App status' });
    expect(r).toMatchObject({ workload: `CloneSet ${ns}/web`, step: 1, steps: 2, phase: 'Progressing' });
    expect(r!.id).toMatch(new RegExp(`^${ns}/web@[0-9a-f]{10}$`));
    expect(r!.waitingOn).toMatch(/approv/i);

    const common = ['--kubeconfig', kubeconfigPath()];
    const approved = await cli(['approve', `${ns}/shop/web`, ...common]);
    expect(approved.err).toBe('');
    expect(approved.code).toBe(0);
    expect(approved.out).toContain(`approved step 1 of release ${r!.id}`);
    await waitFor(async () => ((await releasesOf())[0]?.step === 2 ? true : undefined), { timeoutMs: 30_000, message: 'step 2 in the App status' });
    expect((await cli(['pause', `${ns}/shop/web`, ...common])).code).toBe(0);
    await waitFor(async () => ((await releasesOf())[0]?.phase === 'Paused' ? true : undefined), { timeoutMs: 30_000, message: 'Paused in the App status' });
    // An address without the namespace names what it looked for.
    const wrong = await cli(['pause', 'nosuchapp/web', '-n', ns, ...common]);
    expect(wrong.code).toBe(1);
    expect(wrong.err).toContain(`no App ${ns}/nosuchapp`);
  }, 180_000);
});

/**
 * The reconciler on the simulated cluster: quick, deterministic checks of the error paths
 * (the same paths run against the real apiserver in test/integration/sync.test.ts), with
 * faults injected where a real apiserver cannot be made to fail on demand.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { gitSource } from '../../../engine/cli/sync.js';
import { ConflictError, ForbiddenError, TransientError } from '../../../engine/cluster/errors.js';
import { SimCluster } from '../../../engine/cluster/sim/index.js';
import { realClock } from '../../../engine/clock.js';
import { loadConfig } from '../../../engine/config.js';
import { createLogger } from '../../../engine/log.js';
import { Reconciler } from '../../../engine/reconciler.js';
import { configMap, GitApp } from '../../fixtures/git-app.js';

const CACHE = mkdtempSync(join(tmpdir(), 'kgitops-sim-cache-'));
const repos: GitApp[] = [];
const sims: SimCluster[] = [];
const reconcilers: Reconciler[] = [];
afterAll(() => {
  for (const r of repos) r.remove();
  for (const s of sims) s.stop();
  for (const r of reconcilers) r.close();
  rmSync(CACHE, { recursive: true, force: true });
});

function setup(o: { main?: string; typecheck?: boolean } = {}) {
  const repo = new GitApp(o.main);
  repos.push(repo);
  const sim = new SimCluster({ clock: realClock, namespaces: ['default', 'shop'] });
  sims.push(sim);
  const config = loadConfig({ repo: repo.dir, app: 'shop', namespace: 'shop', cacheDir: CACHE, ...(o.typecheck === false ? { typecheck: false } : {}) });
  const reconciler = new Reconciler(config, sim, gitSource(config), realClock, createLogger({ level: 'silent' }));
  reconcilers.push(reconciler);
  return { repo, sim, reconciler };
}

const req = { verb: 'patch', resource: 'configmaps', namespace: 'shop', name: 'a' };

describe('reconciler on the simulated cluster', () => {
  it('reports a missing permission with the verb and resource, and applies once it is granted', async () => {
    const { repo, sim, reconciler } = setup();
    repo.commit({ namespace: 'shop', objects: [configMap('a', { v: '1' })] });
    const fault = sim.failNext({ verb: 'apply', kind: 'ConfigMap', name: 'a', error: new ForbiddenError(req, 'User "kgitops" cannot patch resource "configmaps" in the namespace "shop"'), times: Infinity });
    const r = await reconciler.reconcile();
    expect(r.result).toBe('Failed');
    expect(r.errors[0].message).toMatch(/^missing permission: patch configmaps a in namespace shop is forbidden \(403\)/);
    expect(r.errors[0].hint).toContain('grant the verb "patch" on configmaps');
    fault.cancel();
    expect((await reconciler.reconcile()).result).toBe('Succeeded');
  });

  it('fails a reconcile on a 429 that outlasts the client\'s retries, keeps the cluster as it was, and applies on the next one', async () => {
    // (KubeCluster retries 429/5xx itself: see test/integration/kube-cluster.test.ts.)
    const { repo, sim, reconciler } = setup();
    repo.commit({ namespace: 'shop', objects: [configMap('a', { v: '1' })] });
    sim.failNext({ verb: 'apply', kind: 'ConfigMap', name: 'a', error: new TransientError(req, 429, 'too many requests', 10) });
    const first = await reconciler.reconcile();
    expect(first.result).toBe('Failed');
    expect(first.errors[0].message).toBe('HTTP 429 for patch configmaps a in namespace shop: too many requests');
    expect(await sim.get({ apiVersion: 'v1', kind: 'ConfigMap', namespace: 'shop', name: 'a' })).toBeUndefined();
    expect((await reconciler.reconcile()).result).toBe('Succeeded');
  });

  it('reports, and does not crash on, a parent ConfigMap it may not write', async () => {
    const { repo, sim, reconciler } = setup();
    repo.commit({ namespace: 'shop', objects: [configMap('a', { v: '1' })] });
    sim.failNext({ verb: 'apply', kind: 'ConfigMap', name: 'kgitops-shop', error: new ForbiddenError({ ...req, name: 'kgitops-shop' }, 'no'), times: Infinity });
    const r = await reconciler.reconcile();
    expect(r).toMatchObject({ result: 'Failed' });
    expect(r.errors[0].rule).toBe('state/write');
    expect(await sim.get({ apiVersion: 'v1', kind: 'ConfigMap', namespace: 'shop', name: 'a' })).toBeUndefined();
  });

  it('names the other field manager on a conflict it must not force', async () => {
    const { repo, sim, reconciler } = setup();
    repo.commit({ namespace: 'shop', objects: [configMap('a', { v: '1' })] });
    sim.failNext({ verb: 'apply', kind: 'ConfigMap', name: 'a', error: new ConflictError(req, [{ field: '.data.v', manager: 'argocd-controller' }], 'conflict') });
    const r = await reconciler.reconcile();
    expect(r.errors[0]).toMatchObject({ rule: 'apply/conflict', message: 'apply conflict on patch configmaps a in namespace shop: .data.v is owned by "argocd-controller"' });
  });

  it('corrects a kubectl edit and reports it as drift', async () => {
    const { repo, sim, reconciler } = setup();
    repo.commit({ namespace: 'shop', objects: [configMap('a', { v: '1' })] });
    await reconciler.reconcile();
    const live = (await sim.get({ apiVersion: 'v1', kind: 'ConfigMap', namespace: 'shop', name: 'a' }))!;
    await sim.update({ ...live, data: { v: 'by hand' } }, 'kubectl-edit');
    const r = await reconciler.reconcile();
    expect(r.drift).toEqual([{ id: 'ConfigMap/shop/a', fields: ['.data.v'], managers: ['kubectl-edit'] }]);
    expect((await sim.get({ apiVersion: 'v1', kind: 'ConfigMap', namespace: 'shop', name: 'a' }))!.data).toEqual({ v: '1' });
  });

  it('takes back fields owned by "before-first-apply" (what kruise-manager leaves of a DaemonSet\'s managedFields) without calling it drift', async () => {
    const { repo, sim, reconciler } = setup();
    repo.commit({ namespace: 'shop', objects: [configMap('a', { v: '1' })] });
    await reconciler.reconcile();
    const live = (await sim.get({ apiVersion: 'v1', kind: 'ConfigMap', namespace: 'shop', name: 'a' }))!;
    await sim.update({ ...live, data: { v: '0' } }, 'before-first-apply');
    // Git's change conflicts with the field now owned by "before-first-apply": forced, no drift.
    repo.commit({ namespace: 'shop', objects: [configMap('a', { v: '2' })] });
    const r = await reconciler.reconcile();
    expect({ result: r.result, errors: r.errors, drift: r.drift }).toEqual({ result: 'Succeeded', errors: [], drift: [] });
    expect((await sim.get({ apiVersion: 'v1', kind: 'ConfigMap', namespace: 'shop', name: 'a' }))!.data).toMatchObject({ v: '2' });
  });

  it('says OpenKruise is missing when the cluster does not serve its kinds', async () => {
    const repo = new GitApp();
    repos.push(repo);
    const sim = new SimCluster({ clock: realClock, kruise: false, namespaces: ['default', 'shop'] });
    sims.push(sim);
    const config = loadConfig({ repo: repo.dir, app: 'shop', namespace: 'shop', cacheDir: CACHE });
    const reconciler = new Reconciler(config, sim, gitSource(config), realClock, createLogger({ level: 'silent' }));
    reconcilers.push(reconciler);
    repo.commit({ namespace: 'shop', objects: [configMap('a', { v: '1' })], clonesets: [{ name: 'web', replicas: 1, image: 'x:1' }] });
    const r = await reconciler.reconcile();
    expect(r.result).toBe('Failed');
    expect(r.errors[0].message).toBe('OpenKruise is not installed or too old: apps.kruise.io/v1alpha1 CloneSet is not served');
    expect(await sim.get({ apiVersion: 'v1', kind: 'ConfigMap', namespace: 'shop', name: 'a' })).toBeUndefined();
  });

  it('blocks a commit that breaks a repo policy: nothing changes, the error names the policy, object and path', async () => {
    const { repo, sim, reconciler } = setup();
    const policy = `import { definePolicy } from 'kruise-gitops/policy';
export default definePolicy({
  name: 'no-debug',
  check(o, ctx) {
    if (o.manifest.kind === 'ConfigMap' && o.manifest.data?.debug === 'true') ctx.report('turns debug on in production', { path: 'data.debug', hint: 'remove data.debug' });
  },
});
`;
    repo.commit({ namespace: 'shop', objects: [configMap('a', { v: '1' })] }, 'base', { 'policies/no-debug.ts': policy });
    expect((await reconciler.reconcile()).result).toBe('Succeeded');
    repo.commit({ namespace: 'shop', objects: [configMap('a', { v: '2', debug: 'true' })] }, 'debug on');
    const r = await reconciler.reconcile();
    expect(r.result).toBe('Failed');
    expect(r.errors).toEqual([expect.objectContaining({
      severity: 'error', rule: 'policy/no-debug', message: 'turns debug on in production', path: 'data.debug',
      object: expect.objectContaining({ kind: 'ConfigMap', name: 'a' }),
    })]);
    expect((await sim.get({ apiVersion: 'v1', kind: 'ConfigMap', namespace: 'shop', name: 'a' }))!.data).toEqual({ v: '1' });
    repo.commit({ namespace: 'shop', objects: [configMap('a', { v: '2' })] }, 'debug off');
    expect((await reconciler.reconcile()).result).toBe('Succeeded');
  }, 60_000);

  it('compares an InPlaceOnly workload with the applied commit: an image change applies, an env change is blocked', async () => {
    const { repo, sim, reconciler } = setup();
    const cloneSet = (image: string, env: string) => ({
      apiVersion: 'apps.kruise.io/v1alpha1', kind: 'CloneSet', metadata: { name: 'web' },
      spec: {
        replicas: 2, selector: { matchLabels: { app: 'web' } },
        updateStrategy: { type: 'InPlaceOnly' },
        template: {
          metadata: { labels: { app: 'web' } },
          spec: { containers: [{ name: 'web', image, env: [{ name: 'MODE', value: env }], resources: { requests: { cpu: '100m', memory: '64Mi' }, limits: { memory: '64Mi' } } }] },
        },
      },
    });
    // An empty policy set: the built-in pack as errors.
    repo.commit({ namespace: 'shop', objects: [cloneSet('registry.example.com/web:1.0.0', 'a')] }, 'base', {
      'policies/index.ts': "import { policySet } from 'kruise-gitops/policy';\nexport default policySet({});\n",
    });
    expect((await reconciler.reconcile()).result).toBe('Succeeded');
    repo.commit({ namespace: 'shop', objects: [cloneSet('registry.example.com/web:1.1.0', 'b')] }, 'image and env');
    const blocked = await reconciler.reconcile();
    expect(blocked.result).toBe('Failed');
    expect(blocked.errors.map((e) => `${e.rule} ${e.path}: ${e.message}`)).toEqual([
      'policy/in-place-only-images spec.template.spec.containers[name=web].env[name=MODE].value: uses InPlaceOnly but changes spec.template.spec.containers[name=web].env[name=MODE].value: Kruise can only update container images in place (not init containers), and rejects the update',
    ]);
    const live = (await sim.get({ apiVersion: 'apps.kruise.io/v1alpha1', kind: 'CloneSet', namespace: 'shop', name: 'web' }))!;
    expect(live.spec.template.spec.containers[0].image).toBe('registry.example.com/web:1.0.0');
    repo.commit({ namespace: 'shop', objects: [cloneSet('registry.example.com/web:1.1.0', 'a')] }, 'image only');
    expect((await reconciler.reconcile()).result).toBe('Succeeded');
    const after = (await sim.get({ apiVersion: 'apps.kruise.io/v1alpha1', kind: 'CloneSet', namespace: 'shop', name: 'web' }))!;
    expect(after.spec.template.spec.containers[0].image).toBe('registry.example.com/web:1.1.0');
  }, 60_000);

  it('does not apply a commit with a type error: it names main.ts:line:col, and the fix applies', async () => {
    // The CloneSet's replicas come from objects.json; main.ts is what the commits change.
    const main = (prop: string) => `import { readFileSync } from 'node:fs';
import { Chart } from 'cdk8s';
import { App, CloneSet } from 'kruise-gitops';
const spec = JSON.parse(readFileSync(new URL('./objects.json', import.meta.url), 'utf8'));
const app = new App();
const chart = new Chart(app, 'app', { namespace: spec.namespace });
new CloneSet(chart, 'web', { metadata: { name: 'web' }, ${prop}: spec.replicas, containers: [{ name: 'web', image: 'registry.example.com/web:1.0.0' }] });
app.synth();
`;
    const { repo, sim, reconciler } = setup({ main: main('replicas') });
    const live = () => sim.get({ apiVersion: 'apps.kruise.io/v1alpha1', kind: 'CloneSet', namespace: 'shop', name: 'web' });
    repo.commit({ namespace: 'shop', objects: [], replicas: 2 }, 'two replicas');
    expect((await reconciler.reconcile()).result).toBe('Succeeded');
    expect((await live())!.spec.replicas).toBe(2);

    repo.commit({ namespace: 'shop', objects: [], replicas: 4 }, 'four, misspelt', { 'main.ts': main('replica') });
    const r = await reconciler.reconcile();
    expect(r.result).toBe('Failed');
    expect(r.errors).toEqual([expect.objectContaining({
      severity: 'error', rule: 'synth/type-error',
      message: "Object literal may only specify known properties, but 'replica' does not exist in type 'CloneSetProps'. Did you mean to write 'replicas'? (TS2561)",
      source: expect.stringMatching(new RegExp(`main\\.ts:7:${main('replica').split('\n')[6].indexOf('replica:') + 1}$`)),
    })]);
    expect(r.message).toMatch(/is invalid \(1 error\(s\)\); the cluster keeps commit/);
    expect((await live())!.spec.replicas).toBe(2);

    repo.commit({ namespace: 'shop', objects: [], replicas: 4 }, 'four, spelt right', { 'main.ts': main('replicas') });
    expect((await reconciler.reconcile()).result).toBe('Succeeded');
    expect((await live())!.spec.replicas).toBe(4);
  }, 90_000);

  it('applies a commit with a type error when typecheck is off (typecheck: false in kgitops.yaml, --no-typecheck)', async () => {
    const { repo, sim, reconciler } = setup({
      typecheck: false,
      main: `import { Chart } from 'cdk8s';
import { App, CloneSet } from 'kruise-gitops';
const app = new App();
const chart = new Chart(app, 'app', { namespace: 'shop' });
new CloneSet(chart, 'web', { metadata: { name: 'web' }, replica: 4, containers: [{ name: 'web', image: 'registry.example.com/web:1.0.0' }] });
app.synth();
`,
    });
    repo.commit({ namespace: 'shop', objects: [] });
    expect((await reconciler.reconcile()).result).toBe('Succeeded');
    // The misspelt prop did nothing: the CloneSet has the DSL's default of 1 replica, not 4.
    expect((await sim.get({ apiVersion: 'apps.kruise.io/v1alpha1', kind: 'CloneSet', namespace: 'shop', name: 'web' }))!.spec.replicas).toBe(1);
  }, 60_000);

  it('writes a SidecarSet before the workloads whose pods it injects, and waits until kruise-manager has observed it', async () => {
    const { repo, sim } = setup({
      main: `import { Chart } from 'cdk8s';
import { App, CloneSet, SidecarSet } from 'kruise-gitops';
const app = new App();
const chart = new Chart(app, 'app', { namespace: 'shop' });
// Declared before the SidecarSet: the order comes from the apply stages, not from the code.
new CloneSet(chart, 'web', { metadata: { name: 'web' }, replicas: 2, podMetadata: { labels: { app: 'web', logging: 'on' } }, containers: [{ name: 'web', image: 'registry.example.com/web:1.0.0' }] });
new SidecarSet(chart, 'logging', { metadata: { name: 'logging' }, selector: { matchLabels: { logging: 'on' } }, namespace: 'shop', containers: [{ name: 'shipper', image: 'registry.example.com/shipper:1.0.0' }] });
app.synth();
`,
    });
    repo.commit({});
    // kruise-manager is slow to see the SidecarSet: its first reads come back without a status.
    const order: string[] = [];
    let unobserved = 3;
    const slow = new Proxy(sim, {
      get(target, prop) {
        if (prop === 'get') {
          return async (key: { kind: string }) => {
            const o = await target.get(key as never);
            if (key.kind === 'SidecarSet' && o) {
              if (unobserved-- > 0) { order.push('SidecarSet not observed'); return { ...o, status: undefined }; }
              order.push('SidecarSet observed');
            }
            return o;
          };
        }
        if (prop === 'apply') {
          return async (m: { kind: string }, opts: { dryRun?: boolean }) => {
            if (!opts?.dryRun) order.push(`apply ${m.kind}`);
            return target.apply(m as never, opts as never);
          };
        }
        const v = Reflect.get(target, prop);
        return typeof v === 'function' ? v.bind(target) : v;
      },
    });
    const config = loadConfig({ repo: repo.dir, app: 'shop', namespace: 'shop', cacheDir: CACHE });
    const reconciler = new Reconciler(config, slow, gitSource(config), realClock, createLogger({ level: 'silent' }));
    reconcilers.push(reconciler);
    expect((await reconciler.reconcile()).result).toBe('Succeeded');
    const cloneSetAt = order.indexOf('apply CloneSet');
    expect(order.indexOf('apply SidecarSet')).toBeLessThan(order.indexOf('SidecarSet not observed'));
    expect(order.indexOf('SidecarSet observed')).toBeGreaterThan(order.lastIndexOf('SidecarSet not observed'));
    expect(cloneSetAt).toBeGreaterThan(order.indexOf('SidecarSet observed'));
    expect(sim.pods({ apiVersion: 'apps.kruise.io/v1alpha1', kind: 'CloneSet', namespace: 'shop', name: 'web' }).every((p) => p.spec.containers.some((c: { name: string }) => c.name === 'shipper'))).toBe(true);
  }, 60_000);
});

describe('the applied change (the dashboard\'s "Last applied change")', () => {
  const cloneSet = (image: string) => ({
    apiVersion: 'apps.kruise.io/v1alpha1', kind: 'CloneSet', metadata: { name: 'web' },
    spec: {
      replicas: 2, selector: { matchLabels: { app: 'web' } },
      template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image, resources: { requests: { cpu: '100m', memory: '64Mi' }, limits: { memory: '64Mi' } } }] } },
    },
  });

  it('is the applied commit against the one applied before it, with the image marked; a restarted engine renders the previous commit again to know it', async () => {
    const { repo, sim, reconciler } = setup();
    repo.commit({ namespace: 'shop', objects: [configMap('a', { v: '1' }), cloneSet('registry.example.com/web:1.0.0')] }, 'base');
    const first = await reconciler.reconcile();
    expect(first.result).toBe('Succeeded');
    // The first commit applied: everything is added.
    expect(reconciler.appliedChange()).toMatchObject({ base: { label: 'nothing applied' }, head: { sha: first.commit }, counts: { added: 2, changed: 0, removed: 0 } });
    repo.commit({ namespace: 'shop', objects: [configMap('a', { v: '2' }), cloneSet('registry.example.com/web:1.1.0')] }, 'image and config');
    const second = await reconciler.reconcile();
    expect(second.result).toBe('Succeeded');
    const change = reconciler.appliedChange()!;
    expect(change).toMatchObject({ base: { sha: first.commit }, head: { sha: second.commit }, counts: { added: 0, changed: 2, removed: 0 }, unchanged: 0 });
    const web = change.objects.find((o) => o.object.kind === 'CloneSet')!;
    expect(web.release).toEqual([expect.objectContaining({ aspect: 'image', path: 'spec.template.spec.containers[name=web].image', before: 'registry.example.com/web:1.0.0', after: 'registry.example.com/web:1.1.0' })]);
    expect(change.objects.find((o) => o.object.kind === 'ConfigMap')!.release).toEqual([]);
    // A steady reconcile of the same commit keeps it.
    expect((await reconciler.reconcile()).result).toBe('NoChange');
    expect(reconciler.appliedChange()?.head.sha).toBe(second.commit);

    // Another process (a restart): it applied nothing, so it does not know until asked.
    const config = loadConfig({ repo: repo.dir, app: 'shop', namespace: 'shop', cacheDir: CACHE });
    const restarted = new Reconciler(config, sim, gitSource(config), realClock, createLogger({ level: 'silent' }));
    reconcilers.push(restarted);
    expect((await restarted.reconcile()).result).toBe('NoChange');
    expect(restarted.appliedChange()).toBeUndefined();
    const recalled = await restarted.recallChange(first.commit);
    expect(recalled?.objects.map((o) => ({ ...o, unified: undefined }))).toEqual(change.objects.map((o) => ({ ...o, unified: undefined })));
    expect(restarted.appliedChange()).toBe(recalled);
  }, 90_000);
});

describe('a fleet\'s plan', () => {
  it('is rendered and checked with the rest, and never applied to the cluster', async () => {
    const { repo, sim, reconciler } = setup();
    const plan = { apiVersion: 'kgitops.io/v1alpha1', kind: 'FleetPlan', metadata: { name: 'fleet' }, spec: { version: 1, waves: [{ name: 'wave-1', clusters: { matchLabels: { env: 'staging' } }, gates: [] }] } };
    repo.commit({ namespace: 'shop', objects: [plan, configMap('a', { v: '1' })] }, 'a fleet');
    const r = await reconciler.reconcile();
    expect(r.result).toBe('Succeeded');
    expect(r.changes).toMatchObject({ created: 1 });
    expect(r.objects.map((o) => o.kind)).toEqual(['ConfigMap']);
    expect(await sim.get({ apiVersion: 'v1', kind: 'ConfigMap', namespace: 'shop', name: 'a' })).toBeDefined();
    // A broken plan blocks the commit like any invalid object, with its path.
    repo.commit({ namespace: 'shop', objects: [{ ...plan, spec: { version: 1, waves: [] } }, configMap('a', { v: '2' })] }, 'no waves');
    const blocked = await reconciler.reconcile();
    expect(blocked.result).toBe('Failed');
    expect(blocked.errors.map((e) => `${e.rule} ${e.object?.kind} ${e.path}: ${e.message}`)).toEqual(['fleet/plan FleetPlan spec.waves: a fleet needs at least one wave']);
    expect((await sim.get({ apiVersion: 'v1', kind: 'ConfigMap', namespace: 'shop', name: 'a' }))!.data).toEqual({ v: '1' });
  }, 60_000);
});

/**
 * State that was tampered with, on the real apiserver. A parent ConfigMap whose keys no longer
 * read (invalid JSON, a null inventory, a history of the wrong type) is reported once per
 * problem, rebuilt from the ApplySet labels without pruning in that reconcile, and repaired; a
 * hand repair with kubectl edit leaves no apply conflict behind. A release state that cannot be
 * read stops that workload's release where it is (no partition write, git's template held off),
 * is reported once as a log line and a Kubernetes Event, and other workloads carry on.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { parentName, readParent } from '../../engine/apply/applyset.js';
import { gitSource } from '../../engine/cli/sync.js';
import { formatStatus, readStatus } from '../../engine/cli/status.js';
import { KubeCluster } from '../../engine/cluster/kube.js';
import type { KubeObject, ObjectKey } from '../../engine/cluster/types.js';
import { realClock } from '../../engine/clock.js';
import { loadConfig } from '../../engine/config.js';
import { createLogger } from '../../engine/log.js';
import { Reconciler } from '../../engine/reconciler.js';
import { ReleaseController } from '../../engine/release/controller.js';
import { ANNOTATION_RELEASE_STATE, parseReleaseState } from '../../engine/release/state.js';
import { configMap, GitApp } from '../fixtures/git-app.js';
import { kubeconfigPath, waitFor, withNamespace } from '../cluster/harness.js';

const CACHE = mkdtempSync(join(tmpdir(), 'kgitops-engine-cache-'));
afterAll(() => rmSync(CACHE, { recursive: true, force: true }));

/** A logger that keeps its JSON lines, to count what was reported. */
function capturingLogger() {
  const lines: { level: number; msg: string; [k: string]: unknown }[] = [];
  const stream = new Writable({ write(chunk, _enc, cb) { for (const l of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(l)); cb(); } });
  return { log: createLogger({ format: 'json', level: 'info', stream }), lines };
}

function engine(ns: string, repo: GitApp, releases?: (c: KubeCluster, log: ReturnType<typeof createLogger>) => ReleaseController) {
  const cluster = KubeCluster.load({ kubeconfig: kubeconfigPath() });
  const config = loadConfig({ repo: repo.dir, app: 'shop', namespace: ns, cacheDir: CACHE });
  const { log, lines } = capturingLogger();
  const controller = releases?.(cluster, log);
  return { cluster, lines, config, releases: controller, reconciler: new Reconciler(config, cluster, gitSource(config), realClock, log, controller) };
}

const cmKey = (ns: string, name: string): ObjectKey => ({ apiVersion: 'v1', kind: 'ConfigMap', namespace: ns, name });

/** `kubectl edit`: an Update (PUT) of the whole object by field manager kubectl-edit. */
async function kubectlEdit(cluster: KubeCluster, obj: KubeObject, path: string): Promise<KubeObject> {
  return (cluster as unknown as { json(r: unknown): Promise<KubeObject> }).json({
    method: 'PUT', path: `${path}?fieldManager=kubectl-edit`, body: obj, info: { verb: 'update', resource: path },
  });
}
const parentPath = (ns: string) => `/api/v1/namespaces/${ns}/configmaps/${parentName('shop')}`;

const damaged = (lines: { msg: string }[]) => lines.filter((l) => l.msg.startsWith('damaged engine state:')).map((l) => l.msg);

describe('tampered state on a real apiserver', () => {
  it.each([
    { what: 'a null inventory and a history of the wrong type', data: { 'inventory.json': 'null', 'history.json': '{"not":"a list"}' }, keys: ['history.json', 'inventory.json'] },
    { what: 'an inventory and a status that are not JSON', data: { 'inventory.json': '{"ConfigMap/', 'status.json': '{oops' }, keys: ['inventory.json', 'status.json'] },
  ])('a parent with $what: reported once, rebuilt from the ApplySet labels, nothing pruned until it reads again', ({ data, keys }) =>
    withNamespace(async (ns) => {
      const repo = new GitApp();
      const { cluster, reconciler, lines } = engine(ns, repo);
      repo.commit({ namespace: ns, objects: ['a', 'b', 'c'].map((n) => configMap(n, { v: '1' })) });
      expect((await reconciler.reconcile()).result).toBe('Succeeded');
      const parent = (await cluster.get(cmKey(ns, parentName('shop'))))!;
      await kubectlEdit(cluster, { ...parent, data: { ...parent.data, ...data } }, parentPath(ns));

      // c leaves git while the inventory cannot be read: it is not pruned in this reconcile.
      repo.commit({ namespace: ns, objects: ['a', 'b'].map((n) => configMap(n, { v: '2' })) });
      const r = await reconciler.reconcile();
      expect(r.errors).toEqual([]);
      expect(r.result).toBe('Succeeded');
      expect(r.changes.pruned).toBe(0);
      expect(r.repairs?.map((p) => p.key).sort()).toEqual(keys);
      for (const p of r.repairs!) {
        expect(p.message).toContain(`ConfigMap ${ns}/${parentName('shop')}`);
        expect(p.fix).toMatch(/by hand: delete the key/);
      }
      expect(await cluster.get(cmKey(ns, 'c'))).toBeDefined();
      expect((await cluster.get(cmKey(ns, 'a')))!.data).toEqual({ v: '2' });
      expect(damaged(lines)).toHaveLength(keys.length);

      // Repaired: every key reads, the inventory has every labelled member (c too), the history says what was repaired.
      const repaired = readParent(await cluster.get(cmKey(ns, parentName('shop'))));
      expect(repaired.problems).toEqual([]);
      expect(Object.keys(repaired.data.inventory).sort()).toEqual([`ConfigMap/${ns}/a`, `ConfigMap/${ns}/b`, `ConfigMap/${ns}/c`]);
      expect(repaired.data.history[0].repairs?.map((p) => p.key).sort()).toEqual(keys);

      // The next reconcile trusts the inventory again: c is pruned, nothing more is reported.
      const next = await reconciler.reconcile();
      expect(next).toMatchObject({ result: 'Succeeded', changes: { pruned: 1 } });
      expect(next.repairs).toBeUndefined();
      expect(await cluster.get(cmKey(ns, 'c'))).toBeUndefined();
      expect(damaged(lines)).toHaveLength(keys.length);
      repo.remove();
    }), 90_000);

  it('a repair by hand with kubectl edit leaves no apply conflict on the parent', () =>
    withNamespace(async (ns) => {
      const repo = new GitApp();
      const { cluster, reconciler } = engine(ns, repo);
      repo.commit({ namespace: ns, objects: [configMap('a', { v: '1' })] });
      expect((await reconciler.reconcile()).result).toBe('Succeeded');
      // Someone "repairs" the parent by hand: kubectl-edit now owns every key it changed.
      const parent = (await cluster.get(cmKey(ns, parentName('shop'))))!;
      const edited = await kubectlEdit(cluster, { ...parent, data: { 'inventory.json': '{}', 'status.json': parent.data['status.json'], 'history.json': '[]' } }, parentPath(ns));
      expect(edited.metadata.managedFields?.some((f) => f.manager === 'kubectl-edit')).toBe(true);

      repo.commit({ namespace: ns, objects: [configMap('a', { v: '2' })] });
      const r = await reconciler.reconcile();
      expect(r.errors).toEqual([]);
      expect(r.result).toBe('Succeeded');
      const after = (await cluster.get(cmKey(ns, parentName('shop'))))!;
      // The engine owns its parent again, every key of it.
      const kubectlOwns = after.metadata.managedFields?.find((f) => f.manager === 'kubectl-edit')?.fieldsV1 as any;
      expect(kubectlOwns?.['f:data']).toBeUndefined();
      const state = readParent(after);
      expect(state.data.status).toMatchObject({ sync: 'Synced' });
      expect(state.data.history[0]).toMatchObject({ result: 'Succeeded' });
      // And it stays so: the next change applies as well.
      repo.commit({ namespace: ns, objects: [configMap('a', { v: '3' })] });
      expect((await reconciler.reconcile()).result).toBe('Succeeded');
      repo.remove();
    }), 90_000);

  it('a release state that cannot be read stops that workload where it is, is reported once (log, Event, status), and other workloads carry on', () =>
    withNamespace(async (ns) => {
      const repo = new GitApp(RELEASE_MAIN);
      const e = engine(ns, repo, (cluster, log) => new ReleaseController({ cluster, clock: realClock, log }));
      const { cluster, reconciler, lines } = e;
      const releases = e.releases!;
      const key = (name: string): ObjectKey => ({ apiVersion: 'apps.kruise.io/v1alpha1', kind: 'CloneSet', namespace: ns, name });
      try {
        repo.commit({ namespace: ns, image: 'registry.example.com/app:1' });
        expect((await reconciler.reconcile()).result).toBe('Succeeded');
        await releases.idle();
        // Someone breaks web's release state by hand.
        const web = (await cluster.get(key('web')))!;
        await kubectlEdit(cluster, { ...web, metadata: { ...web.metadata, annotations: { ...web.metadata.annotations, [ANNOTATION_RELEASE_STATE]: '{"id": "web@' } } },
          `/apis/apps.kruise.io/v1alpha1/namespaces/${ns}/clonesets/web`);
        const before = (await cluster.get(key('web')))!;

        // A new image for both: api's release starts, web stays as it is.
        repo.commit({ namespace: ns, image: 'registry.example.com/app:2' });
        const r = await reconciler.reconcile();
        expect(r.errors).toEqual([]);
        expect(r.result).toBe('Succeeded');
        await releases.idle();
        const api = (await cluster.get(key('api')))!;
        expect(parseReleaseState(api.metadata.annotations?.[ANNOTATION_RELEASE_STATE])).toMatchObject({ phase: 'Progressing', step: 0 });
        expect(api.spec.template.spec.containers[0].image).toBe('registry.example.com/app:2');
        // Held first, then at once moved to its first step (50% of the pods keep the old version).
        expect(api.spec.updateStrategy.partition).toBe('50%');
        const webAfter = (await cluster.get(key('web')))!;
        expect(webAfter.spec.template.spec.containers[0].image).toBe('registry.example.com/app:1');
        expect(webAfter.spec.updateStrategy?.partition).toBe(before.spec.updateStrategy?.partition);
        expect(webAfter.metadata.annotations?.[ANNOTATION_RELEASE_STATE]).toBe('{"id": "web@');

        const events = async () => (await cluster.list('v1', 'Event', { namespace: ns })).items
          .filter((ev) => ev.involvedObject?.name === 'web' && ev.reason === 'ReleaseStateInvalid');
        await waitFor(async () => (await events()).length > 0 || undefined, { timeoutMs: 10_000 });
        // Again: still stopped, not reported again.
        // (api's generation moved with its partition: the engine checks it with a dry-run, writes nothing)
        expect(await reconciler.reconcile()).toMatchObject({ errors: [], changes: { created: 0, updated: 0 } });
        await releases.idle();
        await new Promise((r2) => setTimeout(r2, 500));
        const reported = await events();
        expect(reported).toHaveLength(1);
        expect(reported[0].message).toMatch(/^CloneSet .*\/web: the release state \(annotation kgitops\.io\/release-state\) cannot be read: it is not valid JSON/);
        expect(reported[0].message).toContain('to fix: remove the annotation (kubectl annotate clonesets.apps.kruise.io web');
        expect(lines.filter((l) => l.reason === 'ReleaseStateInvalid')).toHaveLength(1);
        const status = await readStatus(cluster, 'shop', ns);
        expect(status.releases.find((x) => x.workload.endsWith('/web'))).toMatchObject({ phase: 'Unreadable', problem: expect.stringContaining('not valid JSON') });
        expect(formatStatus(status)).toMatch(/Unreadable\s+-\s+release state cannot be read/);

        // The fix it names: remove the annotation. The release of git's template starts from step 1, held.
        const broken = (await cluster.get(key('web')))!;
        const { [ANNOTATION_RELEASE_STATE]: _removed, ...rest } = broken.metadata.annotations!;
        await kubectlEdit(cluster, { ...broken, metadata: { ...broken.metadata, annotations: rest } }, `/apis/apps.kruise.io/v1alpha1/namespaces/${ns}/clonesets/web`);
        expect((await reconciler.reconcile()).result).toBe('Succeeded');
        await releases.idle();
        const fixed = (await cluster.get(key('web')))!;
        expect(parseReleaseState(fixed.metadata.annotations?.[ANNOTATION_RELEASE_STATE])).toMatchObject({ phase: 'Progressing', step: 0 });
        expect(fixed.spec.updateStrategy.partition).toBe('50%');
        expect(fixed.metadata.annotations?.['kgitops.io/release-previous']).toContain('registry.example.com/app:1');
        expect(fixed.spec.template.spec.containers[0].image).toBe('registry.example.com/app:2');
      } finally {
        releases.stop();
        reconciler.close();
        repo.remove();
      }
    }), 120_000);
});

/** Two CloneSets with release plans, both on `image`. */
const RELEASE_MAIN = `import { readFileSync } from 'node:fs';
import { Chart } from 'cdk8s';
import { App, CloneSet, Release } from 'kruise-gitops';

const p = JSON.parse(readFileSync(new URL('./objects.json', import.meta.url), 'utf8'));
const app = new App();
const chart = new Chart(app, 'app', { namespace: p.namespace });
for (const name of ['web', 'api']) {
  new CloneSet(chart, name, {
    metadata: { name }, replicas: 2, release: Release.canary('50%', '100%'),
    containers: [{ name: 'main', image: p.image, securityContext: { ensureNonRoot: false, readOnlyRootFilesystem: false } }],
  });
}
app.synth();
`;

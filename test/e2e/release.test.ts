/**
 * Releases end to end: the sync engine and the release controller against the level (b) control
 * plane, where the real kruise-manager moves pods on kwok nodes. A git push of a new image is
 * released step by step by moving Kruise partitions, each step only when its gates pass.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { gitSource } from '../../engine/cli/sync.js';
import { KubeCluster } from '../../engine/cluster/kube.js';
import { type KubeObject, keyOf, type ObjectKey } from '../../engine/cluster/types.js';
import { realClock } from '../../engine/clock.js';
import { loadConfig } from '../../engine/config.js';
import { createLogger } from '../../engine/log.js';
import { Reconciler } from '../../engine/reconciler.js';
import { ReleaseController } from '../../engine/release/controller.js';
import { ANNOTATION_RELEASE_STATE, parseReleaseState, type ReleaseState } from '../../engine/release/state.js';
import { issueCommand } from '../../engine/release/commands.js';
import { formatStatus, readStatus } from '../../engine/cli/status.js';
import { diffLive } from '../../engine/diff/live.js';
import { GitApp } from '../fixtures/git-app.js';
import { kubeconfigPath, waitFor, withNamespace } from '../cluster/harness.js';

const CACHE = mkdtempSync(join(tmpdir(), 'kgitops-e2e-cache-'));
afterAll(() => rmSync(CACHE, { recursive: true, force: true }));

/** The app: the workloads of each test, parameterised by objects.json. */
const MAIN = `import { readFileSync } from 'node:fs';
import { Chart, Duration } from 'cdk8s';
import {
  AdvancedStatefulSet, App, CloneSet, CloneSetUpdateStrategy, Gate, PodManagement, PodUpdatePolicy, Release, SidecarSet,
  StatefulSetUpdateStrategy, Step, UpdatePriority,
} from 'kruise-gitops';

const p = JSON.parse(readFileSync(new URL('./objects.json', import.meta.url), 'utf8'));
const app = new App();
const chart = new Chart(app, 'app', { namespace: p.namespace });
const quick = (...targets: any[]) => Release.steps(...targets.map((t, i) => Step.to(t).gate(Gate.podsReady(), ...(i < targets.length - 1 ? [Gate.bake(Duration.seconds(p.bake ?? 5))] : []))));
if (p.web) {
  new CloneSet(chart, 'web', {
    metadata: { name: 'web' }, replicas: p.web.replicas, podMetadata: { labels: { app: 'web' } },
    updateStrategy: p.web.inPlace ? CloneSetUpdateStrategy.inPlaceIfPossible({ maxUnavailable: '50%' }) : CloneSetUpdateStrategy.reCreate({ maxUnavailable: '50%' }),
    release: p.web.prepull
      ? Release.steps(Step.to(p.web.steps[0]).prepull({ timeout: Duration.seconds(60) }).gate(Gate.podsReady()), Step.to('100%').gate(Gate.podsReady()))
      : quick(...p.web.steps),
    containers: [{ name: 'main', image: p.web.image, securityContext: { ensureNonRoot: false, readOnlyRootFilesystem: false } }],
  });
}
if (p.zk) {
  new AdvancedStatefulSet(chart, 'zk', {
    metadata: { name: 'zk' }, replicas: 3, podMetadata: { labels: { app: 'zk', 'example.com/update-order': '1' } },
    podManagement: PodManagement.parallel({ maxUnavailable: 1, updatePriority: UpdatePriority.order('example.com/update-order') }),
    updateStrategy: StatefulSetUpdateStrategy.rollingUpdate({ podUpdatePolicy: PodUpdatePolicy.IN_PLACE_IF_POSSIBLE }),
    release: quick(1, '100%'),
    containers: [{ name: 'zk', image: p.zk.image, securityContext: { ensureNonRoot: false, readOnlyRootFilesystem: false } }],
  });
}
if (p.sidecar) {
  new SidecarSet(chart, 'logs', {
    metadata: { name: p.sidecar.name }, selector: { matchLabels: { app: 'web' } }, namespace: p.namespace,
    release: quick('50%', '100%'),
    containers: [{ name: 'shipper', image: p.sidecar.image, securityContext: { ensureNonRoot: false, readOnlyRootFilesystem: false } }],
  });
}
app.synth();
`;

interface Engine { reconciler: Reconciler; releases: ReleaseController; cluster: KubeCluster; stop(): void }

function engine(ns: string, repo: GitApp): Engine {
  const cluster = KubeCluster.load({ kubeconfig: kubeconfigPath() });
  const config = loadConfig({ repo: repo.dir, app: 'shop', namespace: ns, cacheDir: CACHE });
  const log = createLogger({ level: 'silent' });
  const releases = new ReleaseController({ cluster, clock: realClock, log });
  const reconciler = new Reconciler(config, cluster, gitSource(config), realClock, log, releases);
  return { reconciler, releases, cluster, stop: () => { releases.stop(); reconciler.close(); } };
}

async function sync(e: Engine): Promise<void> {
  const r = await e.reconciler.reconcile();
  if (r.result !== 'Succeeded' && r.result !== 'NoChange') throw new Error(`reconcile ${r.result}: ${r.message} ${JSON.stringify(r.errors)}`);
}

async function releaseState(e: Engine, key: ObjectKey): Promise<ReleaseState | undefined> {
  return parseReleaseState((await e.cluster.get(key))?.metadata.annotations?.[ANNOTATION_RELEASE_STATE]);
}

async function pods(e: Engine, ns: string, app: string): Promise<KubeObject[]> {
  return (await e.cluster.list('v1', 'Pod', { namespace: ns, labelSelector: `app=${app}` })).items.filter((p) => !p.metadata.deletionTimestamp);
}

/** Records every partition value and status of a workload while a release runs. */
async function record(e: Engine, key: ObjectKey, path: (o: KubeObject) => unknown) {
  const seen: { partition: unknown; updated?: number; at: number }[] = [];
  const h = await e.cluster.watch(key.apiVersion, key.kind, { namespace: key.namespace }, (ev) => {
    if (ev.object.metadata.name !== key.name) return;
    const partition = path(ev.object);
    // A status Kruise wrote before it saw this spec still counts the previous revision's pods.
    const current = (ev.object.status?.observedGeneration ?? -1) >= (ev.object.metadata.generation ?? 0);
    const updated = current ? ev.object.status?.updatedReplicas ?? ev.object.status?.updatedPods : undefined;
    const last = seen.at(-1);
    if (!last || last.partition !== partition) seen.push({ partition, updated, at: Date.now() });
    else if (updated !== undefined) last.updated = Math.max(last.updated ?? 0, updated);
  });
  return { seen, stop: () => h.stop() };
}

const WEB = (ns: string) => ({ apiVersion: 'apps.kruise.io/v1alpha1', kind: 'CloneSet', namespace: ns, name: 'web' });

const pullJobStatus = (o: KubeObject | undefined) => o?.status as { desired?: number; succeeded?: number } | undefined;

/**
 * What kruise-daemon does for image pulls, on the kwok nodes that have none: every image tag
 * Kruise asks a node for (NodeImage spec) is reported pulled (NodeImage status), while `pull` is on.
 */
function playKruiseDaemon(cluster: KubeCluster): { pull: boolean; stop(): void } {
  const daemon = { pull: true, stopped: false, stop() { this.stopped = true; } };
  const tick = async () => {
    if (daemon.pull) {
      for (const n of (await cluster.list('apps.kruise.io/v1beta1', 'NodeImage', {})).items) {
        const images = (n.spec?.images ?? {}) as Record<string, { tags?: { tag: string; version?: number }[] }>;
        const imageStatuses = Object.fromEntries(Object.entries(images).map(([name, i]) => [name, {
          tags: (i.tags ?? []).map((t) => ({ tag: t.tag, phase: 'Succeeded', version: t.version ?? 0, progress: 100, completionTime: new Date().toISOString() })),
        }]));
        const count = Object.values(imageStatuses).reduce((a, s) => a + s.tags.length, 0);
        if (JSON.stringify(n.status?.imageStatuses ?? {}) === JSON.stringify(imageStatuses)) continue;
        await cluster.applyStatus({ apiVersion: 'apps.kruise.io/v1beta1', kind: 'NodeImage', metadata: { name: n.metadata.name }, status: { desired: count, succeeded: count, imageStatuses } } as KubeObject,
          { fieldManager: 'kruise-daemon', force: true }).catch(() => {});
      }
    }
    if (!daemon.stopped) setTimeout(() => void tick(), 500);
  };
  void tick();
  return daemon;
}

describe('releases with the real kruise-manager', () => {
  it('a 10-pod CloneSet goes 10% -> 50% -> 100%, each step gated on ready pods and a bake', () =>
    withNamespace(async (ns) => {
      const repo = new GitApp(MAIN);
      const e = engine(ns, repo);
      try {
        const web = (image: string) => ({ namespace: ns, bake: 5, web: { replicas: 10, image, steps: ['10%', '50%', '100%'] } });
        repo.commit(web('nginx:1.25.3'));
        await sync(e);
        await waitFor(async () => (await e.cluster.get(WEB(ns)))?.status?.readyReplicas === 10 || undefined, { timeoutMs: 120_000 });
        const rec = await record(e, WEB(ns), (o) => o.spec.updateStrategy?.partition);
        repo.commit(web('nginx:1.25.4'));
        const started = Date.now();
        await sync(e);
        await waitFor(async () => (await releaseState(e, WEB(ns)))?.phase === 'Completed' || undefined, { timeoutMs: 170_000, intervalMs: 500 });
        rec.stop();
        // Before the release: Kruise's default partition 0. Then the hold, then each step's partition, in order.
        const partitions = rec.seen.map((s) => s.partition).slice(1);
        expect(partitions.filter((p, i) => p !== partitions[i - 1])).toEqual(['100%', '90%', '50%', '0%'].filter((p) => partitions.includes(p)));
        expect(partitions[0]).toBe('100%');
        expect(partitions.at(-1)).toBe('0%');
        // At 90% exactly one pod was updated, at 50% five.
        expect(rec.seen.find((s) => s.partition === '90%')?.updated).toBe(1);
        expect(rec.seen.find((s) => s.partition === '50%')?.updated).toBe(5);
        const images = (await pods(e, ns, 'web')).map((p) => p.spec.containers[0].image);
        expect(images).toEqual(Array(10).fill('nginx:1.25.4'));
        const state = (await releaseState(e, WEB(ns)))!;
        expect(state.history.map((h) => h.reason)).toEqual(['ReleaseStarted', 'ReleaseStepAdvanced', 'ReleaseStepAdvanced', 'ReleaseCompleted']);
        // Each bake (5 s) lies between two advances.
        const advances = state.history.filter((h) => h.reason !== 'ReleaseStarted').map((h) => Date.parse(h.at));
        for (let i = 1; i < advances.length - 1; i++) expect(advances[i] - advances[i - 1]).toBeGreaterThanOrEqual(5000);
        expect(Date.now() - started).toBeGreaterThanOrEqual(10_000);
        // Every transition is an Event on the workload.
        const events = (await e.cluster.list('v1', 'Event', { namespace: ns })).items.filter((x) => x.involvedObject.name === 'web').map((x) => x.reason);
        expect(events).toEqual(expect.arrayContaining(['ReleaseStarted', 'ReleaseStepAdvanced', 'ReleaseCompleted']));
      } finally {
        e.stop();
        repo.remove();
      }
    }), 300_000);

  it('a step that pre-pulls waits for Kruise\'s ImageListPullJob (the test playing kruise-daemon on the kwok nodes), then moves the partition', () =>
    withNamespace(async (ns) => {
      const repo = new GitApp(MAIN);
      const e = engine(ns, repo);
      const daemon = playKruiseDaemon(e.cluster);
      try {
        const web = (image: string) => ({ namespace: ns, web: { replicas: 4, image, steps: ['50%', '100%'], prepull: true } });
        repo.commit(web('nginx:1.25.3'));
        await sync(e);
        await waitFor(async () => (await e.cluster.get(WEB(ns)))?.status?.readyReplicas === 4 || undefined, { timeoutMs: 120_000 });
        // kruise-manager makes a NodeImage per node 30 s after the node became Ready: pulls need them.
        await waitFor(async () => ((await e.cluster.list('apps.kruise.io/v1beta1', 'NodeImage', {})).items.length >= 3 || undefined), { timeoutMs: 90_000, intervalMs: 1000, message: 'a NodeImage per kwok node' });
        daemon.pull = false;
        repo.commit(web('nginx:1.25.4'));
        await sync(e);
        const started = await waitFor(async () => (await releaseState(e, WEB(ns)))?.prepull, { timeoutMs: 30_000, message: 'the pre-download starting' });
        // Kruise turns the list into an ImagePullJob and the job into NodeImage entries for the nodes of the pods.
        const pullJob = await waitFor(async () => (await e.cluster.list('apps.kruise.io/v1beta1', 'ImagePullJob', { namespace: ns })).items.find((j) => j.spec.image === 'nginx:1.25.4'), { timeoutMs: 60_000, message: 'Kruise\'s ImagePullJob' });
        await waitFor(async () => ((pullJobStatus(await e.cluster.get(keyOf(pullJob))))?.desired ?? 0) > 0 || undefined, { timeoutMs: 60_000, message: 'the ImagePullJob counting nodes' });
        // Not pulled yet: no pod moves.
        await new Promise((r) => setTimeout(r, 3000));
        expect((await e.cluster.get(WEB(ns)))!.spec.updateStrategy.partition).toBe('100%');
        expect((await pods(e, ns, 'web')).map((p) => p.spec.containers[0].image)).toEqual(Array(4).fill('nginx:1.25.3'));
        // The "daemon" reports the pulls done: Kruise completes the jobs, the engine moves the partition.
        daemon.pull = true;
        await waitFor(async () => (await releaseState(e, WEB(ns)))?.phase === 'Completed' || undefined, { timeoutMs: 150_000, intervalMs: 500, message: 'the release completing' });
        const state = (await releaseState(e, WEB(ns)))!;
        expect(state.prepull).toMatchObject({ step: 0, job: started.job, message: '1/1 image(s) pulled' });
        expect(state.history.map((h) => h.reason)).toEqual(['ReleaseStarted', 'ReleasePrepulling', 'ReleasePrepulled', 'ReleaseStepAdvanced', 'ReleaseCompleted']);
        const list = (await e.cluster.get({ apiVersion: 'apps.kruise.io/v1alpha1', kind: 'ImageListPullJob', namespace: ns, name: started.job }))!;
        expect(list.status).toMatchObject({ desired: 1, completed: 1, succeeded: 1 });
        expect((await pods(e, ns, 'web')).map((p) => p.spec.containers[0].image)).toEqual(Array(4).fill('nginx:1.25.4'));
      } finally {
        daemon.stop();
        e.stop();
        repo.remove();
      }
    }), 300_000);

  it('a steady release makes no writes between steps: git\'s reconciles never take the release\'s paused or partition for drift', () =>
    withNamespace(async (ns) => {
      const repo = new GitApp(MAIN);
      const e = engine(ns, repo);
      try {
        const web = (image: string) => ({ namespace: ns, bake: 30, web: { replicas: 4, image, inPlace: true, steps: ['50%', '100%'] } });
        repo.commit(web('nginx:1.25.3'));
        await sync(e);
        await waitFor(async () => (await e.cluster.get(WEB(ns)))?.status?.readyReplicas === 4 || undefined, { timeoutMs: 120_000 });
        repo.commit(web('nginx:1.25.4'));
        await sync(e);
        // Step 1 written (partition 50%, paused false by kgitops-release) and its pods ready: now it bakes.
        await waitFor(async () => {
          const live = await e.cluster.get(WEB(ns));
          return live?.spec.updateStrategy.partition === '50%' && live.status?.updatedReadyReplicas === 2 ? live : undefined;
        }, { timeoutMs: 60_000, intervalMs: 500, message: 'step 1 baking' });
        const before = (await e.cluster.get(WEB(ns)))!.metadata.generation;
        // Reconciles during the bake (the sync loop runs them every few seconds): no drift, no write.
        for (let i = 0; i < 3; i++) {
          const r = await e.reconciler.reconcile();
          expect(r.message ?? '', `reconcile ${i + 1}`).not.toContain('drift');
          expect(['Succeeded', 'NoChange']).toContain(r.result);
          await new Promise((res) => setTimeout(res, 1500));
        }
        expect((await e.cluster.get(WEB(ns)))!.metadata.generation).toBe(before);
        expect((await releaseState(e, WEB(ns)))!.step).toBe(0);
      } finally {
        e.stop();
        repo.remove();
      }
    }), 300_000);

  it('after an abort, git and the cluster differ until a new commit: the reconcile, status and diff --live say so', () =>
    withNamespace(async (ns) => {
      const repo = new GitApp(MAIN);
      const e = engine(ns, repo);
      try {
        const web = (image: string) => ({ namespace: ns, bake: 600, web: { replicas: 4, image, inPlace: true, steps: ['50%', '100%'] } });
        repo.commit(web('nginx:1.25.3'));
        await sync(e);
        await waitFor(async () => (await e.cluster.get(WEB(ns)))?.status?.readyReplicas === 4 || undefined, { timeoutMs: 120_000 });
        repo.commit(web('nginx:1.25.4'));
        await sync(e);
        await waitFor(async () => (await e.cluster.get(WEB(ns)))?.status?.updatedReadyReplicas === 2 || undefined, { timeoutMs: 60_000, intervalMs: 500, message: 'step 1 baking' });
        await issueCommand(e.cluster, WEB(ns), { action: 'abort', note: 'e2e' }, Date.now());
        await waitFor(async () => (await releaseState(e, WEB(ns)))?.phase === 'Aborted' || undefined, { timeoutMs: 30_000, intervalMs: 500 });
        // The engine re-applies the previous template (the release controller asks for this reconcile).
        const rolledBack = await e.reconciler.reconcile();
        expect(rolledBack.result).toBe('Succeeded');
        await waitFor(async () => {
          const images = (await pods(e, ns, 'web')).map((p) => p.spec.containers[0].image);
          return images.length === 4 && images.every((i) => i === 'nginx:1.25.3') || undefined;
        }, { timeoutMs: 90_000, intervalMs: 1000, message: 'every pod back on 1.25.3' });
        // The same commit again: nothing to write, and still not in sync.
        const again = await e.reconciler.reconcile();
        expect(['Succeeded', 'NoChange']).toContain(again.result);
        expect(again.changes).toMatchObject({ created: 0, updated: 0, driftCorrected: 0 });
        expect(again.heldBack?.map((h) => h.workload)).toEqual([`CloneSet ${ns}/web`]);
        expect(again.message).toMatch(/CloneSet .*\/web runs revision \w+, not git's \w+: release .* was aborted.*push a new commit/);
        const config = loadConfig({ repo: repo.dir, app: 'shop', namespace: ns, cacheDir: CACHE });
        const status = await readStatus(e.cluster, 'shop', config.parentNamespace);
        expect(status.status?.sync).toBe('OutOfSync');
        expect(status.status?.heldBack?.[0]).toMatchObject({ workload: `CloneSet ${ns}/web`, release: expect.any(String) });
        expect(formatStatus(status)).toContain('held back: CloneSet');
        const diff = await diffLive({ dir: repo.dir, head: 'HEAD', app: 'shop', namespace: ns, parentNamespace: config.parentNamespace, cluster: e.cluster, policies: false, cacheDir: CACHE });
        const changed = diff.objects.find((o) => o.object.kind === 'CloneSet');
        expect(changed?.change, JSON.stringify([diff.objects.map((o) => [o.object.kind, o.change]), diff.head])).toBe('changed');
        expect(JSON.stringify(changed)).toContain('nginx:1.25.4');
        expect(diff.head.diagnostics.map((d) => d.rule)).toContain('release/aborted');
        // A new commit releases again, and the difference is gone.
        repo.commit(web('nginx:1.25.5'));
        const next = await e.reconciler.reconcile();
        expect(next.result).toBe('Succeeded');
        expect(next.heldBack).toBeUndefined();
        const after = await readStatus(e.cluster, 'shop', config.parentNamespace);
        expect(after.status?.sync).toBe('Synced');
        expect(after.status?.heldBack).toBeUndefined();
      } finally {
        e.stop();
        repo.remove();
      }
    }), 300_000);

  it('an InPlaceIfPossible release updates the pods in place (same pods, new image)', () =>
    withNamespace(async (ns) => {
      const repo = new GitApp(MAIN);
      const e = engine(ns, repo);
      try {
        const web = (image: string) => ({ namespace: ns, bake: 2, web: { replicas: 4, inPlace: true, image, steps: ['50%', '100%'] } });
        repo.commit(web('nginx:1.25.3'));
        await sync(e);
        await waitFor(async () => (await e.cluster.get(WEB(ns)))?.status?.readyReplicas === 4 || undefined, { timeoutMs: 120_000 });
        const before = (await pods(e, ns, 'web')).map((p) => p.metadata.uid).sort();
        repo.commit(web('nginx:1.25.4'));
        await sync(e);
        await waitFor(async () => (await releaseState(e, WEB(ns)))?.phase === 'Completed' || undefined, { timeoutMs: 170_000, intervalMs: 500 });
        const after = await pods(e, ns, 'web');
        expect(after.map((p) => p.metadata.uid).sort()).toEqual(before);
        expect(after.map((p) => p.spec.containers[0].image)).toEqual(Array(4).fill('nginx:1.25.4'));
      } finally {
        e.stop();
        repo.remove();
      }
    }), 300_000);

  it('an Advanced StatefulSet release updates pods in order priority: the pod labelled first goes first', () =>
    withNamespace(async (ns) => {
      const repo = new GitApp(MAIN);
      const e = engine(ns, repo);
      const ZK = { apiVersion: 'apps.kruise.io/v1beta1', kind: 'StatefulSet', namespace: ns, name: 'zk' };
      try {
        repo.commit({ namespace: ns, bake: 3, zk: { image: 'nginx:1.25.3' } });
        await sync(e);
        await waitFor(async () => (await e.cluster.get(ZK))?.status?.readyReplicas === 3 || undefined, { timeoutMs: 120_000 });
        // zk-0 gets the highest order value: without priorities the highest ordinal (zk-2) would go first.
        await e.cluster.apply({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'zk-0', namespace: ns, labels: { 'example.com/update-order': '9' } } }, { fieldManager: 'zk-role-labeler', force: true });
        repo.commit({ namespace: ns, bake: 3, zk: { image: 'nginx:1.25.4' } });
        await sync(e);
        // Step 1 updates one pod (partition 2 of 3): it must be zk-0.
        const first = await waitFor(async () => {
          const updated = (await pods(e, ns, 'zk')).filter((p) => p.spec.containers[0].image === 'nginx:1.25.4').map((p) => p.metadata.name);
          return updated.length ? updated : undefined;
        }, { timeoutMs: 120_000, intervalMs: 200 });
        expect(first).toEqual(['zk-0']);
        await waitFor(async () => (await releaseState(e, ZK))?.phase === 'Completed' || undefined, { timeoutMs: 170_000, intervalMs: 500 });
        expect((await pods(e, ns, 'zk')).map((p) => p.spec.containers[0].image)).toEqual(Array(3).fill('nginx:1.25.4'));
      } finally {
        e.stop();
        repo.remove();
      }
    }), 300_000);

  it('a SidecarSet release upgrades the injected sidecars of half the pods, then all', () =>
    withNamespace(async (ns) => {
      const repo = new GitApp(MAIN);
      const e = engine(ns, repo);
      const name = `logs-${ns}`.slice(0, 63);
      const SS = { apiVersion: 'apps.kruise.io/v1alpha1', kind: 'SidecarSet', name };
      try {
        // The SidecarSet first, so that the pods created after it get the sidecar.
        repo.commit({ namespace: ns, bake: 3, sidecar: { name, image: 'busybox:1.36.0' } });
        await sync(e);
        repo.commit({ namespace: ns, bake: 3, sidecar: { name, image: 'busybox:1.36.0' }, web: { replicas: 4, image: 'nginx:1.25.3', steps: ['100%'] } });
        await sync(e);
        await waitFor(async () => { const s = (await e.cluster.get(SS))?.status; return (s?.matchedPods === 4 && s.updatedReadyPods === 4) || undefined; }, { timeoutMs: 120_000 });
        const rec = await record(e, SS, (o) => o.spec.updateStrategy?.partition);
        repo.commit({ namespace: ns, bake: 3, sidecar: { name, image: 'busybox:1.36.1' }, web: { replicas: 4, image: 'nginx:1.25.3', steps: ['100%'] } });
        await sync(e);
        await waitFor(async () => (await releaseState(e, SS))?.phase === 'Completed' || undefined, { timeoutMs: 170_000, intervalMs: 500 });
        rec.stop();
        expect(rec.seen.find((s) => s.partition === '50%')?.updated).toBe(2);
        expect((await e.cluster.get(SS))?.status).toMatchObject({ matchedPods: 4, updatedPods: 4, updatedReadyPods: 4 });
        const sidecars = (await pods(e, ns, 'web')).map((p) => p.spec.containers.find((c: any) => c.name === 'shipper')?.image);
        expect(sidecars).toEqual(Array(4).fill('busybox:1.36.1'));
      } finally {
        e.stop();
        await e.cluster.delete(SS).catch(() => {});
        repo.remove();
      }
    }), 300_000);
});

/**
 * Releases end to end on the simulated cluster with a fake clock: a 10-pod CloneSet through
 * 10% -> 50% -> 100% with podsReady and a bake; the same with a crash and restart after every
 * write the release makes; approvals (CLI and git), pause/resume, abort, a failing metric, a new
 * commit superseding a release in progress, and the other kinds.
 */
import { Duration } from 'cdk8s';
import { afterEach, describe, expect, it } from 'vitest';
import {
  AdvancedDaemonSet, AdvancedStatefulSet, CloneSet, CloneSetUpdateStrategy, DaemonSetUpdateStrategy, Gate, PodManagement,
  PodUpdatePolicy, Release, SidecarSet, StatefulSetUpdateStrategy, Step, UnitedDeployment,
} from '../../../dsl/index.js';
import { ForbiddenError } from '../../../engine/cluster/errors.js';
import type { KubeObject } from '../../../engine/cluster/types.js';
import type { Measurement } from '../../../engine/release/gates/types.js';
import { ANNOTATION_TEMPLATE_REVISION } from '../../../engine/release/plan.js';
import { ReleaseBench, render } from '../../fixtures/release-sim.js';
import { inProgressReleases } from '../../../engine/release/start.js';
import { formatPreview, previewRelease } from '../../../engine/release/preview.js';
import { objectId } from '../../../engine/cluster/types.js';

const benches: ReleaseBench[] = [];
afterEach(() => { for (const b of benches.splice(0)) b.stop(); });
function bench(o?: ConstructorParameters<typeof ReleaseBench>[0]): ReleaseBench {
  const b = new ReleaseBench(o);
  benches.push(b);
  return b;
}

const web = (image: string, release: Release, replicas = 10) => render((c) => new CloneSet(c, 'web', {
  metadata: { name: 'web' }, replicas, release,
  updateStrategy: CloneSetUpdateStrategy.reCreate({ maxUnavailable: '50%' }),
  containers: [{ name: 'main', image, portNumber: 8080 }],
}));

const canary = Release.canary('10%', '50%', '100%').bakeFor(Duration.minutes(1));

/** The pods' images by count, e.g. { 'web:2': 3, 'web:1': 7 }. */
async function images(b: ReleaseBench): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const p of b.sim.pods(b.tracked!.key)) {
    const img = p.spec.containers[0].image.split('/').pop();
    out[img] = (out[img] ?? 0) + 1;
  }
  return out;
}

interface Trace { at: number; step: number; phase: string; partition: unknown; updated: number }

/** Runs a release to its end, recording every state change; optionally crashing after each release write. */
async function runRelease(b: ReleaseBench, o: { crashAfterEveryWrite?: boolean; maxMs?: number } = {}): Promise<Trace[]> {
  const trace: Trace[] = [];
  let writes = b.sim.requests.filter((r) => r.fieldManager === 'kgitops-release' && r.wrote).length;
  const record = async () => {
    const live = await b.live();
    const s = await b.state();
    const t = { at: b.clock.now(), step: s!.step, phase: s!.phase, partition: live.spec.updateStrategy?.partition ?? live.spec.updateStrategy?.rollingUpdate?.partition, updated: live.status?.updatedReplicas ?? 0 };
    const prev = trace.at(-1);
    if (!prev || prev.step !== t.step || prev.phase !== t.phase || prev.partition !== t.partition) trace.push(t);
    const now = b.sim.requests.filter((r) => r.fieldManager === 'kgitops-release' && r.wrote).length;
    if (o.crashAfterEveryWrite && now > writes) await b.restart();
    writes = now;
  };
  await record();
  const done = await b.runUntil(async () => ['Completed', 'Aborted'].includes((await b.state())!.phase) && (await b.state())!.finishedAt !== undefined, { maxMs: o.maxMs, onTick: record });
  await record();
  expect(done, `release did not finish: ${JSON.stringify(await b.state())}`).toBe(true);
  return trace;
}

/** The invariants: steps in order, none skipped or repeated; the partition only moves forward. */
function checkInvariants(trace: Trace[], steps: number): void {
  const visited = trace.filter((t) => t.phase === 'Progressing').map((t) => t.step);
  const order = visited.filter((s, i) => i === 0 || s !== visited[i - 1]);
  expect(order).toEqual(Array.from({ length: steps }, (_, i) => i));
  const kept = trace.map((t) => (typeof t.partition === 'string' ? Number(String(t.partition).replace('%', '')) : Number(t.partition ?? 0)));
  for (let i = 1; i < kept.length; i++) expect(kept[i], `partition went back at ${i}: ${JSON.stringify(trace)}`).toBeLessThanOrEqual(kept[i - 1]);
}

describe('a CloneSet release on the simulated cluster', () => {
  it('goes 10% -> 50% -> 100%, each step only after its pods are ready and baked a minute', async () => {
    const b = bench();
    await b.deploy(web('registry.example.com/web:1', canary));
    await b.runUntil(async () => (await images(b))['web:1'] === 10);
    await b.deploy(web('registry.example.com/web:2', canary));
    // The hold came first: no pod is updated before step 1's partition.
    expect((await b.live()).spec.updateStrategy.partition).toBe('90%');
    const trace = await runRelease(b);
    checkInvariants(trace, 3);
    expect(await images(b)).toEqual({ 'web:2': 10 });
    const s = (await b.state())!;
    expect(s.history.map((h) => h.reason)).toEqual(['ReleaseStarted', 'ReleaseStepAdvanced', 'ReleaseStepAdvanced', 'ReleaseCompleted']);
    // Pods per step: 1 (10%), 5 (50%), 10; each step baked a minute after its pods were ready.
    const advances = trace.filter((t, i) => i > 0 && t.step !== trace[i - 1].step);
    expect(advances.map((t) => t.partition)).toEqual(['50%', '0%']);
    expect(advances[0].at - trace[0].at).toBeGreaterThanOrEqual(60_000);
    const events = b.sim.events(b.tracked!.key).map((e) => e.reason);
    expect(events).toEqual(expect.arrayContaining(['ReleaseStepAdvanced', 'ReleaseCompleted']));
  });

  it('an engine that just started finds the release in progress from the live workload alone, before any render', async () => {
    const b = bench();
    await b.deploy(web('registry.example.com/web:1', canary));
    await b.runUntil(async () => (await images(b))['web:1'] === 10);
    const key = b.tracked!.key;
    const id = objectId(key);
    const find = () => inProgressReleases(b.sim, { [id]: { apiVersion: key.apiVersion }, 'ConfigMap/shop/settings': { apiVersion: 'v1' } });
    expect(await find()).toEqual([]); // the first version rolled out at once: nothing in progress
    await b.deploy(web('registry.example.com/web:2', canary));
    const found = await find();
    expect(found).toHaveLength(1);
    expect(found[0]).toMatchObject({ key, kind: 'CloneSet', revision: (await b.live()).metadata.annotations![ANNOTATION_TEMPLATE_REVISION], gitApprovals: {} });
    expect(found[0].plan.steps).toHaveLength(3);
    await runRelease(b);
    expect(await find()).toEqual([]);
  });

  it('survives a crash and restart after every single transition: no gate skipped, no step repeated', async () => {
    const b = bench();
    await b.deploy(web('registry.example.com/web:1', canary));
    await b.runUntil(async () => (await images(b))['web:1'] === 10);
    await b.deploy(web('registry.example.com/web:2', canary));
    const trace = await runRelease(b, { crashAfterEveryWrite: true });
    checkInvariants(trace, 3);
    expect(b.restarts).toBeGreaterThanOrEqual(5);
    expect(await images(b)).toEqual({ 'web:2': 10 });
    const s = (await b.state())!;
    expect(s.history.filter((h) => h.reason === 'ReleaseStepAdvanced')).toHaveLength(2);
    // Bakes were honoured across restarts: every advance came at least a minute after the previous one.
    const advanceTimes = s.history.filter((h) => h.reason !== 'ReleaseStarted').map((h) => Date.parse(h.at));
    for (let i = 1; i < advanceTimes.length; i++) expect(advanceTimes[i] - advanceTimes[i - 1]).toBeGreaterThanOrEqual(60_000);
  });

  it('waits for approval, given by a command, and records who approved', async () => {
    const plan = Release.steps(Step.to('10%').gate(Gate.podsReady(), Gate.approval()), Step.to('100%').gate(Gate.podsReady()));
    const b = bench();
    await b.deploy(web('registry.example.com/web:1', plan));
    await b.runUntil(async () => (await images(b))['web:1'] === 10);
    await b.deploy(web('registry.example.com/web:2', plan));
    await b.runUntil(async () => false, { maxMs: 5 * 60_000 });
    expect((await b.state())!.step).toBe(0);
    expect(await images(b)).toEqual({ 'web:1': 9, 'web:2': 1 });
    await b.command('approve', 'alice');
    await b.runUntil(async () => (await b.state())!.phase === 'Completed');
    expect((await b.state())!.approvals).toEqual([expect.objectContaining({ step: 0, by: 'simulation:alice', via: 'cli' })]);
    expect(b.sim.events(b.tracked!.key).map((e) => e.reason)).toContain('ReleaseApproved');
  });

  it('takes an approval committed to git', async () => {
    const plan = Release.steps(Step.to('10%').gate(Gate.approval()), Step.to('100%'));
    const b = bench();
    await b.deploy(web('registry.example.com/web:1', plan));
    await b.runUntil(async () => (await images(b))['web:1'] === 10);
    const v2 = web('registry.example.com/web:2', plan);
    await b.deploy(v2);
    await b.runUntil(async () => false, { maxMs: 60_000 });
    const id = (await b.state())!.id;
    // A later commit adds approvals.yaml naming the release: the engine passes it on.
    b.gitApprovals = { [id]: [{ by: 'bob', commit: 'c0ffee1111111111' }] };
    await b.deploy(v2);
    await b.runUntil(async () => (await b.state())!.phase === 'Completed');
    expect((await b.state())!.approvals[0]).toMatchObject({ by: 'bob', via: 'git', commit: 'c0ffee1111111111' });
  });

  it('pauses and resumes on command', async () => {
    const b = bench();
    await b.deploy(web('registry.example.com/web:1', canary));
    await b.runUntil(async () => (await images(b))['web:1'] === 10);
    await b.deploy(web('registry.example.com/web:2', canary));
    await b.runUntil(async () => (await b.state())!.step === 1);
    await b.command('pause', 'carol');
    await b.runUntil(async () => false, { maxMs: 10 * 60_000 });
    expect((await b.state())).toMatchObject({ phase: 'Paused', step: 1, pause: { by: 'simulation:carol', reason: 'paused by simulation:carol' } });
    expect((await b.live()).spec.updateStrategy.paused).toBe(true);
    await b.command('resume', 'carol');
    await b.runUntil(async () => (await b.state())!.phase === 'Completed');
    expect((await b.live()).spec.updateStrategy.paused).toBe(false);
  });

  it('aborts: every pod goes back to the previous template, and git\'s new template is held off', async () => {
    const b = bench();
    await b.deploy(web('registry.example.com/web:1', canary));
    await b.runUntil(async () => (await images(b))['web:1'] === 10);
    await b.deploy(web('registry.example.com/web:2', canary));
    await b.runUntil(async () => (await b.state())!.step === 1 && (await images(b))['web:2'] === 5);
    await b.command('abort', 'dave');
    await b.runUntil(async () => (await images(b))['web:1'] === 10);
    const s = (await b.state())!;
    expect(s.phase).toBe('Aborted');
    expect(s.history.map((h) => h.reason)).toEqual(expect.arrayContaining(['ReleaseAborting', 'ReleaseAborted']));
    // The same commit again does not restart the aborted release.
    await b.deploy(web('registry.example.com/web:2', canary));
    await b.runUntil(async () => false, { maxMs: 2 * 60_000 });
    expect(await images(b)).toEqual({ 'web:1': 10 });
    // A new commit does.
    await b.deploy(web('registry.example.com/web:3', canary));
    await b.runUntil(async () => (await b.state())!.phase === 'Completed');
    expect(await images(b)).toEqual({ 'web:3': 10 });
  });

  it('a metric gate that fails pauses the release; with abortOnFailure it rolls back', async () => {
    let value = 0.5; // the error ratio the "Prometheus" reports
    const measurers = {
      metric: async (_g: unknown, o: { now(): number }): Promise<Measurement> => ({
        at: new Date(o.now()).toISOString(), phase: value < 0.01 ? 'Successful' : 'Failed', value, message: `result ${value} ${value < 0.01 ? '<' : 'is not <'} 0.01`,
      }),
      http: async () => { throw new Error('unused'); },
    } as never;
    const gated = (onFailure: boolean) => {
      const r = Release.steps(
        Step.to('10%').gate(Gate.podsReady(), Gate.metric({ name: 'error-ratio', prometheus: 'http://prometheus:9090', query: 'q', successCondition: 'result < 0.01', count: 2, interval: Duration.seconds(30) })),
        Step.to('100%').gate(Gate.podsReady()));
      return onFailure ? r.abortOnFailure() : r;
    };
    const b = bench({ measurers });
    await b.deploy(web('registry.example.com/web:1', gated(false)));
    await b.runUntil(async () => (await images(b))['web:1'] === 10);
    await b.deploy(web('registry.example.com/web:2', gated(false)));
    await b.runUntil(async () => (await b.state())!.phase === 'Paused');
    const paused = (await b.state())!;
    expect(paused.pause?.reason).toMatch(/^step 1\/2: metric error-ratio .* failed: 1 failed measurement .*: result 0.5 is not < 0.01/);
    expect(await images(b)).toEqual({ 'web:1': 9, 'web:2': 1 });
    // Resume retries the measurements; the ratio is fine now.
    value = 0.001;
    await b.command('resume', 'alice');
    await b.runUntil(async () => (await b.state())!.phase === 'Completed');
    expect(await images(b)).toEqual({ 'web:2': 10 });

    value = 0.5;
    await b.deploy(web('registry.example.com/web:3', gated(true)));
    await b.runUntil(async () => (await b.state())!.phase === 'Aborted' && (await images(b))['web:2'] === 10);
    expect(await images(b)).toEqual({ 'web:2': 10 });
  });

  it('a new commit during a release supersedes it: pods keep their version until the new release reaches them', async () => {
    const b = bench();
    await b.deploy(web('registry.example.com/web:1', canary));
    await b.runUntil(async () => (await images(b))['web:1'] === 10);
    await b.deploy(web('registry.example.com/web:2', canary));
    await b.runUntil(async () => (await b.state())!.step === 1 && (await images(b))['web:2'] === 5);
    const first = (await b.state())!.id;
    await b.deploy(web('registry.example.com/web:3', canary));
    const s = (await b.state())!;
    expect(s.id).not.toBe(first);
    expect(s.step).toBe(0);
    expect(b.sim.events(b.tracked!.key).map((e) => e.message)).toContain(`release ${first} superseded by ${s.id}`);
    // Right after: nothing rolled back, one pod on the new version per the first step.
    await b.runUntil(async () => (await images(b))['web:3'] === 1, { maxMs: 60_000 });
    expect(await images(b)).toEqual({ 'web:1': 5, 'web:2': 4, 'web:3': 1 });
    await b.runUntil(async () => (await b.state())!.phase === 'Completed');
    expect(await images(b)).toEqual({ 'web:3': 10 });
  });
});

describe('the other kinds on the simulated cluster', () => {
  it('Advanced StatefulSet with order priority, in place', async () => {
    const b = bench();
    const zk = (image: string) => render((c) => new AdvancedStatefulSet(c, 'zk', {
      metadata: { name: 'zk' }, replicas: 3, release: Release.canary('34%', '100%').bakeFor(Duration.seconds(30)),
      podManagement: PodManagement.parallel({ maxUnavailable: 1 }),
      updateStrategy: StatefulSetUpdateStrategy.rollingUpdate({ podUpdatePolicy: PodUpdatePolicy.IN_PLACE_IF_POSSIBLE }),
      containers: [{ name: 'zk', image }],
    }));
    await b.deploy(zk('registry.example.com/zk:1'));
    await b.runUntil(async () => (await images(b))['zk:1'] === 3);
    await b.deploy(zk('registry.example.com/zk:2'));
    // 34% of 3 pods updates ceil(1.02) = 2: ordinals 1 and 2; the partition is 1.
    expect((await b.live()).spec.updateStrategy.rollingUpdate.partition).toBe(1);
    const trace = await runRelease(b);
    checkInvariants(trace, 2);
    expect([...new Set(trace.map((t) => t.partition))]).toEqual([1, 0]);
    expect(await images(b)).toEqual({ 'zk:2': 3 });
  });

  it('Advanced DaemonSet: percentages round down over the nodes', async () => {
    const b = bench({ nodes: 5 });
    const agent = (image: string) => render((c) => new AdvancedDaemonSet(c, 'agent', {
      metadata: { name: 'agent' }, release: Release.canary('20%', '100%').bakeFor(Duration.seconds(30)),
      updateStrategy: DaemonSetUpdateStrategy.rollingUpdate({ maxUnavailable: 1 }),
      containers: [{ name: 'agent', image }],
    }));
    await b.deploy(agent('registry.example.com/agent:1'));
    await b.runUntil(async () => (await images(b))['agent:1'] === 5);
    await b.deploy(agent('registry.example.com/agent:2'));
    await b.runUntil(async () => (await images(b))['agent:2'] === 1 && (await b.state())!.step === 0, { maxMs: 60_000 });
    expect((await b.live()).spec.updateStrategy.rollingUpdate.partition).toBe('80%');
    await b.runUntil(async () => (await b.state())!.phase === 'Completed');
    expect(await images(b)).toEqual({ 'agent:2': 5 });
  });

  it('SidecarSet: upgrades the sidecar of matched pods step by step', async () => {
    const b = bench();
    const logs = (image: string) => render((c) => new SidecarSet(c, 'logs', {
      metadata: { name: 'logs' }, selector: { matchLabels: { logging: 'on' } },
      release: Release.canary('50%', '100%').bakeFor(Duration.seconds(30)),
      containers: [{ name: 'shipper', image }],
    }));
    await b.deploy(logs('registry.example.com/shipper:1'));
    // Pods created after the SidecarSet get the sidecar injected.
    const app = render((c) => new CloneSet(c, 'web', { metadata: { name: 'web' }, replicas: 10, podMetadata: { labels: { logging: 'on' } }, containers: [{ name: 'main', image: 'registry.example.com/web:1' }] }));
    await b.sim.apply(app, { fieldManager: 'kgitops' });
    await b.runUntil(async () => (await b.live()).status?.matchedPods === 10 && (await b.live()).status?.updatedReadyPods === 10);
    await b.deploy(logs('registry.example.com/shipper:2'));
    const trace = await runRelease(b);
    expect([...new Set(trace.map((t) => t.partition))]).toEqual(['50%', '0%']);
    expect((await b.live()).status).toMatchObject({ matchedPods: 10, updatedPods: 10, updatedReadyPods: 10 });
  });

  it('UnitedDeployment: subset after subset', async () => {
    const b = bench();
    const cart = (image: string) => render((c) => new UnitedDeployment(c, 'cart', {
      metadata: { name: 'cart' }, replicas: 6,
      subsets: [{ name: 'zone-a', replicas: 3 }, { name: 'zone-b', replicas: 3 }],
      release: Release.steps(Step.subsets({ 'zone-a': '100%' }).gate(Gate.podsReady()), Step.subsets({ 'zone-b': '100%' }).gate(Gate.podsReady())),
      containers: [{ name: 'cart', image }],
    }));
    await b.deploy(cart('registry.example.com/cart:1'));
    await b.runUntil(async () => ((await b.live()).status?.readyReplicas ?? 0) === 6);
    await b.deploy(cart('registry.example.com/cart:2'));
    expect((await b.live()).spec.updateStrategy.manualUpdate.partitions).toEqual({ 'zone-a': 0, 'zone-b': 3 });
    await b.runUntil(async () => (await b.state())!.phase === 'Completed');
    const live = await b.live();
    expect(live.spec.updateStrategy.manualUpdate.partitions).toEqual({ 'zone-a': 0, 'zone-b': 0 });
    expect(live.status).toMatchObject({ updatedReplicas: 6, updatedReadyReplicas: 6 });
    expect(live.metadata.annotations![ANNOTATION_TEMPLATE_REVISION]).toBe(b.tracked!.revision);
  });
});

describe('image pre-download steps (Step.prepull) on the simulated cluster', () => {
  const prepulled = Release.steps(
    Step.to('50%').prepull({ timeout: Duration.minutes(2), parallelism: 2 }).gate(Gate.podsReady()),
    Step.to('100%').gate(Gate.podsReady()),
  );

  it('pulls the new images onto the pods\' nodes first, and moves the partition only when the pull finished', async () => {
    const b = bench();
    await b.deploy(web('registry.example.com/web:1', prepulled));
    await b.runUntil(async () => (await images(b))['web:1'] === 10);
    await b.deploy(web('registry.example.com/web:2', prepulled));
    const key = b.tracked!.key;
    const jobKey = { apiVersion: 'apps.kruise.io/v1alpha1', kind: 'ImageListPullJob', namespace: 'shop', name: '' };
    // The job appears and the partition stays at the hold while it runs (the simulated pull takes jobRunMs, 5 s).
    await b.runUntil(async () => (await b.state())?.prepull !== undefined, { maxMs: 10_000 });
    const s = (await b.state())!;
    expect(s.prepull).toMatchObject({ step: 0, job: expect.stringMatching(/^web-prepull-[0-9a-f]{10}-1$/) });
    const job = (await b.sim.get({ ...jobKey, name: s.prepull!.job }))!;
    expect(job.spec).toEqual({
      images: ['registry.example.com/web:2'], podSelector: { matchLabels: (await b.live()).spec.selector.matchLabels },
      parallelism: 2, pullPolicy: { timeoutSeconds: 120 }, imagePullPolicy: 'IfNotPresent',
      completionPolicy: { type: 'Always', activeDeadlineSeconds: 120, ttlSecondsAfterFinished: 3600 },
    });
    expect(job.metadata.ownerReferences).toEqual([expect.objectContaining({ kind: 'CloneSet', name: 'web' })]);
    expect((await b.live()).spec.updateStrategy.partition).toBe('100%');
    expect(await images(b)).toEqual({ 'web:1': 10 });
    // Then the step's partition, then the rest.
    const trace = await runRelease(b);
    checkInvariants(trace, 2);
    const done = (await b.state())!;
    expect(done.history.map((h) => h.reason)).toEqual(['ReleaseStarted', 'ReleasePrepulling', 'ReleasePrepulled', 'ReleaseStepAdvanced', 'ReleaseCompleted']);
    const pulled = done.history.find((h) => h.reason === 'ReleasePrepulled')!;
    const moved = trace.find((t) => t.partition === '50%')!;
    expect(Date.parse(pulled.at)).toBeGreaterThanOrEqual(Date.parse(done.history[1]!.at) + 5000);
    expect(moved.at).toBeGreaterThanOrEqual(Date.parse(pulled.at));
    expect(pulled.message).toContain('1/1 image(s) pulled');
    expect(b.sim.events(key).map((e) => e.reason)).toEqual(expect.arrayContaining(['ReleasePrepulling', 'ReleasePrepulled']));
    expect(await images(b)).toEqual({ 'web:2': 10 });
  });

  it('pauses the release when the pull does not finish in time, and a resume retries it', async () => {
    // A registry so slow that the pull takes 3 minutes: longer than the step waits (2).
    const b = bench({ timing: { imagePullMs: 180_000 } });
    await b.deploy(web('registry.example.com/web:1', prepulled));
    await b.runUntil(async () => (await images(b))['web:1'] === 10);
    await b.deploy(web('registry.example.com/web:2', prepulled));
    await b.runUntil(async () => (await b.state())?.phase === 'Paused', { maxMs: 200_000 });
    const s = (await b.state())!;
    expect(s.pause!.reason).toMatch(/^step 1\/2: the image pre-download did not finish in 2m: 0\/1 image\(s\) pulled \(job web-prepull-[0-9a-f]{10}-1\); resume to retry it$/);
    expect((await b.live()).spec.updateStrategy.partition).toBe('100%');
    expect(await images(b)).toEqual({ 'web:1': 10 });
    // Resumed: the same job (still pulling) gets another 2 minutes, and finishes in them.
    await b.command('resume');
    const trace = await runRelease(b);
    checkInvariants(trace, 2);
    expect(await images(b)).toEqual({ 'web:2': 10 });
  });

  it('a job the cluster refuses (RBAC, Kruise\'s webhook) pauses the release with the reason; nothing moves', async () => {
    const b = bench();
    await b.deploy(web('registry.example.com/web:1', prepulled));
    await b.runUntil(async () => (await images(b))['web:1'] === 10);
    const refused = b.sim.failNext({
      verb: 'apply', kind: 'ImageListPullJob', times: Infinity,
      error: new ForbiddenError({ verb: 'patch', resource: 'imagelistpulljobs', namespace: 'shop', name: 'x' }, 'User "system:serviceaccount:shop:deployer" cannot patch resource "imagelistpulljobs" in API group "apps.kruise.io" in the namespace "shop"'),
    });
    await b.deploy(web('registry.example.com/web:2', prepulled));
    await b.runUntil(async () => (await b.state())?.phase === 'Paused', { maxMs: 30_000 });
    const s = (await b.state())!;
    expect(s.pause!.reason).toMatch(/^step 1\/2: the image pre-download could not start: creating ImageListPullJob web-prepull-[0-9a-f]{10}-1 failed: .*cannot patch resource "imagelistpulljobs"/);
    expect((await b.live()).spec.updateStrategy).toMatchObject({ partition: '100%', paused: true });
    expect(await images(b)).toEqual({ 'web:1': 10 });
    // Granted: resume creates the job and the release goes on.
    refused.cancel();
    await b.command('resume');
    const trace = await runRelease(b);
    checkInvariants(trace, 2);
    expect(await images(b)).toEqual({ 'web:2': 10 });
  });

  it('survives a crash and restart after every write: one job, pulled once, no step skipped', async () => {
    const b = bench();
    await b.deploy(web('registry.example.com/web:1', prepulled));
    await b.runUntil(async () => (await images(b))['web:1'] === 10);
    await b.deploy(web('registry.example.com/web:2', prepulled));
    const trace = await runRelease(b, { crashAfterEveryWrite: true });
    checkInvariants(trace, 2);
    expect(b.restarts).toBeGreaterThanOrEqual(3);
    const s = (await b.state())!;
    expect(s.history.filter((h) => h.reason === 'ReleasePrepulling')).toHaveLength(1);
    expect(s.history.filter((h) => h.reason === 'ReleasePrepulled')).toHaveLength(1);
    const jobs = b.sim.requests.filter((r) => r.kind === 'ImageListPullJob' && r.verb === 'apply' && r.wrote);
    expect(new Set(jobs.map((r) => r.name)).size).toBe(1);
    expect(await images(b)).toEqual({ 'web:2': 10 });
  });

  it('preview shows the pull before the step', () => {
    const cs = web('registry.example.com/web:2', prepulled);
    const p = previewRelease(cs, { total: 10 }, 'spec.replicas')!;
    expect(p.steps[0]!.prepull).toEqual({ images: ['registry.example.com/web:2'], timeoutSeconds: 120, parallelism: 2 });
    expect(p.steps[1]!.prepull).toBeUndefined();
    expect(formatPreview(p).split('\n').slice(1, 3)).toEqual([
      "  step 1: first pre-download registry.example.com/web:2 onto the nodes of the CloneSet's pods (ImageListPullJob, 2 node(s) at a time; pause after 2m)",
      expect.stringMatching(/^ {2}step 1: 50% +partition 50% +5 updated \(\+5\) {2}gates: pods ready$/),
    ]);
  });

  it('refuses a pre-download step in a SidecarSet plan at synth time', () => {
    expect(() => render((c) => new SidecarSet(c, 'logs', {
      metadata: { name: 'logs' }, selector: { matchLabels: { a: 'b' } }, containers: [{ name: 's', image: 'r/s:1' }],
      release: Release.steps(Step.to('100%').prepull()),
    }))).toThrow(/SidecarSet releases cannot pre-pull/);
  });
});

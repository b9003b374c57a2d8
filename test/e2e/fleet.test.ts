/**
 * A fleet across three real control planes on loopback: a management cluster (level a: the App,
 * the cluster Secrets, the fleet's state) and two workload clusters with the real kruise-manager
 * (the e2e project's shared one as "staging", and one this file starts as "prod"). The
 * controller runs as `kgitops controller` processes; the workloads release by their own plans
 * in each cluster.
 *
 *   - a commit promoted from staging to prod, with a bake between the waves;
 *   - the controller SIGKILLed during the bake: another one carries on, prod's wave starts once;
 *   - a failing metric gate (a real Prometheus) stops the next commit at wave 2: prod keeps the
 *     previous one;
 *   - abort rolls staging back to it;
 *   - three commits while the controller is SIGKILLed every few seconds, acting as the App's
 *     ServiceAccount in both workload clusters, the third superseding the second during its
 *     bake: no wave skipped or started twice, prod going from the first straight to the third.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { KubeCluster } from '../../engine/cluster/kube.js';
import type { KubeObject } from '../../engine/cluster/types.js';
import { APP_API_VERSION, APP_KIND, type AppObject, appCrd } from '../../engine/controller/app-resource.js';
import { LABEL_CLUSTER } from '../../engine/fleet/clusters.js';
import type { FleetStatus } from '../../engine/fleet/runner.js';
import { type ControlPlane, startControlPlane } from '../cluster/controlplane.js';
import { auditedKubeconfigPath, auditLogPath, kubeconfigPath, waitFor } from '../cluster/harness.js';
import { GitApp } from '../fixtures/git-app.js';
import { type Exporter, type RunningPrometheus, startExporter, startPrometheus } from '../prometheus/harness.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CACHE = mkdtempSync(join(tmpdir(), 'kgitops-fleet-e2e-'));
let management: ControlPlane;
let prod: ControlPlane;
let exporter: Exporter;
let prometheus: RunningPrometheus;

beforeAll(async () => {
  exporter = await startExporter();
  exporter.set('web_requests_total', 1000);
  exporter.set('web_errors_total', 0);
  [management, prod, prometheus] = await Promise.all([
    startControlPlane({ level: 'a', log: (m) => process.stderr.write(`[management] ${m}\n`) }),
    startControlPlane({ level: 'b', log: (m) => process.stderr.write(`[prod] ${m}\n`) }),
    startPrometheus({ scrapeTargets: [exporter.target] }),
  ]);
  const mib = (cp: ControlPlane) => Math.round(Object.values(cp.rss()).reduce((a, b) => a + b, 0) / 2 ** 20);
  process.stderr.write(`[fleet] management (level a) RSS ${mib(management)} MiB, prod (level b) RSS ${mib(prod)} MiB\n`);
}, 300_000);

afterAll(async () => {
  await Promise.all([management?.stop(), prod?.stop(), prometheus?.stop(), exporter?.stop()]);
  rmSync(CACHE, { recursive: true, force: true });
});

/** A kubeconfig with its CA inline: a cluster Secret's kubeconfig may name no file. */
function inlineKubeconfig(path: string): string {
  const doc = parse(readFileSync(path, 'utf8'));
  for (const c of doc.clusters) {
    const ca = c.cluster['certificate-authority'];
    if (ca) {
      c.cluster['certificate-authority-data'] = readFileSync(ca).toString('base64');
      delete c.cluster['certificate-authority'];
    }
  }
  return stringify(doc);
}

const MAIN = `import { readFileSync } from 'node:fs';
import { Chart, Duration } from 'cdk8s';
import { App, CloneSet, CloneSetUpdateStrategy, Fleet, Gate, Release, Step, Wave } from 'kruise-gitops';
const p = JSON.parse(readFileSync(new URL('./objects.json', import.meta.url), 'utf8'));
const app = new App();
const chart = new Chart(app, 'app', { namespace: p.namespace });
new CloneSet(chart, 'web', {
  metadata: { name: 'web' }, replicas: 2, podMetadata: { labels: { app: 'web' } },
  updateStrategy: CloneSetUpdateStrategy.reCreate({ maxUnavailable: '50%' }),
  release: Release.steps(Step.to('50%').gate(Gate.podsReady()), Step.to('100%').gate(Gate.podsReady())),
  containers: [{ name: 'main', image: p.image, securityContext: { ensureNonRoot: false, readOnlyRootFilesystem: false } }],
});
new Fleet(chart, 'fleet', Fleet.waves(
  Wave.named('staging').called('staging'),
  Wave.named('prod').called('prod').after(Gate.bake(Duration.seconds(20)), Gate.metric({
    name: 'error-ratio', prometheus: p.prometheus, query: 'sum(web_errors_total) / sum(web_requests_total)',
    successCondition: 'result < 0.05', interval: Duration.seconds(2), count: 2,
  })),
));
app.synth();
`;

function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [join(ROOT, 'bin/kgitops.mjs'), ...args], { cwd: ROOT, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

it('promotes a commit from staging to prod with a bake and a metric gate between; a killed controller resumes mid-fleet; a failing gate stops the next commit at wave 2; abort rolls staging back', async () => {
  const ns = `fleet-${Math.random().toString(16).slice(2, 8)}`;
  const mgmt = KubeCluster.load({ kubeconfig: management.kubeconfigPath });
  const clusters = { staging: KubeCluster.load({ kubeconfig: kubeconfigPath() }), prod: KubeCluster.load({ kubeconfig: prod.kubeconfigPath }) };
  for (const c of [mgmt, ...Object.values(clusters)]) await c.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } }, { fieldManager: 'test' });
  await mgmt.apply(appCrd() as unknown as KubeObject, { fieldManager: 'test' });
  await waitFor(async () => mgmt.resource(APP_API_VERSION, APP_KIND).then(() => true, () => { mgmt.invalidateDiscovery(); return false; }), { message: 'the App CRD served' });
  for (const [name, path] of [['staging', kubeconfigPath()], ['prod', prod.kubeconfigPath]] as const) {
    await mgmt.apply({
      apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace: ns, labels: { [LABEL_CLUSTER]: 'true' } },
      data: { kubeconfig: Buffer.from(inlineKubeconfig(path)).toString('base64') },
    } as unknown as KubeObject, { fieldManager: 'test' });
  }
  const repo = new GitApp(MAIN);
  const commit = (image: string) => repo.commit({ namespace: ns, image, prometheus: prometheus.url });
  const procs: ChildProcess[] = [];
  let logs = '';
  const startController = () => {
    const child = spawn(process.execPath, [join(ROOT, 'bin/kgitops.mjs'), 'controller', '--kubeconfig', management.kubeconfigPath, '-n', ns,
      '--clusters-namespace', ns, '--allow-local-repos', '--allow-controller-identity', '--no-typecheck', '--cache-dir', join(CACHE, `c${procs.length}`), '--log-format', 'json'],
    { stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr!.on('data', (d: Buffer) => { if (logs.length < 4_000_000) logs += d.toString(); });
    procs.push(child);
    return child;
  };
  const appNow = async () => (await mgmt.get({ apiVersion: APP_API_VERSION, kind: APP_KIND, namespace: ns, name: 'shop' })) as unknown as (AppObject & { status?: { fleet?: FleetStatus } }) | undefined;
  const fleet = async () => (await appNow())?.status?.fleet;
  const image = async (c: 'staging' | 'prod') => (await clusters[c].get({ apiVersion: 'apps.kruise.io/v1alpha1', kind: 'CloneSet', namespace: ns, name: 'web' }))?.spec?.template?.spec?.containers?.[0]?.image as string | undefined;
  const events = async (reason: string) => (await mgmt.list('v1', 'Event', { namespace: ns })).items.filter((e) => e.reason === reason).map((e) => ({ message: e.message as string, count: (e.count as number | undefined) ?? 1 }));
  try {
    const v1 = commit('nginx:1.25.0');
    startController();
    await mgmt.apply({ apiVersion: APP_API_VERSION, kind: APP_KIND, metadata: { name: 'shop', namespace: ns }, spec: { source: { repo: repo.dir, interval: '3s' } } } as unknown as KubeObject, { fieldManager: 'test' });
    // The first commit: staging, then (20 s bake, two good measurements) prod.
    await waitFor(async () => ((await fleet())?.release.phase === 'Completed' && (await fleet())?.release.commit === v1) || undefined, { timeoutMs: 180_000, intervalMs: 1000, message: `the first commit on both clusters; log: ${logs.slice(-3000)}` });
    expect([await image('staging'), await image('prod')]).toEqual(['nginx:1.25.0', 'nginx:1.25.0']);
    // Nothing of the app in the management cluster.
    expect(await mgmt.get({ apiVersion: 'apps.kruise.io/v1alpha1', kind: 'CloneSet', namespace: ns, name: 'web' }).catch(() => undefined)).toBeUndefined();

    // The second commit: staging releases it (its CloneSet's own steps); prod keeps v1 while the bake runs.
    const v2 = commit('nginx:1.25.1');
    await waitFor(async () => {
      const f = await fleet();
      return (f?.release.commit === v2 && f.release.wave === 1 && !f.release.waves[1]!.startedAt) || undefined;
    }, { timeoutMs: 120_000, intervalMs: 500, message: 'staging released v2, prod waiting on its gates' });
    expect(await image('staging')).toBe('nginx:1.25.1');
    expect(await image('prod')).toBe('nginx:1.25.0');
    // Killed during the bake; another controller carries on from the state in the App's status.
    procs[0]!.kill('SIGKILL');
    startController();
    await waitFor(async () => ((await fleet())?.release.phase === 'Completed' && (await fleet())?.release.commit === v2) || undefined, { timeoutMs: 180_000, intervalMs: 1000, message: 'v2 on both clusters after the restart' });
    expect(await image('prod')).toBe('nginx:1.25.1');
    // Prod's wave started once, whoever held the App (the Event is told after the state is written).
    const prodStarts = async () => (await events('FleetWaveStarted')).filter((e) => e.message.includes(`@${v2.slice(0, 12)}`) && e.message.includes('(prod)')).reduce((n, e) => n + e.count, 0);
    await waitFor(async () => (await prodStarts()) > 0 || undefined, { timeoutMs: 30_000, message: `the FleetWaveStarted Event of prod; Events: ${JSON.stringify((await mgmt.list('v1', 'Event', { namespace: ns })).items.map((e) => [e.reason, e.message]))}` });
    expect(await prodStarts()).toBe(1);

    // The third commit fails prod's metric gate: the fleet pauses at wave 2, prod keeps v2.
    exporter.set('web_errors_total', 300);
    await exporter.waitForScrapes(2);
    const v3 = commit('nginx:1.25.2');
    const paused = await waitFor(async () => {
      const f = await fleet();
      return f?.release.commit === v3 && f.release.phase === 'Paused' ? f : undefined;
    }, { timeoutMs: 180_000, intervalMs: 1000, message: 'v3 paused at wave 2' });
    expect(paused.release.wave).toBe(1);
    expect(paused.release.pause!.reason).toMatch(/^wave 2\/2 \(prod\): metric error-ratio .* failed: .*0\.3/);
    expect(await image('staging')).toBe('nginx:1.25.2');
    expect(await image('prod')).toBe('nginx:1.25.1');
    const status = await run(['status', '--kubeconfig', management.kubeconfigPath, '--app', 'shop', '-n', ns]);
    expect(status.stdout).toMatch(/fleet release \S+: Paused, wave 2\/2 \(prod\)/);

    // Abort: staging goes back to v2 (released there by its own plan), prod never had v3.
    const abort = await run(['abort', `${ns}/shop`, '--fleet', '--kubeconfig', management.kubeconfigPath]);
    expect(abort.stdout).toMatch(/^asked to abort fleet release /);
    await waitFor(async () => ((await fleet())?.release.phase === 'Aborted' && (await image('staging')) === 'nginx:1.25.1') || undefined, { timeoutMs: 120_000, intervalMs: 1000, message: 'staging rolled back to v2' });
    expect((await fleet())!.release.targets).toEqual({ staging: v2, prod: v2 });
    expect(await image('prod')).toBe('nginx:1.25.1');
  } finally {
    for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL');
    repo.remove();
  }
}, 600_000);

it('three commits while the controller is SIGKILLed every 6-14 s, the third superseding the second mid-fleet: no wave is skipped or started twice, and every write in a workload cluster is the App\'s ServiceAccount', async () => {
  const ns = `fleetk-${Math.random().toString(16).slice(2, 8)}`;
  exporter.set('web_errors_total', 0);
  await exporter.waitForScrapes(2);
  const mgmt = KubeCluster.load({ kubeconfig: management.kubeconfigPath });
  const clusters = { staging: KubeCluster.load({ kubeconfig: kubeconfigPath() }), prod: KubeCluster.load({ kubeconfig: prod.kubeconfigPath }) };
  await mgmt.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } }, { fieldManager: 'test' });
  await mgmt.apply({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'deployer', namespace: ns } }, { fieldManager: 'test' });
  // In each workload cluster, the App's ServiceAccount may do what its objects need in its namespace, no more.
  for (const c of Object.values(clusters)) {
    await c.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } }, { fieldManager: 'test' });
    await c.apply({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'deployer', namespace: ns } }, { fieldManager: 'test' });
    await c.apply({
      apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'deployer', namespace: ns },
      rules: [{ apiGroups: ['apps.kruise.io'], resources: ['*'], verbs: ['*'] }, { apiGroups: [''], resources: ['pods', 'events', 'configmaps'], verbs: ['*'] }],
    } as unknown as KubeObject, { fieldManager: 'test' });
    await c.apply({
      apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'deployer', namespace: ns },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'deployer' },
      subjects: [{ kind: 'ServiceAccount', name: 'deployer', namespace: ns }],
    } as unknown as KubeObject, { fieldManager: 'test' });
  }
  await mgmt.apply(appCrd() as unknown as KubeObject, { fieldManager: 'test' });
  await waitFor(async () => mgmt.resource(APP_API_VERSION, APP_KIND).then(() => true, () => { mgmt.invalidateDiscovery(); return false; }), { message: 'the App CRD served' });
  // Staging is reached as the audited admin: the audit log says who each write was made as.
  for (const [name, path] of [['staging', auditedKubeconfigPath()], ['prod', prod.kubeconfigPath]] as const) {
    await mgmt.apply({
      apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace: ns, labels: { [LABEL_CLUSTER]: 'true' } },
      data: { kubeconfig: Buffer.from(inlineKubeconfig(path)).toString('base64') },
    } as unknown as KubeObject, { fieldManager: 'test' });
  }
  const since = new Date().toISOString();
  const repo = new GitApp(MAIN);
  const commit = (image: string) => repo.commit({ namespace: ns, image, prometheus: prometheus.url });
  let child: ChildProcess | undefined;
  let logs = '';
  let kills = 0;
  let stopped = false;
  // One cache directory for all of them, as a restarted pod keeps its volume.
  const start = () => {
    child = spawn(process.execPath, [join(ROOT, 'bin/kgitops.mjs'), 'controller', '--kubeconfig', management.kubeconfigPath, '-n', ns,
      '--clusters-namespace', ns, '--allow-local-repos', '--no-typecheck', '--cache-dir', join(CACHE, 'killed'), '--log-format', 'json'],
    { stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr!.on('data', (d: Buffer) => { if (logs.length < 4_000_000) logs += d.toString(); });
  };
  const killer = (async () => {
    while (!stopped) {
      await new Promise((r) => setTimeout(r, 6000 + Math.random() * 8000));
      if (stopped) break;
      child?.kill('SIGKILL');
      kills++;
      start();
    }
  })();
  const appNow = async () => (await mgmt.get({ apiVersion: APP_API_VERSION, kind: APP_KIND, namespace: ns, name: 'shop' })) as unknown as (AppObject & { status?: { fleet?: FleetStatus } }) | undefined;
  const image = async (c: 'staging' | 'prod') => (await clusters[c].get({ apiVersion: 'apps.kruise.io/v1alpha1', kind: 'CloneSet', namespace: ns, name: 'web' }))?.spec?.template?.spec?.containers?.[0]?.image as string | undefined;
  // Every state seen: a wave's start, once set, never changes (started twice would move it), and
  // prod never runs a commit before staging's wave of it is done.
  const startedAt = new Map<string, string>();
  const seen: string[] = [];
  const violations: string[] = [];
  const prodImages = new Set<string>();
  const observe = async (sha: string, img: string) => {
    const prodImage = await image('prod');
    if (prodImage) prodImages.add(prodImage);
    const f = (await appNow())?.status?.fleet?.release;
    if (!f || f.commit !== sha) return undefined;
    f.waves.forEach((w, i) => {
      if (!w.startedAt) return;
      const k = `${sha.slice(0, 7)}/${i}`;
      if (!startedAt.has(k)) startedAt.set(k, w.startedAt);
      if (w.startedAt !== startedAt.get(k)) violations.push(`wave ${i} of ${sha.slice(0, 7)} started again: ${startedAt.get(k)}, then ${w.startedAt}`);
    });
    if (prodImage === img && !f.waves[0]!.doneAt) violations.push(`prod got ${img} before staging's wave was done`);
    seen.push(`${sha.slice(0, 7)} ${f.phase} wave ${f.wave}`);
    return f;
  };
  try {
    start();
    await mgmt.apply({ apiVersion: APP_API_VERSION, kind: APP_KIND, metadata: { name: 'shop', namespace: ns }, spec: { source: { repo: repo.dir, interval: '3s' }, serviceAccountName: 'deployer' } } as unknown as KubeObject, { fieldManager: 'test' });
    const shas: string[] = [];
    const release = async (img: string, until: (f: NonNullable<Awaited<ReturnType<typeof observe>>>) => boolean) => {
      const sha = commit(img);
      shas.push(sha);
      const f = await waitFor(async () => { const x = await observe(sha, img); return x && until(x) ? x : undefined; }, { timeoutMs: 240_000, intervalMs: 500, message: `${img}` })
        .catch(async (e: Error) => { throw new Error(`${e.message} (${kills} kills); states seen: ${[...new Set(seen)].join(', ')}; history: ${JSON.stringify((await appNow())?.status?.fleet?.release.history)}; log: ${logs.slice(-3000)}`); });
      expect(violations).toEqual([]);
      return f;
    };
    const completed = (f: { phase: string }) => f.phase === 'Completed';
    let done = await release('nginx:1.25.0', completed);
    expect(done.waves.every((w) => w.startedAt && w.doneAt)).toBe(true);
    expect([await image('staging'), await image('prod')]).toEqual(['nginx:1.25.0', 'nginx:1.25.0']);
    // The second commit is done in staging and baking before prod when the third one comes: it
    // supersedes the second, and prod goes from the first straight to the third.
    await release('nginx:1.25.1', (f) => !!f.waves[0]!.doneAt && !f.waves[1]!.startedAt);
    expect([await image('staging'), await image('prod')]).toEqual(['nginx:1.25.1', 'nginx:1.25.0']);
    done = await release('nginx:1.25.2', completed);
    expect(done.waves.every((w) => w.startedAt && w.doneAt)).toBe(true);
    expect(done.previous).toEqual({ staging: shas[1], prod: shas[0] });
    expect([await image('staging'), await image('prod')]).toEqual(['nginx:1.25.2', 'nginx:1.25.2']);
    expect(prodImages).not.toContain('nginx:1.25.1');
    stopped = true;
    await killer;
    expect(kills).toBeGreaterThan(3);
    const superseded = (await mgmt.list('v1', 'Event', { namespace: ns })).items.filter((e) => e.reason === 'FleetSuperseded').map((e) => String(e.message));
    expect(superseded.some((m) => m.includes(`@${shas[1]!.slice(0, 12)} superseded by commit ${shas[2]!.slice(0, 12)}`)), superseded.join('; ')).toBe(true);
    // No wave started twice, as the Events say too (an Event is told after the state is written,
    // so a kill in between may lose one, never send two).
    const started = (await mgmt.list('v1', 'Event', { namespace: ns })).items.filter((e) => e.reason === 'FleetWaveStarted');
    for (const sha of shas) {
      for (const wave of ['(staging)', '(prod)']) {
        const n = started.filter((e) => String(e.message).includes(`@${sha.slice(0, 12)}`) && String(e.message).includes(wave)).reduce((a, e) => a + ((e.count as number | undefined) ?? 1), 0);
        expect(n, `FleetWaveStarted ${wave} for ${sha.slice(0, 7)}`).toBeLessThanOrEqual(1);
      }
    }
    // Every write in the App's namespace in staging was made as the App's ServiceAccount.
    const writes = readFileSync(auditLogPath(), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { stageTimestamp: string; objectRef?: { namespace?: string; resource?: string }; impersonatedUser?: { username: string } })
      .filter((e) => e.objectRef?.namespace === ns && e.stageTimestamp >= since);
    expect(writes.length).toBeGreaterThan(5);
    process.stderr.write(`[fleet] ${kills} SIGKILLs over three commits; ${writes.length} audited writes in staging, all as the App's ServiceAccount\n`);
    expect([...new Set(writes.map((e) => e.impersonatedUser?.username ?? 'the admin itself'))]).toEqual([`system:serviceaccount:${ns}:deployer`]);
  } finally {
    stopped = true;
    child?.kill('SIGKILL');
    repo.remove();
  }
}, 900_000);

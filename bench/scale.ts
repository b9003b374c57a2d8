/**
 * The controller at scale, as an operator runs it: three `kgitops controller` processes
 * (--shards 6, Leases) on a real kube-apiserver with the real kruise-manager (level b, started
 * here), holding many Apps of one monorepo, each with many CloneSets. It measures:
 *   - the time from declaring every App until every App is Ready;
 *   - a commit touching one App, pushed to one replica's webhook, until it is applied (p50, p90);
 *   - the API requests (and writes) per minute in steady state, from each replica's /metrics;
 *   - per-replica RSS and CPU while steady;
 *   - the time until a SIGKILLed replica's Apps are reconciled by the others.
 *
 *   npx tsx bench/scale.ts [--apps 300] [--workloads 10000] [--pod-replicas 0] [--steady-s 60]
 *                          [--replicas 3] [--compiled]
 *
 * --compiled runs the replicas from dist/ (npm run build first), as the published package and the
 * image run them; without it they run from the checkout's TypeScript through tsx, which costs
 * memory of its own. With --replicas 1 there is no hand-over to measure.
 *
 * The CloneSets have no pods by default (--pod-replicas 0): the machine runs the apiserver, etcd,
 * kruise-manager and the three replicas; pods on kwok nodes would measure kruise-manager.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KubeCluster } from '../engine/cluster/kube.js';
import type { KubeObject } from '../engine/cluster/types.js';
import { APP_API_VERSION, APP_KIND, type AppObject, appCrd } from '../engine/controller/app-resource.js';
import { startControlPlane } from '../test/cluster/controlplane.js';
import { git, initRepo } from '../test/fixtures/git.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const arg = (name: string, d: number) => { const i = process.argv.indexOf(`--${name}`); return i > 0 ? Number(process.argv[i + 1]) : d; };
const APPS = arg('apps', 300);
const WORKLOADS = arg('workloads', 10_000);
const POD_REPLICAS = arg('pod-replicas', 0);
const STEADY_S = arg('steady-s', 60);
const REPLICAS = arg('replicas', 3);
const COMPILED = process.argv.includes('--compiled');
/** --logs <dir>: each replica's log (JSON lines) in <dir>/<replica>.log. */
const LOGS = process.argv.includes('--logs') ? process.argv[process.argv.indexOf('--logs') + 1] : undefined;
const TENANTS = 10;
const quantile = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))]!;
const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const log = (m: string) => process.stderr.write(`[scale] ${m}\n`);

const MAIN = `import { readFileSync } from 'node:fs';
import { Chart } from 'cdk8s';
import { App, CloneSet } from 'kruise-gitops';
const p = JSON.parse(readFileSync(new URL('./objects.json', import.meta.url), 'utf8'));
const app = new App();
const chart = new Chart(app, 'app', { namespace: p.namespace });
for (let i = 0; i < p.count; i++) {
  new CloneSet(chart, 'w' + i, {
    metadata: { name: p.app + '-w' + i }, replicas: p.replicas,
    containers: [{ name: 'main', image: i === 0 ? p.image : 'registry.example.com/web:1', securityContext: { ensureNonRoot: false, readOnlyRootFilesystem: false } }],
  });
}
app.synth();
`;

function procStat(pid: number): { rss: number; peak: number; cpuMs: number } {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const rss = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
    const peak = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return { rss, peak, cpuMs: ((Number(f[11]) + Number(f[12])) * 1000) / 100 };
  } catch {
    return { rss: 0, peak: 0, cpuMs: 0 };
  }
}

/** Sum of a counter over its series, from a replica's /metrics; `match` filters the label text. */
async function counter(port: number, name: string, match: (labels: string) => boolean = () => true): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  let total = 0;
  for (const line of text.split('\n')) {
    const m = new RegExp(`^${name}(\\{[^}]*\\})? (\\S+)$`).exec(line);
    if (m && match(m[1] ?? '')) total += Number(m[2]);
  }
  return total;
}

/** A replica's write requests (patch, create, update, delete) by resource, from its /metrics. */
async function writesByResource(port: number): Promise<Map<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^kgitops_api_requests_total\{([^}]*)\} (\S+)$/.exec(line);
    if (!m || !/verb="(patch|create|update|delete)"/.test(m[1]!)) continue;
    const resource = /resource="([^"]*)"/.exec(m[1]!)?.[1] ?? '?';
    out.set(resource, (out.get(resource) ?? 0) + Number(m[2]));
  }
  return out;
}

async function main(): Promise<void> {
  const perApp = Math.ceil(WORKLOADS / APPS);
  log(`${APPS} Apps x ${perApp} CloneSets (${POD_REPLICAS} pods each), ${REPLICAS} replicas`);
  const cp = await startControlPlane({ level: 'b', log: () => {} });
  const admin = KubeCluster.load({ kubeconfig: cp.kubeconfigPath });
  const cache = mkdtempSync(join(tmpdir(), 'kgitops-scale-'));
  const repo = join(cache, 'repo');
  initRepo(repo);
  const write = (i: number, image: string) => {
    const d = join(repo, 'apps', `app-${i}`);
    mkdirSync(d, { recursive: true });
    writeFileSync(join(d, 'cdk8s.yaml'), 'app: npx tsx main.ts\n');
    writeFileSync(join(d, 'main.ts'), MAIN);
    writeFileSync(join(d, 'objects.json'), JSON.stringify({ namespace: `scale-t${i % TENANTS}`, app: `app-${i}`, count: perApp, replicas: POD_REPLICAS, image }));
  };
  const commit = (m: string) => { git(repo, 'add', '-A'); git(repo, 'commit', '-q', '-m', m); return git(repo, 'rev-parse', 'HEAD'); };
  for (let i = 0; i < APPS; i++) write(i, 'registry.example.com/web:1');
  commit('apps');
  const procs: { id: string; child: ChildProcess; metrics: number; hook: number }[] = [];
  let stopping = false;
  let victimId: string | undefined;
  if (LOGS) mkdirSync(LOGS, { recursive: true });
  const secret = 'scale-secret';
  try {
    await admin.apply(appCrd() as KubeObject, { fieldManager: 'bench' });
    for (const ns of ['kgitops-system', ...Array.from({ length: TENANTS }, (_, t) => `scale-t${t}`)]) await admin.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } }, { fieldManager: 'bench' });
    for (let r = 0; r < 60; r++) { try { await admin.resource(APP_API_VERSION, APP_KIND); break; } catch { admin.invalidateDiscovery(); await new Promise((x) => setTimeout(x, 500)); } }
    const base = 30_000 + Math.floor(Math.random() * 20_000);
    for (let r = 0; r < REPLICAS; r++) {
      const id = `r${r}`;
      const metrics = base + r;
      const hook = base + 10 + r;
      const entry = COMPILED ? join(ROOT, 'dist/engine/cli/main.js') : join(ROOT, 'bin/kgitops.mjs');
      const child = spawn(process.execPath, [entry, 'controller', '--kubeconfig', cp.kubeconfigPath, '--shards', '6', '--lease-namespace', 'kgitops-system',
        '--replica-id', id, '--allow-local-repos', '--allow-controller-identity', '--no-typecheck', '--cache-dir', join(cache, id), '--log-format', 'json',
        '--metrics-port', String(metrics), '--webhook-port', String(hook)], { stdio: ['ignore', 'ignore', LOGS ? openSync(join(LOGS, `${id}.log`), 'w') : 'ignore'], env: { ...process.env, KGITOPS_WEBHOOK_SECRET: secret } });
      child.on('exit', (code, signal) => { if (!stopping && id !== victimId) log(`replica ${id} exited (${signal ?? code})${LOGS ? `: see ${join(LOGS, `${id}.log`)}` : ''}`); });
      procs.push({ id, child, metrics, hook });
    }
    const t0 = Date.now();
    for (let i = 0; i < APPS; i++) {
      await admin.apply({
        apiVersion: APP_API_VERSION, kind: APP_KIND, metadata: { name: `app-${i}`, namespace: `scale-t${i % TENANTS}` },
        spec: { source: { repo, path: `apps/app-${i}`, interval: '5m' } },
      } as KubeObject, { fieldManager: 'bench' });
    }
    const apps = async () => (await admin.list(APP_API_VERSION, APP_KIND, {})).items as unknown as AppObject[];
    for (;;) {
      const list = await apps();
      const ready = list.filter((a) => a.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True').length;
      if (ready === APPS) break;
      if (Date.now() - t0 > 60 * 60_000) throw new Error(`only ${ready} of ${APPS} Apps Ready after an hour`);
      if ((Date.now() - t0) % 30_000 < 2_000) log(`${ready}/${APPS} Ready after ${s(Date.now() - t0)}`);
      await new Promise((x) => setTimeout(x, 2_000));
    }
    const readyMs = Date.now() - t0;
    log(`every App Ready in ${s(readyMs)}`);

    // A commit touching one App, pushed to r0's webhook, until applied.
    const latencies: number[] = [];
    for (let v = 2; v <= 11; v++) {
      write(0, `registry.example.com/web:${v}`);
      const sha = commit(`app-0 v${v}`);
      const body = JSON.stringify({ ref: 'refs/heads/main', after: sha, repository: repo });
      const sent = Date.now();
      await fetch(`http://127.0.0.1:${procs[0]!.hook}/hooks/generic`, { method: 'POST', body, headers: { 'Content-Type': 'application/json', 'X-Signature-256': `sha256=${createHmac('sha256', secret).update(body).digest('hex')}` } });
      for (;;) {
        const a = (await admin.get({ apiVersion: APP_API_VERSION, kind: APP_KIND, namespace: 'scale-t0', name: 'app-0' })) as unknown as AppObject;
        if (a.status?.appliedCommit === sha) break;
        await new Promise((x) => setTimeout(x, 100));
      }
      latencies.push(Date.now() - sent);
    }
    // Let every App record the pushed commits (every replica's queue empty three times in a row,
    // 2 s apart) before measuring the steady state.
    const settled = Date.now();
    for (let quiet = 0; quiet < 3;) {
      const depth = (await Promise.all(procs.map((p) => counter(p.metrics, 'kgitops_queue_depth')))).reduce((a, b) => a + b, 0);
      quiet = depth === 0 ? quiet + 1 : 0;
      await new Promise((x) => setTimeout(x, 2_000));
    }
    log(`queues empty ${s(Date.now() - settled)} after the last push`);
    await new Promise((x) => setTimeout(x, 10_000));

    // Steady state.
    const before = await Promise.all(procs.map(async (p) => ({
      byResource: await writesByResource(p.metrics),
      requests: await counter(p.metrics, 'kgitops_api_requests_total'),
      writes: await counter(p.metrics, 'kgitops_api_requests_total', (l) => /verb="(patch|create|update|delete)"/.test(l)),
      ...procStat(p.child.pid!),
    })));
    await new Promise((x) => setTimeout(x, STEADY_S * 1000));
    const after = await Promise.all(procs.map(async (p) => ({
      byResource: await writesByResource(p.metrics),
      requests: await counter(p.metrics, 'kgitops_api_requests_total'),
      writes: await counter(p.metrics, 'kgitops_api_requests_total', (l) => /verb="(patch|create|update|delete)"/.test(l)),
      ...procStat(p.child.pid!),
    })));
    const perMin = (k: 'requests' | 'writes') => procs.map((_, i) => Math.round(((after[i]![k] - before[i]![k]) / STEADY_S) * 60));
    const writesBy = new Map<string, number>();
    for (const [i] of procs.entries()) {
      for (const [r, n] of after[i]!.byResource) writesBy.set(r, (writesBy.get(r) ?? 0) + n - (before[i]!.byResource.get(r) ?? 0));
    }
    const writesLine = [...writesBy].filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1]).map(([r, n]) => `${r} ${Math.round((n / STEADY_S) * 60)}`).join(', ');
    const cpu = procs.map((_, i) => Math.round(((after[i]!.cpuMs - before[i]!.cpuMs) / (STEADY_S * 1000)) * 1000) / 10);

    // Kill the replica holding app-0 (with one replica, nobody is left to take its Apps).
    let handOver = '';
    if (REPLICAS > 1) {
      const holder = ((await admin.get({ apiVersion: APP_API_VERSION, kind: APP_KIND, namespace: 'scale-t0', name: 'app-0' })) as unknown as AppObject).status?.heldBy?.replica;
      const victim = procs.find((p) => p.id === holder) ?? procs[0]!;
      const itsApps = (await apps()).filter((a) => a.status?.heldBy?.replica === victim.id).map((a) => `${a.metadata.namespace}/${a.metadata.name}`);
      victimId = victim.id;
      victim.child.kill('SIGKILL');
      const killed = Date.now();
      for (;;) {
        const list = await apps();
        // The new holder writes status.heldBy once it has reconciled the App (a steady App's
        // reconcile writes nothing else, so lastReconcile.time does not move).
        const left = list.filter((a) => itsApps.includes(`${a.metadata.namespace}/${a.metadata.name}`) && a.status?.heldBy?.replica === victim.id);
        if (!left.length) break;
        if (Date.now() - killed > 15 * 60_000) throw new Error(`${left.length} Apps of the killed replica not reconciled again after 15 min`);
        await new Promise((x) => setTimeout(x, 500));
      }
      handOver = `a killed replica's ${itsApps.length} Apps reconciled again by the others: ${s(Date.now() - killed)} after the SIGKILL`;
    }

    const lines = [
      `${APPS} Apps, ${perApp * APPS} CloneSets (${POD_REPLICAS} pods each), ${REPLICAS} controller replica(s) ${COMPILED ? 'from dist/' : 'through tsx'}, 6 shards, on ${cp.level === 'b' ? 'kube-apiserver + kruise-manager (kwok)' : cp.level}`,
      `every App Ready: ${s(readyMs)} after they were declared`,
      `one App's commit, pushed to one replica, until applied: p50 ${s(quantile(latencies, 0.5))}, p90 ${s(quantile(latencies, 0.9))} (${latencies.length} commits)`,
      `steady state over ${STEADY_S} s: API requests/min per replica ${perMin('requests').join(', ')}; writes/min ${perMin('writes').join(', ')} (all replicas, by resource: ${writesLine || 'none'})`,
      `per replica while steady: RSS ${after.map((a) => `${Math.round(a.rss / 2 ** 20)} MiB`).join(', ')} (peak since start ${after.map((a) => `${Math.round(a.peak / 2 ** 20)} MiB`).join(', ')}); CPU ${cpu.map((c) => `${c}%`).join(', ')} of a core`,
      ...(handOver ? [handOver] : []),
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    stopping = true;
    for (const p of procs) p.child.kill('SIGKILL');
    await cp.stop();
    rmSync(cache, { recursive: true, force: true });
  }
}

main().catch((e) => { process.stderr.write(`${(e as Error).stack}\n`); process.exit(1); });

/**
 * Sync engine benchmarks against a real kube-apiserver (started here from the control-plane
 * cache, level a; or the cluster of $KUBECONFIG when --use-kubeconfig is given):
 *
 *   1. no-op reconcile of 1,000 objects (the same commit again): time and writes
 *      (bar: under 2 s and zero writes); also a new commit that changes no object
 *   2. webhook-to-applied latency of a one-object change in a 100-workload repo, with the engine
 *      running as its own process, with its sandbox and with --unsafe-no-sandbox (bar: p50
 *      under 1 s sandboxed), for pushes 1.5 s apart and back to back
 *   3. the engine's memory (RSS of the engine process) while it manages 1,000 objects
 *
 *   npx tsx bench/sync.ts
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KubeCluster } from '../engine/cluster/kube.js';
import { gitSource } from '../engine/cli/sync.js';
import { realClock } from '../engine/clock.js';
import { loadConfig } from '../engine/config.js';
import { createLogger } from '../engine/log.js';
import { Reconciler } from '../engine/reconciler.js';
import { configMap, GitApp } from '../test/fixtures/git-app.js';
import { startControlPlane } from '../test/cluster/controlplane.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const quantile = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))];
const ms = (x: number) => `${Math.round(x)} ms`;

function rssOf(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** Spec of 1,000 objects: 250 CloneSets (DSL), 250 Services, 500 ConfigMaps. */
function bigSpec(ns: string, version: string) {
  const objects: any[] = [];
  for (let i = 0; i < 500; i++) objects.push(configMap(`cfg-${i}`, { version, index: String(i) }));
  for (let i = 0; i < 250; i++) {
    objects.push({ apiVersion: 'v1', kind: 'Service', metadata: { name: `svc-${i}` }, spec: { selector: { app: `web-${i}` }, ports: [{ port: 80, targetPort: 8080 }] } });
  }
  return { namespace: ns, objects, clonesets: Array.from({ length: 250 }, (_, i) => ({ name: `web-${i}`, replicas: 3, image: `registry.example.com/web:${version}` })) };
}

async function main(): Promise<void> {
  const log = (m: string) => process.stderr.write(`${m}\n`);
  const cp = process.argv.includes('--use-kubeconfig') ? undefined : await startControlPlane({ level: 'a', log: () => {} });
  const kubeconfig = cp?.kubeconfigPath ?? process.env.KUBECONFIG!;
  const cache = mkdtempSync(join(tmpdir(), 'kgitops-bench-'));
  const cluster = KubeCluster.load({ kubeconfig });
  const results: string[] = [];
  try {
    // --- 1. no-op reconcile of 1,000 objects --------------------------------------------------
    const ns = 'bench-noop';
    await cluster.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } }, { fieldManager: 'bench' });
    const repo = new GitApp();
    repo.commit({ ...bigSpec(ns, '1') });
    const config = loadConfig({ repo: repo.dir, app: 'bench', namespace: ns, cacheDir: cache });
    const reconciler = new Reconciler(config, cluster, gitSource(config), realClock, createLogger({ level: 'silent' }));
    let t = performance.now();
    const first = await reconciler.reconcile();
    const firstMs = performance.now() - t;
    log(`first apply of 1,000 objects: ${first.result}, ${ms(firstMs)}, ${first.writes} writes`);
    const noops: number[] = [];
    let noopWrites = 0;
    for (let i = 0; i < 7; i++) {
      t = performance.now();
      const r = await reconciler.reconcile();
      noops.push(performance.now() - t);
      noopWrites += r.writes;
      if (r.result !== 'NoChange') throw new Error(`expected NoChange, got ${r.result}: ${r.message}`);
    }
    repo.commit({ ...bigSpec(ns, '1') }, 'touch nothing', { 'README.md': 'docs only\n' });
    t = performance.now();
    const newCommit = await reconciler.reconcile();
    const newCommitMs = performance.now() - t;
    results.push(
      `no-op reconcile, 1,000 objects (same commit): p50 ${ms(quantile(noops, 0.5))}, max ${ms(Math.max(...noops))}, writes ${noopWrites} over ${noops.length} runs`,
      `new commit that changes no object (synth in a child process + plan): ${ms(newCommitMs)}, ${newCommit.result}, ${newCommit.writes} writes`,
      `first apply of 1,000 objects (all created): ${ms(firstMs)}`,
    );

    // --- 2 + 3. the engine as a process: webhook latency, memory ----------------------------
    for (const mode of ['sandboxed', 'unsandboxed'] as const) {
    const ns2 = `bench-webhook-${mode}`;
    await cluster.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns2 } }, { fieldManager: 'bench' });
    const repo2 = new GitApp();
    const spec2 = (v: number) => ({
      namespace: ns2, objects: [configMap('marker', { v: String(v) })],
      clonesets: Array.from({ length: 100 }, (_, i) => ({ name: `web-${i}`, replicas: 2, image: `registry.example.com/web:${i === 0 ? v : 1}` })),
    });
    repo2.commit(spec2(0));
    const secret = 'bench-secret';
    const port = 21000 + Math.floor(Math.random() * 10000);
    const engine: ChildProcess = spawn(process.execPath, [join(ROOT, 'bin/kgitops.mjs'), 'sync', '--repo', repo2.dir, '--app', `bench2-${mode}`, '-n', ns2,
      '--kubeconfig', kubeconfig, '--cache-dir', cache, '--interval', '1h', '--webhook-port', String(port), '--log-format', 'json',
      ...(mode === 'unsandboxed' ? ['--unsafe-no-sandbox'] : [])],
    { env: { ...process.env, KGITOPS_WEBHOOK_SECRET: secret }, stdio: ['ignore', 'ignore', 'pipe'] });
    let peakRss = 0;
    const sampler = setInterval(() => { peakRss = Math.max(peakRss, rssOf(engine.pid!)); }, 100);
    const cloneSet0 = async () => (await cluster.get({ apiVersion: 'apps.kruise.io/v1alpha1', kind: 'CloneSet', namespace: ns2, name: 'web-0' }))?.spec?.template?.spec?.containers?.[0]?.image;
    for (let i = 0; i < 600 && (await cloneSet0()) !== 'registry.example.com/web:0'; i++) await realClock.sleep(100);
    // Pushes 1.5 s apart (each finds the next synth worker ready), then back to back (the next
    // push the moment the previous one is applied: the worker the last push used is still being
    // replaced, so this is the engine's rate, not one push's latency).
    const latencies: number[] = [];
    const backToBack: number[] = [];
    for (let v = 1; v <= 20; v++) {
      const sha = repo2.commit(spec2(v), `release ${v}`);
      const body = JSON.stringify({ ref: 'refs/heads/main', after: sha });
      const sent = performance.now();
      const res = await fetch(`http://127.0.0.1:${port}/hooks/generic`, {
        method: 'POST', body, headers: { 'X-Signature-256': `sha256=${createHmac('sha256', secret).update(body).digest('hex')}` },
      });
      if (res.status !== 202) throw new Error(`webhook answered ${res.status}`);
      while ((await cloneSet0()) !== `registry.example.com/web:${v}`) await realClock.sleep(20);
      (v <= 10 ? latencies : backToBack).push(performance.now() - sent);
      if (v < 10) await realClock.sleep(1500);
    }
    const steadyRss = rssOf(engine.pid!);
    clearInterval(sampler);
    engine.kill('SIGTERM');
    results.push(
      `${mode}: webhook-to-applied, one-object change in a 100-workload repo: p50 ${ms(quantile(latencies, 0.5))}, p90 ${ms(quantile(latencies, 0.9))}, min ${ms(Math.min(...latencies))} (${latencies.length} pushes 1.5 s apart)`,
      `${mode}: the same, pushes back to back: p50 ${ms(quantile(backToBack, 0.5))}, p90 ${ms(quantile(backToBack, 0.9))} (${backToBack.length} pushes)`,
      `${mode}: engine process RSS managing 101 objects: peak ${Math.round(peakRss / 2 ** 20)} MiB, steady ${Math.round(steadyRss / 2 ** 20)} MiB`,
    );
    repo2.remove();
  }

    // --- 3. memory while managing 1,000 objects (engine process, no-op reconciles) ----------
    const engine3 = spawn(process.execPath, [join(ROOT, 'bin/kgitops.mjs'), 'sync', '--repo', repo.dir, '--app', 'bench', '-n', ns,
      '--kubeconfig', kubeconfig, '--cache-dir', cache, '--interval', '2s', '--log-format', 'json'], { stdio: ['ignore', 'ignore', 'ignore'] });
    let peak3 = 0;
    const samples: number[] = [];
    for (let i = 0; i < 150; i++) {
      await realClock.sleep(100);
      const r = rssOf(engine3.pid!);
      peak3 = Math.max(peak3, r);
      samples.push(r);
    }
    engine3.kill('SIGTERM');
    results.push(`engine process RSS managing 1,000 objects (synth + no-op reconciles every 2 s for 15 s): peak ${Math.round(peak3 / 2 ** 20)} MiB, last ${Math.round(samples[samples.length - 1] / 2 ** 20)} MiB`);
    repo.remove();
  } finally {
    await cp?.stop();
    rmSync(cache, { recursive: true, force: true });
  }
  console.log(results.join('\n'));
}

await main();

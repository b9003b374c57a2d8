/**
 * The first apply of 1,000 objects (500 ConfigMaps, 250 Services, 250 CloneSets) on a real
 * kube-apiserver (level a, started here; or $KUBECONFIG's cluster with --use-kubeconfig),
 * through the sync engine's reconcile, with the time split into fetch, synth and the rest
 * (plan, dry-run of every object, the writes). Bar: the apply itself under 2 s.
 *
 *   npx tsx bench/apply.ts [--concurrency 8,16,32]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeCluster } from '../engine/cluster/kube.js';
import { gitSource } from '../engine/cli/sync.js';
import { realClock } from '../engine/clock.js';
import { loadConfig } from '../engine/config.js';
import { createLogger } from '../engine/log.js';
import { Reconciler } from '../engine/reconciler.js';
import { configMap, GitApp } from '../test/fixtures/git-app.js';
import { startControlPlane } from '../test/cluster/controlplane.js';

function spec(ns: string) {
  const objects: unknown[] = [];
  for (let i = 0; i < 500; i++) objects.push(configMap(`cfg-${i}`, { index: String(i) }));
  for (let i = 0; i < 250; i++) objects.push({ apiVersion: 'v1', kind: 'Service', metadata: { name: `svc-${i}` }, spec: { selector: { app: `web-${i}` }, ports: [{ port: 80, targetPort: 8080 }] } });
  return { namespace: ns, objects, clonesets: Array.from({ length: 250 }, (_, i) => ({ name: `web-${i}`, replicas: 3, image: 'registry.example.com/web:1' })) };
}

async function main(): Promise<void> {
  const arg = process.argv.indexOf('--concurrency');
  const levels = arg > 0 ? process.argv[arg + 1]!.split(',').map(Number) : [undefined];
  const cp = process.argv.includes('--use-kubeconfig') ? undefined : await startControlPlane({ level: 'a', log: () => {} });
  const kubeconfig = cp?.kubeconfigPath ?? process.env.KUBECONFIG!;
  const cache = mkdtempSync(join(tmpdir(), 'kgitops-bench-apply-'));
  const cluster = KubeCluster.load({ kubeconfig });
  try {
    for (const [i, concurrency] of levels.entries()) {
      const ns = `bench-apply-${i}`;
      await cluster.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } }, { fieldManager: 'bench' });
      const repo = new GitApp();
      repo.commit(spec(ns));
      const config = loadConfig({ repo: repo.dir, app: `bench-apply-${i}`, namespace: ns, cacheDir: cache });
      const reconciler = new Reconciler(config, cluster, gitSource(config), realClock, createLogger({ level: 'silent' }));
      const t = performance.now();
      const r = await reconciler.reconcile();
      const total = performance.now() - t;
      if (r.result !== 'Succeeded') throw new Error(`${r.result}: ${r.message}`);
      const rest = total - (r.timings?.fetchMs ?? 0) - (r.timings?.synthMs ?? 0);
      process.stdout.write(`first apply of 1,000 objects${concurrency ? `, ${concurrency} at once` : ''}: ${Math.round(total)} ms in all; fetch ${Math.round(r.timings?.fetchMs ?? 0)} ms, synth ${Math.round(r.timings?.synthMs ?? 0)} ms, plan + dry-run + apply ${Math.round(rest)} ms (${r.writes} writes, ${Math.round(r.writes / (rest / 1000))} writes/s)\n`);
      reconciler.close();
      repo.remove();
    }
  } finally {
    rmSync(cache, { recursive: true, force: true });
    await cp?.stop();
  }
}

main().catch((e) => { process.stderr.write(`${(e as Error).stack}\n`); process.exit(1); });

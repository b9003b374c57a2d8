/**
 * `kgitops controller` at the size of a small platform: 100 Apps (one per tenant namespace, each
 * as its own ServiceAccount) of 10 CloneSets each, all paths of one monorepo, on the real
 * apiserver with the real kruise-manager (control-plane level b; CloneSets of 0 replicas, so
 * the numbers are the controller's and not kwok's pods). The controller runs as its own process,
 * as users run it, with its sandbox.
 *
 *   1. time from the controller's start until every App is Ready
 *   2. a commit touching one App until that App has applied it, through the webhook (p50, p90),
 *      and how many Apps were synthesized again for it
 *   3. the controller process's RSS (peak, and steady after the pushes)
 *
 *   npm run bench:controller [-- --apps 100 --pushes 10]
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KubeCluster } from '../engine/cluster/kube.js';
import type { KubeObject } from '../engine/cluster/types.js';
import { realClock } from '../engine/clock.js';
import { APP_API_VERSION, APP_KIND, type AppObject, appCrd } from '../engine/controller/app-resource.js';
import { startControlPlane } from '../test/cluster/controlplane.js';
import { git, initRepo } from '../test/fixtures/git.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const arg = (name: string, d: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : d;
};
const APPS = arg('apps', 100);
const PUSHES = arg('pushes', 10);
const quantile = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))]!;
const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

function rssOf(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

const MAIN = `import { readFileSync } from 'node:fs';
import { Chart } from 'cdk8s';
import { App, CloneSet } from 'kruise-gitops';

const spec = JSON.parse(readFileSync(new URL('./workloads.json', import.meta.url), 'utf8'));
const app = new App();
const chart = new Chart(app, 'app', { namespace: spec.namespace });
for (const w of spec.workloads) {
  new CloneSet(chart, w.name, { metadata: { name: w.name }, replicas: 0, containers: [{ name: 'main', image: w.image }] });
}
app.synth();
`;

async function main(): Promise<void> {
  const say = (m: string) => process.stderr.write(`${m}\n`);
  say(`starting the control plane (level b: kruise-manager) ...`);
  const cp = await startControlPlane({ level: 'b', log: () => {} });
  const cluster = KubeCluster.load({ kubeconfig: cp.kubeconfigPath });
  const cache = mkdtempSync(join(tmpdir(), 'kgitops-bench-controller-'));
  const repo = mkdtempSync(join(tmpdir(), 'kgitops-bench-monorepo-'));
  let controller: ChildProcess | undefined;
  try {
    await cluster.apply(appCrd() as KubeObject, { fieldManager: 'bench' });
    await cluster.apply({
      apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'bench-tenant' },
      rules: [{ apiGroups: ['apps.kruise.io'], resources: ['*'], verbs: ['*'] }, { apiGroups: [''], resources: ['configmaps', 'events'], verbs: ['*'] }],
    }, { fieldManager: 'bench' });
    initRepo(repo);
    const names = Array.from({ length: APPS }, (_, i) => `tenant-${String(i).padStart(3, '0')}`);
    const writeApp = (ns: string, version: number) => {
      const d = join(repo, 'apps', ns);
      mkdirSync(d, { recursive: true });
      writeFileSync(join(d, 'cdk8s.yaml'), 'app: npx tsx main.ts\n');
      writeFileSync(join(d, 'main.ts'), MAIN);
      writeFileSync(join(d, 'workloads.json'), JSON.stringify({ namespace: ns, workloads: Array.from({ length: 10 }, (_, i) => ({ name: `web-${i}`, image: `registry.example.com/web:${version}` })) }));
    };
    say(`declaring ${APPS} tenants, each with a ServiceAccount and an App of 10 CloneSets ...`);
    for (const ns of names) {
      writeApp(ns, 1);
      await cluster.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } }, { fieldManager: 'bench' });
      await cluster.apply({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'deployer', namespace: ns } }, { fieldManager: 'bench' });
      await cluster.apply({
        apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'deployer', namespace: ns },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'bench-tenant' }, subjects: [{ kind: 'ServiceAccount', name: 'deployer', namespace: ns }],
      }, { fieldManager: 'bench' });
    }
    git(repo, 'add', '-A');
    git(repo, 'commit', '-q', '-m', 'all tenants');
    for (const ns of names) {
      await cluster.apply({
        apiVersion: APP_API_VERSION, kind: APP_KIND, metadata: { name: 'shop', namespace: ns },
        spec: { source: { repo, path: `apps/${ns}`, interval: '1h' }, serviceAccountName: 'deployer' },
      } as unknown as KubeObject, { fieldManager: 'bench' });
    }

    const secret = 'bench-secret';
    const port = 21000 + Math.floor(Math.random() * 10000);
    const started = performance.now();
    const synths: string[] = [];
    controller = spawn(process.execPath, [join(ROOT, 'bin/kgitops.mjs'), 'controller', '--kubeconfig', cp.kubeconfigPath, '--cache-dir', cache,
      '--allow-local-repos', '--webhook-port', String(port), '--log-format', 'json'],
    { env: { ...process.env, KGITOPS_WEBHOOK_SECRET: secret }, stdio: ['ignore', 'pipe', 'pipe'] });
    // Which Apps synthesized a commit: the reconciler logs `synthesizing` with the App's key.
    for (const stream of [controller.stdout!, controller.stderr!]) {
      let buf = '';
      stream.setEncoding('utf8');
      stream.on('data', (chunk: string) => {
        buf += chunk;
        for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          if (line.includes('"synthesizing"')) synths.push(/"app":"([^"]+)"/.exec(line)?.[1] ?? '?');
        }
      });
    }
    let peakRss = 0;
    const sampler = setInterval(() => { peakRss = Math.max(peakRss, rssOf(controller!.pid!)); }, 200);
    const apps = async () => (await cluster.list(APP_API_VERSION, APP_KIND)).items as unknown as AppObject[];
    const ready = (a: AppObject) => a.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
    for (;;) {
      const list = await apps();
      const n = list.filter(ready).length;
      if (n === APPS) break;
      if (performance.now() - started > 30 * 60_000) throw new Error(`only ${n} of ${APPS} Apps Ready after 30 min`);
      await realClock.sleep(1000);
    }
    const allReady = performance.now() - started;
    say(`all ${APPS} Apps Ready in ${s(allReady)}`);

    const latencies: number[] = [];
    const resynth: number[] = [];
    for (let v = 2; v < 2 + PUSHES; v++) {
      const ns = names[(v * 37) % APPS]!;
      writeApp(ns, v);
      git(repo, 'add', '-A');
      git(repo, 'commit', '-q', '-m', `${ns} v${v}`);
      const sha = git(repo, 'rev-parse', 'HEAD');
      const before = synths.length;
      const body = JSON.stringify({ ref: 'refs/heads/main', after: sha, repository: repo });
      const sent = performance.now();
      const res = await fetch(`http://127.0.0.1:${port}/hooks/generic`, {
        method: 'POST', body, headers: { 'X-Signature-256': `sha256=${createHmac('sha256', secret).update(body).digest('hex')}` },
      });
      if (res.status !== 202) throw new Error(`webhook answered ${res.status}`);
      for (;;) {
        const a = (await cluster.get({ apiVersion: APP_API_VERSION, kind: APP_KIND, namespace: ns, name: 'shop' })) as unknown as AppObject;
        if (a?.status?.appliedCommit === sha) break;
        await realClock.sleep(50);
      }
      latencies.push(performance.now() - sent);
      // Let every other App finish with this push before the next one.
      await realClock.sleep(3000);
      resynth.push(synths.length - before);
    }
    const steadyRss = rssOf(controller.pid!);
    clearInterval(sampler);
    const lines = [
      `${APPS} Apps x 10 CloneSets (${APPS * 10} workloads), one monorepo, one controller process with its sandbox, 2 cores:`,
      `  start to every App Ready: ${s(allReady)}`,
      `  one-App commit to applied (webhook): p50 ${s(quantile(latencies, 0.5))}, p90 ${s(quantile(latencies, 0.9))} (${latencies.length} pushes)`,
      `  Apps synthesized per one-App push: ${resynth.join(', ')}`,
      `  controller RSS: peak ${Math.round(peakRss / 2 ** 20)} MiB, after the pushes ${Math.round(steadyRss / 2 ** 20)} MiB`,
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    controller?.kill('SIGTERM');
    await cp.stop();
    rmSync(cache, { recursive: true, force: true });
    rmSync(repo, { recursive: true, force: true });
  }
}

await main();

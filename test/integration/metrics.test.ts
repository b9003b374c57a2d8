/**
 * The controller's /metrics scraped by a real Prometheus, while it reconciles Apps on the real
 * apiserver: reconcile, synth and fetch histograms, API requests by verb and code, Apps by sync
 * state, release transitions and gate evaluations, the queue; and /healthz, /readyz.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { KubeCluster } from '../../engine/cluster/kube.js';
import type { KubeObject } from '../../engine/cluster/types.js';
import { realClock } from '../../engine/clock.js';
import { APP_API_VERSION, APP_KIND, appCrd } from '../../engine/controller/app-resource.js';
import { Controller } from '../../engine/controller/controller.js';
import { createLogger } from '../../engine/log.js';
import { EngineMetrics } from '../../engine/metrics/index.js';
import { startMetricsServer } from '../../engine/metrics/server.js';
import { kubeconfigPath, waitFor, withNamespace } from '../cluster/harness.js';
import { git, initRepo } from '../fixtures/git.js';
import { startPrometheus } from '../prometheus/harness.js';

const CACHE = mkdtempSync(join(tmpdir(), 'kgitops-metrics-cache-'));
afterAll(() => rmSync(CACHE, { recursive: true, force: true }));

const MAIN = `import { readFileSync } from 'node:fs';
import { ApiObject, Chart } from 'cdk8s';
import { App, CloneSet, Gate, Release, Step } from 'kruise-gitops';
const p = JSON.parse(readFileSync(new URL('./objects.json', import.meta.url), 'utf8'));
const app = new App();
const chart = new Chart(app, 'app', { namespace: p.namespace });
new ApiObject(chart, 'settings', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'settings' }, data: { v: p.image } });
new CloneSet(chart, 'web', {
  metadata: { name: 'web' }, replicas: 2,
  release: Release.steps(Step.to('50%').gate(Gate.approval()), Step.to('100%')),
  containers: [{ name: 'main', image: p.image }],
});
app.synth();
`;

async function query(url: string, q: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]> {
  const res = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(q)}`);
  const body = await res.json() as { data: { result: { metric: Record<string, string>; value: [number, string] }[] } };
  return body.data.result;
}

it('Prometheus scrapes the controller: reconciles, synths, fetches, API requests, Apps, releases and gates; /healthz and /readyz answer; notifications reach a webhook and GitHub statuses', () =>
  withNamespace(async (ns) => {
    const metrics = new EngineMetrics({ queueDepth: () => controller.queueDepth, apps: () => controller.heldApps() });
    const cluster = KubeCluster.load({ kubeconfig: kubeconfigPath(), observer: metrics.requestObserver });
    await cluster.apply(appCrd() as KubeObject, { fieldManager: 'test' });
    await waitFor(async () => cluster.resource(APP_API_VERSION, APP_KIND).then(() => true, () => { cluster.invalidateDiscovery(); return false; }), { message: 'the App CRD to be served' });
    const repo = mkdtempSync(join(tmpdir(), 'kgitops-metrics-repo-'));
    initRepo(repo);
    const commit = (image: string) => {
      mkdirSync(join(repo, 'app'), { recursive: true });
      writeFileSync(join(repo, 'app', 'cdk8s.yaml'), 'app: npx tsx main.ts\n');
      writeFileSync(join(repo, 'app', 'main.ts'), MAIN);
      writeFileSync(join(repo, 'app', 'objects.json'), JSON.stringify({ namespace: ns, image }));
      git(repo, 'add', '-A');
      git(repo, 'commit', '-q', '-m', image);
    };
    commit('nginx:1.25.0');
    const controller: Controller = new Controller({
      cluster, clock: realClock, log: createLogger({ level: 'silent' }), cacheDir: CACHE, allowLocalRepos: true, allowControllerIdentity: true, namespace: ns,
      sandbox: { unsafe: false, limits: {} }, typecheck: false, concurrency: 2, metrics,
    });
    // Notifications go to a loopback receiver: a generic webhook, and GitHub statuses with a token from a Secret.
    const received: { path: string; auth?: string; body: any }[] = [];
    const hooks = createServer((req, res) => {
      let body = '';
      req.on('data', (d) => { body += d; });
      req.on('end', () => { received.push({ path: req.url ?? '', auth: req.headers.authorization, body: JSON.parse(body) }); res.writeHead(201).end(); });
    });
    await new Promise<void>((r) => hooks.listen(0, '127.0.0.1', () => r()));
    const hooksUrl = `http://127.0.0.1:${(hooks.address() as AddressInfo).port}`;
    await cluster.apply({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'gh', namespace: ns }, stringData: { token: 'ghs_notify_token' } } as KubeObject, { fieldManager: 'test' });
    const server = await startMetricsServer({ port: 0, metrics, notReady: () => controller.notReady() });
    const prom = await startPrometheus({ scrapeTargets: [server.address] });
    let running: Promise<void> | undefined;
    try {
      const base = `http://${server.address}`;
      expect((await fetch(`${base}/healthz`)).status).toBe(200);
      const before = await fetch(`${base}/readyz`);
      expect(before.status).toBe(503);
      expect(await before.text()).toMatch(/not ready: starting/);
      expect((await fetch(`${base}/nothing`)).status).toBe(404);
      running = controller.run();
      await cluster.apply({
        apiVersion: APP_API_VERSION, kind: APP_KIND, metadata: { name: 'shop', namespace: ns },
        spec: {
          source: { repo, path: 'app', interval: '2s' },
          notifications: [
            { type: 'webhook', url: `${hooksUrl}/hook` },
            { type: 'github', repo: 'acme/shop', apiUrl: hooksUrl, secretRef: { name: 'gh' } },
          ],
        },
      } as KubeObject, { fieldManager: 'test' });
      await waitFor(async () => ((await fetch(`${base}/readyz`)).status === 200 || undefined), { timeoutMs: 30_000, message: '/readyz 200' });
      // A new image: a release starts and its approval gate is evaluated (and waits).
      await waitFor(async () => ((await cluster.get({ apiVersion: APP_API_VERSION, kind: APP_KIND, namespace: ns, name: 'shop' }))?.status?.appliedCommit ? true : undefined), { timeoutMs: 60_000, message: 'first commit applied' });
      commit('nginx:1.25.1');
      const series = async (q: string) => (await query(prom.url, q)).reduce((a, r) => a + Number(r.value[1]), 0);
      await waitFor(async () => (await series('kgitops_gate_evaluations_total{gate="approval"}')) > 0 || undefined, { timeoutMs: 60_000, intervalMs: 1000, message: 'a gate evaluation scraped' });
      expect(await series(`kgitops_reconcile_duration_seconds_count{app="${ns}/shop",result=~"Succeeded|NoChange"}`)).toBeGreaterThanOrEqual(2);
      expect(await series(`kgitops_synth_duration_seconds_count{app="${ns}/shop"}`)).toBeGreaterThanOrEqual(2);
      expect(await series(`kgitops_git_fetch_duration_seconds_count{app="${ns}/shop"}`)).toBeGreaterThanOrEqual(2);
      expect(await series('kgitops_api_requests_total{verb="patch",code="200"}')).toBeGreaterThan(0);
      expect(await series('kgitops_api_requests_total{verb="get"}')).toBeGreaterThan(0);
      // By resource, too (group/plural; discovery for the API's own paths).
      expect(await series('kgitops_api_requests_total{verb="patch",resource="apps.kruise.io/clonesets"}')).toBeGreaterThan(0);
      expect(await series('kgitops_api_requests_total{resource="discovery"}')).toBeGreaterThan(0);
      expect(await series('kgitops_release_transitions_total{reason="ReleaseStarted"}')).toBeGreaterThanOrEqual(1);
      expect(await query(prom.url, 'kgitops_queue_depth')).toHaveLength(1);
      expect(await series('kgitops_apps')).toBe(1);
      expect(await series('kgitops_process_resident_memory_bytes')).toBeGreaterThan(10 * 1024 * 1024);
      // Notifications: the applied commit and the release that started, to the webhook and as GitHub statuses.
      await waitFor(async () => (received.some((r) => r.path === '/hook' && r.body.type === 'release' && r.body.reason === 'ReleaseStarted') || undefined), { timeoutMs: 20_000, message: 'the release notification' });
      const hookTypes = received.filter((r) => r.path === '/hook').map((r) => r.body.type);
      expect(hookTypes.filter((t) => t === 'applied').length).toBeGreaterThanOrEqual(2);
      const statuses = received.filter((r) => r.path.startsWith('/repos/acme/shop/statuses/'));
      expect(statuses.length).toBeGreaterThan(0);
      expect(statuses.every((r) => r.auth === 'Bearer ghs_notify_token')).toBe(true);
      expect(statuses.map((r) => r.body.context)).toContain(`kgitops/${ns}/shop`);
      expect(statuses.map((r) => r.body.context)).toContain(`kgitops/${ns}/shop/release/${ns}/web`);
      // Bucket boundaries as declared, and the text format Prometheus parsed.
      const text = await (await fetch(`${base}/metrics`)).text();
      expect(text).toMatch(/^# TYPE kgitops_reconcile_duration_seconds histogram$/m);
      expect(text).toMatch(/kgitops_reconcile_duration_seconds_bucket\{le="0\.01",app="[^"]+\/shop",result="[A-Za-z]+"\}/);
    } finally {
      await controller.stop();
      await running?.catch(() => {});
      await prom.stop();
      await server.close();
      hooks.close();
      await cluster.apply({ apiVersion: APP_API_VERSION, kind: APP_KIND, metadata: { name: 'shop', namespace: ns, finalizers: [] } } as KubeObject, { fieldManager: 'kgitops-finalizer' }).catch(() => {});
      rmSync(repo, { recursive: true, force: true });
    }
  }), 180_000);

/**
 * A metric gate against a real Prometheus (Debian's prometheus, on loopback) scraping an
 * exporter this test serves: the release's first step is ready, the error ratio the new pods
 * "report" is too high, the gate fails, and the release pauses with the value in its reason,
 * holding every other pod on the old version. Then the ratio recovers, and `resume` finishes it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { issueCommand } from '../../engine/release/commands.js';
import { GitApp } from '../fixtures/git-app.js';
import { releaseEngine } from '../fixtures/release-engine.js';
import { waitFor, withNamespace } from '../cluster/harness.js';
import { type Exporter, type RunningPrometheus, startExporter, startPrometheus } from '../prometheus/harness.js';

const CACHE = mkdtempSync(join(tmpdir(), 'kgitops-metric-cache-'));
let exporter: Exporter;
let prometheus: RunningPrometheus;

beforeAll(async () => {
  exporter = await startExporter();
  exporter.set('web_requests_total', 1000);
  exporter.set('web_errors_total', 0);
  prometheus = await startPrometheus({ scrapeTargets: [exporter.target] });
}, 60_000);

afterAll(async () => {
  await prometheus?.stop();
  await exporter?.stop();
  rmSync(CACHE, { recursive: true, force: true });
});

const MAIN = `import { readFileSync } from 'node:fs';
import { Chart, Duration } from 'cdk8s';
import { App, CloneSet, CloneSetUpdateStrategy, Gate, Release, Step } from 'kruise-gitops';
const p = JSON.parse(readFileSync(new URL('./objects.json', import.meta.url), 'utf8'));
const app = new App();
const chart = new Chart(app, 'app', { namespace: p.namespace });
new CloneSet(chart, 'web', {
  metadata: { name: 'web' }, replicas: 4, podMetadata: { labels: { app: 'web' } },
  updateStrategy: CloneSetUpdateStrategy.reCreate({ maxUnavailable: '50%' }),
  release: Release.steps(
    Step.to('25%').gate(Gate.podsReady(), Gate.metric({
      name: 'error-ratio', prometheus: p.prometheus, query: 'sum(web_errors_total) / sum(web_requests_total)',
      successCondition: 'result < 0.05', interval: Duration.seconds(2), count: 3,
    })),
    Step.to('100%').gate(Gate.podsReady()),
  ),
  containers: [{ name: 'main', image: p.image, securityContext: { ensureNonRoot: false, readOnlyRootFilesystem: false } }],
});
app.synth();
`;

it('a failing metric gate pauses the release; after the ratio recovers, resume finishes it', () =>
  withNamespace(async (ns) => {
    const repo = new GitApp(MAIN);
    const { cluster, releases, reconciler, key, state } = releaseEngine(repo, ns, CACHE);
    try {
      repo.commit({ namespace: ns, prometheus: prometheus.url, image: 'nginx:1.25.3' });
      expect((await reconciler.reconcile()).result).toBe('Succeeded');
      await waitFor(async () => (await cluster.get(key))?.status?.readyReplicas === 4 || undefined, { timeoutMs: 120_000 });

      // The new version fails 20% of the requests.
      exporter.set('web_errors_total', 200);
      await exporter.waitForScrapes(2);
      repo.commit({ namespace: ns, prometheus: prometheus.url, image: 'nginx:1.25.4' });
      expect((await reconciler.reconcile()).result).toBe('Succeeded');
      const paused = await waitFor(async () => { const s = await state(); return s?.phase === 'Paused' ? s : undefined; }, { timeoutMs: 120_000, intervalMs: 500 });
      expect(paused.step).toBe(0);
      expect(paused.pause!.reason).toMatch(/^step 1\/2: metric error-ratio \(result < 0\.05, 3x every 2s\) failed: 1 failed measurement \(failureLimit 0\): .*0\.2/);
      const live = (await cluster.get(key))!;
      expect(live.spec.updateStrategy.paused).toBe(true);
      expect(live.status.updatedReplicas).toBe(1);
      const events = (await cluster.list('v1', 'Event', { namespace: ns })).items.filter((x) => x.reason === 'ReleasePaused');
      expect(events[0].message).toContain('error-ratio');

      // Fixed: the ratio drops; resume takes the measurements again and the release completes.
      exporter.set('web_errors_total', 10);
      exporter.set('web_requests_total', 100_000);
      await exporter.waitForScrapes(2);
      await issueCommand(cluster, key, { action: 'resume' }, Date.now());
      await waitFor(async () => (await state())?.phase === 'Completed' || undefined, { timeoutMs: 120_000, intervalMs: 500 });
      const done = (await state())!;
      expect(done.history.map((h) => h.reason)).toEqual(['ReleaseStarted', 'ReleasePaused', 'ReleaseCommandResume', 'ReleaseStepAdvanced', 'ReleaseCompleted']);
      expect((await cluster.get(key))!.status.updatedReplicas).toBe(4);
    } finally {
      releases.stop();
      reconciler.close();
      repo.remove();
    }
  }), 300_000);

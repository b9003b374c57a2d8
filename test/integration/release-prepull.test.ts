/**
 * A release step that pre-pulls images (Step.prepull) against the real apiserver with the Kruise
 * CRDs, the test playing Kruise's ImageListPullJob controller (this level runs none): the engine
 * creates the job the CRD accepts, holds the partition while the job runs, and writes the step's
 * partition once the job's status (written through its status subresource, as Kruise does) says
 * it is complete.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { GitApp } from '../fixtures/git-app.js';
import { releaseEngine } from '../fixtures/release-engine.js';
import { waitFor, withNamespace } from '../cluster/harness.js';

const CACHE = mkdtempSync(join(tmpdir(), 'kgitops-prepull-cache-'));
afterAll(() => rmSync(CACHE, { recursive: true, force: true }));

const MAIN = `import { readFileSync } from 'node:fs';
import { Chart, Duration } from 'cdk8s';
import { App, CloneSet, Gate, Release, Step } from 'kruise-gitops';
const p = JSON.parse(readFileSync(new URL('./objects.json', import.meta.url), 'utf8'));
const app = new App();
const chart = new Chart(app, 'app', { namespace: p.namespace });
new CloneSet(chart, 'web', {
  metadata: { name: 'web' }, replicas: 4, podMetadata: { labels: { app: 'web' } },
  release: Release.steps(Step.to('25%').prepull({ timeout: Duration.minutes(5), parallelism: 3 }).gate(Gate.approval()), Step.to('100%').gate(Gate.approval())),
  containers: [{ name: 'main', image: p.image }],
  initContainers: [{ name: 'init', image: 'registry.example.com/init:1' }],
});
app.synth();
`;

describe('image pre-download on a real apiserver', () => {
  it('creates the job, holds the partition while it runs, and moves it when Kruise reports the job complete', () =>
    withNamespace(async (ns) => {
      const repo = new GitApp(MAIN);
      const { cluster, releases, reconciler, key, state } = releaseEngine(repo, ns, CACHE);
      try {
        repo.commit({ namespace: ns, image: 'registry.example.com/web:1' });
        expect((await reconciler.reconcile()).result).toBe('Succeeded');
        repo.commit({ namespace: ns, image: 'registry.example.com/web:2' });
        expect((await reconciler.reconcile()).result).toBe('Succeeded');
        const started = await waitFor(async () => (await state())?.prepull, { timeoutMs: 15_000, message: 'the pre-download starting' });
        const jobKey = { apiVersion: 'apps.kruise.io/v1alpha1', kind: 'ImageListPullJob', namespace: ns, name: started.job };
        const job = (await waitFor(() => cluster.get(jobKey), { timeoutMs: 15_000, message: 'the ImageListPullJob' }))!;
        const web = (await cluster.get(key))!;
        expect(job.spec).toEqual({
          images: ['registry.example.com/init:1', 'registry.example.com/web:2'], podSelector: { matchLabels: web.spec.selector.matchLabels },
          parallelism: 3, pullPolicy: { timeoutSeconds: 300 }, imagePullPolicy: 'IfNotPresent',
          completionPolicy: { type: 'Always', activeDeadlineSeconds: 300, ttlSecondsAfterFinished: 3600 },
        });
        expect(job.metadata.ownerReferences).toEqual([{ apiVersion: 'apps.kruise.io/v1alpha1', kind: 'CloneSet', name: 'web', uid: web.metadata.uid }]);
        expect(job.metadata.managedFields?.map((m) => m.manager)).toEqual(['kgitops-release']);
        const asKruise = (status: Record<string, unknown>) => ({ apiVersion: jobKey.apiVersion, kind: jobKey.kind, metadata: { name: started.job, namespace: ns }, status }) as never;
        // Running: the hold stays, whatever else happens.
        await cluster.applyStatus(asKruise({ desired: 2, active: 2, completed: 0, succeeded: 0 }), { fieldManager: 'kruise-manager', force: true });
        await releases.evaluate(key);
        expect((await cluster.get(key))!.spec.updateStrategy.partition).toBe('100%');
        expect((await state())!.prepull!.message).toBe('pulling images: 0/2 image(s) pulled');
        // Kruise finishes the job: the step's partition (25% of 4 pods: 3 kept) goes out.
        await cluster.applyStatus(asKruise({ desired: 2, active: 0, completed: 2, succeeded: 2, completionTime: new Date().toISOString() }), { fieldManager: 'kruise-manager', force: true });
        await releases.evaluate(key);
        await waitFor(async () => ((await cluster.get(key))!.spec.updateStrategy.partition === '75%' || undefined), { timeoutMs: 15_000, message: 'the step\'s partition' });
        const s = (await state())!;
        expect(s.prepull).toMatchObject({ step: 0, job: started.job, finishedAt: expect.any(String), message: '2/2 image(s) pulled' });
        expect(s.history.map((h) => h.reason)).toEqual(['ReleaseStarted', 'ReleasePrepulling', 'ReleasePrepulled']);
        const events = (await cluster.list('v1', 'Event', { namespace: ns })).items.filter((x) => x.involvedObject.name === 'web').map((x) => x.reason);
        expect(events).toEqual(expect.arrayContaining(['ReleasePrepulling', 'ReleasePrepulled']));
      } finally {
        releases.stop();
        reconciler.close();
        repo.remove();
      }
    }), 120_000);
});

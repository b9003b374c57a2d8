/**
 * Fault injection: the engine runs as a process (`kgitops sync`) and is killed with SIGKILL at
 * random points while it drives several releases on the real kruise-manager; it is restarted at
 * once each time. A watch records every version of the workload; afterwards the invariants are
 * checked:
 *   - every release completes;
 *   - within a release the partition only moves forward;
 *   - no step is repeated or skipped (each release's history advances 0 -> 1 -> 2 once);
 *   - no gate is skipped: whenever the partition moved on, the previous step's pods were updated
 *     and ready by Kruise's status (observedGeneration current), and the bake had passed.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, expect, it } from 'vitest';
import { cloneSetPartitionKeep } from '../../dsl/arithmetic.js';
import { KubeCluster } from '../../engine/cluster/kube.js';
import type { KubeObject } from '../../engine/cluster/types.js';
import { ANNOTATION_RELEASE_STATE, parseReleaseState, type ReleaseState } from '../../engine/release/state.js';
import { GitApp } from '../fixtures/git-app.js';
import { kubeconfigPath, waitFor, withNamespace } from '../cluster/harness.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CACHE = mkdtempSync(join(tmpdir(), 'kgitops-faults-cache-'));
afterAll(() => rmSync(CACHE, { recursive: true, force: true }));

const RELEASES = 8;
const BAKE_S = 2;
const REPLICAS = 5;

const MAIN = `import { readFileSync } from 'node:fs';
import { Chart, Duration } from 'cdk8s';
import { App, CloneSet, CloneSetUpdateStrategy, Gate, Release, Step } from 'kruise-gitops';
const p = JSON.parse(readFileSync(new URL('./objects.json', import.meta.url), 'utf8'));
const app = new App();
const chart = new Chart(app, 'app', { namespace: p.namespace });
new CloneSet(chart, 'web', {
  metadata: { name: 'web' }, replicas: ${REPLICAS}, podMetadata: { labels: { app: 'web' } },
  updateStrategy: CloneSetUpdateStrategy.reCreate({ maxUnavailable: '40%' }),
  release: Release.steps(
    Step.to('20%').gate(Gate.podsReady(), Gate.bake(Duration.seconds(${BAKE_S}))),
    Step.to('60%').gate(Gate.podsReady(), Gate.bake(Duration.seconds(${BAKE_S}))),
    Step.to('100%').gate(Gate.podsReady()),
  ),
  containers: [{ name: 'main', image: p.image, securityContext: { ensureNonRoot: false, readOnlyRootFilesystem: false } }],
});
app.synth();
`;

const rand = (() => { let seed = 20261124; return () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31); })();

it(`the engine killed (SIGKILL) at random points across ${RELEASES} releases: every release completes and the invariants hold`, () =>
  withNamespace(async (ns) => {
    const cluster = KubeCluster.load({ kubeconfig: kubeconfigPath() });
    const key = { apiVersion: 'apps.kruise.io/v1alpha1', kind: 'CloneSet', namespace: ns, name: 'web' };
    const repo = new GitApp(MAIN);
    const versions: KubeObject[] = [];
    // Record every version; a watch that ends (e.g. 429 while the apiserver's cache re-initializes) starts again.
    let watching = true;
    let watch: { stop(): void } = { stop: () => {} };
    const record = async (): Promise<void> => {
      if (!watching) return;
      const rv = (await cluster.list(key.apiVersion, key.kind, { namespace: ns })).resourceVersion;
      const h = await cluster.watch(key.apiVersion, key.kind, { namespace: ns, resourceVersion: rv }, (e) => { if (e.object.metadata.name === 'web') versions.push(e.object); });
      watch = h;
      h.done.catch(() => {}).finally(() => { if (watching) setTimeout(() => void record().catch(() => {}), 500); });
    };
    await record();
    let engine: ChildProcess | undefined;
    let kills = 0;
    // Resolves once the engine has started (loaded and connected): kills are timed from there, so
    // that they land in its work, not in Node's start-up, however slow a loaded machine makes that.
    let up: Promise<void> = Promise.resolve();
    const start = () => {
      const child = engine = spawn(process.execPath, [join(ROOT, 'bin/kgitops.mjs'), 'sync', '--repo', repo.dir, '--app', 'shop', '-n', ns,
        '--kubeconfig', kubeconfigPath(), '--cache-dir', CACHE, '--interval', '1s', '--log-format', 'json'], { stdio: ['ignore', 'ignore', 'pipe'] });
      up = new Promise<void>((resolve) => {
        let seen = '';
        child.stderr!.on('data', (d: Buffer) => {
          if (seen.length < 4096) seen += d.toString();
          if (seen.includes('kgitops sync starting')) resolve();
        });
        child.once('exit', () => resolve());
        setTimeout(resolve, 60_000).unref();
      });
    };
    const stateOf = (o: KubeObject | undefined): ReleaseState | undefined => parseReleaseState(o?.metadata.annotations?.[ANNOTATION_RELEASE_STATE]);
    try {
      repo.commit({ namespace: ns, image: 'nginx:1.25.0' });
      start();
      await waitFor(async () => (await cluster.get(key))?.status?.readyReplicas === REPLICAS || undefined, { timeoutMs: 120_000 });
      const ids: string[] = [];
      for (let v = 1; v <= RELEASES; v++) {
        repo.commit({ namespace: ns, image: `nginx:1.25.${v}` });
        // Wait for this release to start, then kill the engine at random moments until it completes.
        const id = await waitFor(async () => { const s = stateOf(await cluster.get(key)); return s && !ids.includes(s.id) ? s.id : undefined; }, { timeoutMs: 60_000 });
        ids.push(id);
        const deadline = Date.now() + 150_000;
        // The first kill comes early in every release (it takes more than 2 bakes), later ones further apart.
        let delay = 500 + rand() * 3500;
        for (;;) {
          if (Date.now() > deadline) throw new Error(`release ${id} did not complete: ${JSON.stringify(stateOf(await cluster.get(key)))}`);
          const s = stateOf(await cluster.get(key));
          if (s?.id === id && s.phase === 'Completed') break;
          await up;
          await new Promise((r) => setTimeout(r, delay));
          // Later kills far enough apart, from its start, for a restarted engine to get work done.
          delay = 2500 + rand() * 4000;
          if (stateOf(await cluster.get(key))?.phase === 'Completed') break;
          engine!.kill('SIGKILL');
          await new Promise((r) => engine!.once('exit', r));
          kills++;
          start();
        }
      }
      watching = false;
      watch.stop();

      // Every release completed, with every pod on its image.
      const final = (await cluster.get(key))!;
      expect(stateOf(final)?.phase).toBe('Completed');
      expect(final.status.updatedReplicas).toBe(REPLICAS);
      expect(kills).toBeGreaterThanOrEqual(RELEASES);

      for (const id of ids) {
        const seen = versions.filter((o) => stateOf(o)?.id === id);
        // The last version we saw of this release holds its whole history.
        const history = stateOf(seen.at(-1))!.history;
        expect(stateOf(seen.at(-1))!.phase, id).toBe('Completed');
        expect(history.filter((h) => h.reason === 'ReleaseStepAdvanced').map((h) => h.step), id).toEqual([1, 2]);
        expect(history.filter((h) => h.reason === 'ReleaseCompleted'), id).toHaveLength(1);
        // Partition only moves forward (pods kept at the old version never increase).
        const kept = seen.map((o) => cloneSetPartitionKeep(o.spec.updateStrategy.partition ?? 0, REPLICAS));
        for (let i = 1; i < kept.length; i++) expect(kept[i], `${id} at version ${i}`).toBeLessThanOrEqual(kept[i - 1]);
        // No gate skipped: when the partition moved on, the previous step's pods were updated and ready.
        for (let i = 1; i < seen.length; i++) {
          const before = seen[i - 1];
          const prevPartition = before.spec.updateStrategy.partition;
          if (seen[i].spec.updateStrategy.partition === prevPartition || prevPartition === '100%') continue;
          const expected = REPLICAS - cloneSetPartitionKeep(prevPartition, REPLICAS);
          expect(before.status.observedGeneration, `${id} advanced past ${prevPartition} before Kruise observed it`).toBe(before.metadata.generation);
          expect(before.status.updatedReadyReplicas, `${id} advanced past ${prevPartition} with pods not ready`).toBeGreaterThanOrEqual(expected);
        }
        // And the bake: advances at least BAKE_S apart.
        const at = history.filter((h) => h.reason === 'ReleaseStepAdvanced').map((h) => Date.parse(h.at));
        const started = Date.parse(history[0].at);
        expect(at[0] - started).toBeGreaterThanOrEqual(BAKE_S * 1000);
        expect(at[1] - at[0]).toBeGreaterThanOrEqual(BAKE_S * 1000);
      }
      console.log(`fault injection: ${RELEASES} releases, ${kills} SIGKILLs of the engine, ${versions.length} versions checked`);
    } finally {
      engine?.kill('SIGKILL');
      repo.remove();
    }
  }), 540_000);

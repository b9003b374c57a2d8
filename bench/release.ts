/**
 * How fast a release step advances once its last gate passes (bar: within 1 s; driven by
 * watches and timers, not a poll). Runs the sync engine and the release controller against the
 * level (b) control plane (kwok nodes, the real kruise-manager), started here.
 *
 *   npx tsx bench/release.ts
 *
 * Two measurements, over several releases of a 10-pod CloneSet (10% -> 50% -> 100%):
 *   pods-ready -> next partition: from the watch event in which Kruise's status first shows the
 *     step's pods updated and ready (observedGeneration current) to the event carrying the next
 *     partition;
 *   bake end -> next partition: from the end of the bake (podsReadyAt + bake, the engine's own
 *     clock) to the event carrying the next partition.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cloneSetPartitionKeep } from '../dsl/arithmetic.js';
import { gitSource } from '../engine/cli/sync.js';
import { KubeCluster } from '../engine/cluster/kube.js';
import type { KubeObject } from '../engine/cluster/types.js';
import { realClock } from '../engine/clock.js';
import { loadConfig } from '../engine/config.js';
import { createLogger } from '../engine/log.js';
import { Reconciler } from '../engine/reconciler.js';
import { ReleaseController } from '../engine/release/controller.js';
import { ANNOTATION_RELEASE_STATE, parseReleaseState } from '../engine/release/state.js';
import { GitApp } from '../test/fixtures/git-app.js';
import { startControlPlane } from '../test/cluster/controlplane.js';

const REPLICAS = 10;
const MAIN = (gate: string) => `import { readFileSync } from 'node:fs';
import { Chart, Duration } from 'cdk8s';
import { App, CloneSet, CloneSetUpdateStrategy, Gate, Release, Step } from 'kruise-gitops';
const p = JSON.parse(readFileSync(new URL('./objects.json', import.meta.url), 'utf8'));
const app = new App();
const chart = new Chart(app, 'app', { namespace: p.namespace });
new CloneSet(chart, 'web', {
  metadata: { name: 'web' }, replicas: ${REPLICAS},
  updateStrategy: CloneSetUpdateStrategy.reCreate({ maxUnavailable: '50%' }),
  release: Release.steps(${['10%', '50%', '100%'].map((t) => `Step.to('${t}').gate(${gate})`).join(', ')}),
  containers: [{ name: 'main', image: p.image, securityContext: { ensureNonRoot: false, readOnlyRootFilesystem: false } }],
});
app.synth();
`;

const q = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))];

async function run(cluster: KubeCluster, kubeconfig: string, ns: string, gate: string, releases: number, cache: string) {
  await cluster.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } }, { fieldManager: 'bench' });
  const repo = new GitApp(MAIN(gate));
  const config = loadConfig({ repo: repo.dir, app: 'bench', namespace: ns, cacheDir: cache });
  const log = createLogger({ level: 'silent' });
  const releasesCtl = new ReleaseController({ cluster, clock: realClock, log });
  const reconciler = new Reconciler(config, cluster, gitSource(config), realClock, log, releasesCtl);
  const key = { apiVersion: 'apps.kruise.io/v1alpha1', kind: 'CloneSet', namespace: ns, name: 'web' };
  const events: { at: number; o: KubeObject }[] = [];
  const w = await cluster.watch(key.apiVersion, key.kind, { namespace: ns }, (e) => events.push({ at: performance.timeOrigin + performance.now(), o: e.object }));
  const state = async () => parseReleaseState((await cluster.get(key))?.metadata.annotations?.[ANNOTATION_RELEASE_STATE]);
  repo.commit({ namespace: ns, image: 'nginx:1.25.0' });
  await reconciler.reconcile();
  while ((await cluster.get(key))?.status?.readyReplicas !== REPLICAS) await realClock.sleep(200);
  const readyLatency: number[] = [];
  const bakeLatency: number[] = [];
  for (let v = 1; v <= releases; v++) {
    const from = events.length;
    repo.commit({ namespace: ns, image: `nginx:1.25.${v}` });
    await reconciler.reconcile();
    for (;;) {
      const s = await state();
      if (s?.phase === 'Completed' && s.revision) break;
      await realClock.sleep(200);
    }
    const seen = events.slice(from);
    // For each partition change: when did the previous step's gate (pods ready) first hold?
    for (let i = 1; i < seen.length; i++) {
      const prev = seen[i - 1].o.spec.updateStrategy.partition;
      const cur = seen[i].o.spec.updateStrategy.partition;
      if (cur === prev || prev === '100%' || prev === undefined) continue;
      const expected = REPLICAS - cloneSetPartitionKeep(prev, REPLICAS);
      const firstReady = seen.slice(0, i).find((e) => e.o.spec.updateStrategy.partition === prev
        && e.o.status?.observedGeneration === e.o.metadata.generation && (e.o.status?.updatedReadyReplicas ?? 0) >= expected);
      if (!firstReady) continue;
      const st = parseReleaseState(seen[i].o.metadata.annotations?.[ANNOTATION_RELEASE_STATE]);
      const advanced = st?.history.filter((h) => h.reason === 'ReleaseStepAdvanced').at(-1);
      if (gate.includes('bake') && advanced) {
        const prior = parseReleaseState(seen[i - 1].o.metadata.annotations?.[ANNOTATION_RELEASE_STATE]);
        if (prior?.podsReadyAt) bakeLatency.push(seen[i].at - (Date.parse(prior.podsReadyAt) + 3000));
      } else {
        readyLatency.push(seen[i].at - firstReady.at);
      }
    }
  }
  w.stop();
  releasesCtl.stop();
  reconciler.close();
  repo.remove();
  return { readyLatency, bakeLatency };
}

async function main(): Promise<void> {
  const cp = await startControlPlane({ level: 'b', log: () => {} });
  const cache = mkdtempSync(join(tmpdir(), 'kgitops-bench-release-'));
  const cluster = KubeCluster.load({ kubeconfig: cp.kubeconfigPath });
  try {
    const a = await run(cluster, cp.kubeconfigPath, 'bench-ready', 'Gate.podsReady()', 4, cache);
    const b = await run(cluster, cp.kubeconfigPath, 'bench-bake', 'Gate.podsReady(), Gate.bake(Duration.seconds(3))', 3, cache);
    const fmt = (xs: number[]) => `p50 ${Math.round(q(xs, 0.5))} ms, max ${Math.round(Math.max(...xs))} ms (${xs.length} step advances)`;
    console.log(`pods ready -> next partition: ${fmt(a.readyLatency)}`);
    console.log(`bake end   -> next partition: ${fmt(b.bakeLatency)}`);
  } finally {
    await cp.stop();
    rmSync(cache, { recursive: true, force: true });
  }
}

await main();

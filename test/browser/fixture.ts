/**
 * The controller and its dashboard over the simulated cluster (as `npm start` runs them), with a
 * repo of one App whose CloneSet releases in two steps, each waiting for an approval: what the
 * browser tests and the README's screenshot (npm run screenshot) look at.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SimCluster } from '../../engine/cluster/sim/index.js';
import type { KubeObject } from '../../engine/cluster/types.js';
import { realClock } from '../../engine/clock.js';
import { APP_API_VERSION, APP_KIND, type AppObject, appCrd } from '../../engine/controller/app-resource.js';
import { Controller } from '../../engine/controller/controller.js';
import { controllerDashboard } from '../../engine/controller/dashboard.js';
import { createLogger } from '../../engine/log.js';
import { ANNOTATION_RELEASE_STATE, parseReleaseState, type ReleaseState } from '../../engine/release/state.js';
import { localTokenAuth } from '../../engine/ui/auth.js';
import { startUiServer, type UiBackend } from '../../engine/ui/server.js';
import { git, initRepo } from '../fixtures/git.js';
import { waitFor } from '../fixtures/wait.js';

export const NS = 'shop';
export const WEB = { apiVersion: 'apps.kruise.io/v1alpha1', kind: 'CloneSet', namespace: NS, name: 'web' };

const MAIN = `import { readFileSync } from 'node:fs';
import { Chart, Duration } from 'cdk8s';
import { App, CloneSet, Gate, Release, Step } from 'kruise-gitops';
const p = JSON.parse(readFileSync(new URL('./objects.json', import.meta.url), 'utf8'));
const app = new App();
const chart = new Chart(app, 'app', { namespace: '${NS}' });
new CloneSet(chart, 'web', {
  metadata: { name: 'web' }, replicas: 4,
  release: Release.steps(
    Step.to('50%').gate(Gate.podsReady(), Gate.approval()),
    Step.to('100%').gate(Gate.podsReady(), Gate.bake(Duration.minutes(10)), Gate.approval()),
  ),
  containers: [{ name: 'main', image: p.image }],
});
app.synth();
`;

export interface DashboardFixture {
  readonly url: string;
  /** The same dashboard bound to every interface (0.0.0.0): reading needs the token too. */
  readonly exposedUrl: string;
  readonly cluster: SimCluster;
  releaseState(): Promise<ReleaseState | undefined>;
  /** Stops the controller and starts another over the same cluster and cache (the servers stay). */
  restartController(): Promise<void>;
  stop(): Promise<void>;
}

/** Starts everything, applies a first commit, then pushes a new image: the release waits for approval at step 1. */
export async function startDashboardFixture(token: string): Promise<DashboardFixture> {
  const cache = mkdtempSync(join(tmpdir(), 'kgitops-ui-cache-'));
  const repo = mkdtempSync(join(tmpdir(), 'kgitops-ui-repo-'));
  const commit = (image: string) => {
    mkdirSync(join(repo, 'app'), { recursive: true });
    writeFileSync(join(repo, 'app', 'cdk8s.yaml'), 'app: npx tsx main.ts\n');
    writeFileSync(join(repo, 'app', 'main.ts'), MAIN);
    writeFileSync(join(repo, 'app', 'objects.json'), JSON.stringify({ image }));
    git(repo, 'add', '-A');
    git(repo, 'commit', '-q', '-m', image);
  };
  initRepo(repo);
  commit('nginx:1.25.0');
  const cluster = new SimCluster({ clock: realClock, namespaces: ['default', NS] });
  await cluster.apply(appCrd() as unknown as KubeObject, { fieldManager: 'test' });
  const log = createLogger({ level: 'silent' });
  const startController = () => {
    const controller = new Controller({
      cluster, clock: realClock, log, cacheDir: cache, allowLocalRepos: true, allowControllerIdentity: true,
      sandbox: { unsafe: false, limits: {} }, typecheck: false, concurrency: 2,
    });
    return { controller, running: controller.run(), backend: controllerDashboard(controller, { cluster, clock: realClock }) };
  };
  let current = startController();
  // The servers outlive a controller restart: they ask whichever controller runs now.
  const backend: UiBackend = {
    simulated: true,
    apps: () => current.backend.apps(),
    app: (key) => current.backend.app(key),
    details: (key) => current.backend.details(key),
    commandPermission: (w) => current.backend.commandPermission(w),
    command: (key, w, c, by) => current.backend.command(key, w, c, by),
    fleetCommand: (key, c, by) => current.backend.fleetCommand(key, c, by),
    subscribe: (listener) => {
      let unsubscribe = current.backend.subscribe(listener);
      const resubscribe = () => { unsubscribe(); unsubscribe = current.backend.subscribe(listener); };
      resubscribers.add(resubscribe);
      return () => { resubscribers.delete(resubscribe); unsubscribe(); };
    },
  };
  const resubscribers = new Set<() => void>();
  const stopController = async () => {
    await current.controller.stop();
    await current.running.catch(() => {});
  };
  const restartController = async () => {
    await stopController();
    current = startController();
    for (const r of resubscribers) r();
  };
  const auth = localTokenAuth(token, { username: 'alice@example.com', groups: [], simulated: true });
  const ui = await startUiServer({ port: 0, backend, auth, log });
  const exposed = await startUiServer({ port: 0, host: '0.0.0.0', backend, auth, log });
  const releaseState = async () => parseReleaseState((await cluster.get(WEB))?.metadata.annotations?.[ANNOTATION_RELEASE_STATE]);
  const stop = async () => {
    await ui.close();
    await exposed.close();
    await stopController();
    cluster.stop();
    rmSync(cache, { recursive: true, force: true });
    rmSync(repo, { recursive: true, force: true });
  };
  try {
    await cluster.apply({ apiVersion: APP_API_VERSION, kind: APP_KIND, metadata: { name: 'shop', namespace: NS }, spec: { source: { repo, path: 'app', interval: '2s' } } } as unknown as KubeObject, { fieldManager: 'test' });
    await waitFor(async () => ((await cluster.get({ apiVersion: APP_API_VERSION, kind: APP_KIND, namespace: NS, name: 'shop' })) as unknown as AppObject | undefined)?.status?.health === 'Current' || undefined,
      { timeoutMs: 60_000, message: 'the first commit applied and its CloneSet Current' });
    commit('nginx:1.25.1');
    await waitFor(async () => {
      const s = await releaseState();
      return (s?.gates['0/0']?.status === 'Passed' && s.gates['0/1']?.status === 'Pending') || undefined;
    }, { timeoutMs: 60_000, message: 'the release waiting for approval at step 1, its pods ready' });
  } catch (e) {
    await stop();
    throw e;
  }
  return { url: ui.url, exposedUrl: exposed.url.replace('0.0.0.0', '127.0.0.1'), cluster, releaseState, restartController, stop };
}
